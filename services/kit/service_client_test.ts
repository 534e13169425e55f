import assert from "node:assert/strict";
import { memoryLogger } from "./log.ts";
import { createServiceClient, ServiceUnavailableError } from "./service_client.ts";

/** A token endpoint that counts the tokens it gives out, and an upstream whose answers a test scripts. */
function servers() {
  let tokensIssued = 0;
  const identity = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const form = new URLSearchParams(await request.text());
    assert.equal(request.headers.get("authorization"), `Basic ${btoa("basket:secret")}`);
    assert.equal(form.get("grant_type"), "client_credentials");
    tokensIssued++;
    return Response.json({ access_token: `token-${tokensIssued}`, token_type: "Bearer", expires_in: 900 });
  });
  const seen: { method: string; authorization: string | null }[] = [];
  let script: number[] = [];
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    await request.body?.cancel();
    seen.push({ method: request.method, authorization: request.headers.get("authorization") });
    const status = script.shift() ?? 200;
    return new Response(status === 200 ? JSON.stringify({ ok: true }) : "internal detail", { status });
  });
  const client = createServiceClient({
    tokenUrl: `http://127.0.0.1:${identity.addr.port}/oauth/token`,
    clientId: "basket",
    clientSecret: "secret",
    scopes: ["catalog:read"],
    logger: memoryLogger(),
    timeoutMs: 500,
  });
  return {
    client,
    url: `http://127.0.0.1:${upstream.addr.port}/thing`,
    seen,
    tokensIssued: () => tokensIssued,
    answer: (...statuses: number[]) => (script = statuses),
    close: () => Promise.all([identity.shutdown(), upstream.shutdown()]),
  };
}

Deno.test("a GET is retried through transient failures, with one cached token", async () => {
  const s = servers();
  try {
    s.answer(503, 502, 200);
    const response = await s.client.request(s.url);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ok: true });
    assert.equal(s.seen.length, 3);
    assert.ok(s.seen.every((request) => request.authorization === "Bearer token-1"));
    await (await s.client.request(s.url)).body?.cancel();
    assert.equal(s.tokensIssued(), 1, "the token is reused");
  } finally {
    await s.close();
  }
});

Deno.test("a POST is tried once; other statuses are answered, not retried", async () => {
  const s = servers();
  try {
    s.answer(503);
    await assert.rejects(s.client.request(s.url, { method: "POST", body: "{}" }), ServiceUnavailableError);
    assert.equal(s.seen.length, 1);
    s.answer(404);
    const notFound = await s.client.request(s.url);
    assert.equal(notFound.status, 404);
    await notFound.body?.cancel();
    assert.equal(s.seen.length, 2);
  } finally {
    await s.close();
  }
});

Deno.test("a refused token is renewed once", async () => {
  const s = servers();
  try {
    s.answer(401, 200);
    const response = await s.client.request(s.url);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.deepEqual(s.seen.map((r) => r.authorization), ["Bearer token-1", "Bearer token-2"]);
  } finally {
    await s.close();
  }
});

Deno.test("an unreachable service, after the retries, is a ServiceUnavailableError", async () => {
  const s = servers();
  await s.close();
  await assert.rejects(s.client.request(s.url), ServiceUnavailableError);
});
