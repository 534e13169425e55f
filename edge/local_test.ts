import assert from "node:assert/strict";
import process from "node:process";
import { startLocalEdge } from "./local.ts";

Deno.test("running the edge locally leaves SIGINT and SIGTERM to the caller's graceful shutdown", async () => {
  const before = ["SIGINT", "SIGTERM"].map((signal) => process.listenerCount(signal));
  const edge = await startLocalEdge({});
  try {
    assert.deepEqual(["SIGINT", "SIGTERM"].map((signal) => process.listenerCount(signal)), before);
    const health = await fetch(`${edge.url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    await edge.close();
  }
});
