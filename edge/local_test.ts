import assert from "node:assert/strict";
import { startLocalEdge } from "./local.ts";

Deno.test("the local edge is workerd's own socket, and closing it stops workerd", async () => {
  const edge = await startLocalEdge({});
  try {
    const health = await fetch(`${edge.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
    const command = await Deno.readTextFile(`/proc/${edge.pid}/cmdline`);
    assert.match(command, /workerd/);
  } finally {
    await edge.close();
  }
  await assert.rejects(Deno.stat(`/proc/${edge.pid}`), Deno.errors.NotFound);
  await assert.rejects(fetch(`${edge.url}/healthz`), TypeError);
});

Deno.test("a local edge without inspection keeps its state to itself", async () => {
  const edge = await startLocalEdge({});
  try {
    await assert.rejects(edge.cache.match("https://edge.internal/anything"), /inspection: true/);
    assert.throws(() => edge.durableObject("RATE_LIMITER", "shard-0"), /inspection: true/);
  } finally {
    await edge.close();
  }
});
