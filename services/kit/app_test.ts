import assert from "node:assert/strict";
import { createRoute, z } from "@hono/zod-openapi";
import { createApp } from "./app.ts";
import { requireRole } from "./auth.ts";
import { memoryLogger } from "./log.ts";
import { jsonBody, problems } from "./openapi.ts";
import { testTokenIssuer } from "./testing.ts";

async function testApp(options: { ready?: boolean } = {}) {
  const tokens = await testTokenIssuer();
  const logger = memoryLogger();
  const app = createApp({
    title: "Test",
    version: "1.0.0",
    logger,
    bodyLimitBytes: 1024,
    readiness: {
      database: () => options.ready === false ? Promise.reject(new Error("down")) : Promise.resolve(),
    },
    verifyToken: tokens.verifyToken,
  });
  app.openapi(
    createRoute({
      method: "post",
      path: "/things/{id}",
      request: {
        params: z.object({ id: z.string().regex(/^\d+$/) }),
        query: z.object({ mode: z.enum(["fast", "slow"]).optional() }),
        body: jsonBody(z.strictObject({ count: z.number().int().min(1) })),
      },
      responses: { 200: { description: "ok" }, ...problems(400) },
    }),
    (c) => c.json({ id: c.req.valid("param").id, count: c.req.valid("json").count }, 200),
  );
  app.get("/boom", () => {
    throw new Error("secret database password in this message");
  });
  app.get("/admin", requireRole("admin"), (c) => c.json({ ok: true }));
  const sign = (claims: Record<string, unknown>) => tokens.sign("user-1", claims);
  return { app, logger, sign };
}

const post = (body: string, headers: Record<string, string> = { "content-type": "application/json" }) => ({
  method: "POST",
  headers,
  body,
});

Deno.test("a schema violation answers 400 naming each offending field", async () => {
  const { app } = await testApp();
  const response = await app.request("/things/abc", post(JSON.stringify({ count: 1 })));
  assert.equal(response.status, 400);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  const problem = await response.json();
  assert.equal(problem.type, "urn:multishop:problem:validation");
  const fields = problem.errors.map((e: { field: string }) => e.field).sort();
  assert.deepEqual(fields, ["path.id"]);
  const second = await app.request("/things/1?mode=warp", post(JSON.stringify({ count: 0, extra: true })));
  assert.deepEqual((await second.json()).errors.map((e: { field: string }) => e.field), ["query.mode"]);
  const third = await app.request("/things/1", post(JSON.stringify({ count: 0, extra: true })));
  assert.deepEqual((await third.json()).errors.map((e: { field: string }) => e.field).sort(), [
    "count",
    "extra",
  ]);
});

Deno.test("valid input reaches the handler", async () => {
  const { app } = await testApp();
  const response = await app.request("/things/7", post(JSON.stringify({ count: 2 })));
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { id: "7", count: 2 });
});

Deno.test("unknown routes answer 404 and wrong methods 405 with Allow", async () => {
  const { app } = await testApp();
  const missing = await app.request("/nothing/here");
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).status, 404);
  const wrong = await app.request("/things/7", { method: "DELETE" });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "POST");
  assert.equal((await wrong.json()).title, "Method Not Allowed");
});

Deno.test("an unexpected error answers 500 without internals and is logged with its stack", async () => {
  const { app, logger } = await testApp();
  const response = await app.request("/boom", { headers: { "x-request-id": "req-123" } });
  assert.equal(response.status, 500);
  const text = await response.text();
  assert.doesNotMatch(text, /secret|password|stack|\.ts:/);
  assert.equal(JSON.parse(text).requestId, "req-123");
  const logged = logger.lines.find((line) => line.message === "unhandled error");
  assert.match(String(logged?.stack), /secret database password/);
});

Deno.test("bodies over the limit answer 413", async () => {
  const { app } = await testApp();
  const response = await app.request("/things/7", post(JSON.stringify({ count: 1, pad: "x".repeat(5000) })));
  assert.equal(response.status, 413);
  assert.equal((await response.json()).type, "urn:multishop:problem:body-too-large");
});

Deno.test("one structured log line per request, with the request id and the user id", async () => {
  const { app, logger, sign } = await testApp();
  const token = await sign({ roles: ["admin"] });
  const response = await app.request("/admin", {
    headers: { authorization: `Bearer ${token}`, "x-request-id": "abc-1" },
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-request-id"), "abc-1", "a sent request id is kept");
  const lines = logger.lines.filter((line) => line.message === "request");
  assert.equal(lines.length, 1);
  const [line] = lines;
  assert.equal(line.method, "GET");
  assert.equal(line.path, "/admin");
  assert.equal(line.status, 200);
  assert.equal(line.requestId, "abc-1");
  assert.equal(line.userId, "user-1");
  assert.equal(typeof line.durationMs, "number");

  const generated = await app.request("/nothing");
  assert.match(generated.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
});

Deno.test("a request's log line names the caller's trace; without one, a trace of its own", async () => {
  const { app, logger } = await testApp();
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  await (await app.request("/nothing", { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } }))
    .body
    ?.cancel();
  await (await app.request("/nothing")).body?.cancel();
  const [traced, untraced] = logger.lines.filter((line) => line.message === "request");
  assert.equal(traced.traceId, traceId);
  assert.match(String(untraced.traceId), /^[0-9a-f]{32}$/);
  assert.notEqual(untraced.traceId, traceId);
});

Deno.test("role guard: 401 without a token, 403 without the role, 401 for a bad token", async () => {
  const { app, sign } = await testApp();
  assert.equal((await app.request("/admin")).status, 401);
  const customer = await sign({ roles: ["customer"] });
  assert.equal(
    (await app.request("/admin", { headers: { authorization: `Bearer ${customer}` } })).status,
    403,
  );
  const bad = await app.request("/admin", { headers: { authorization: "Bearer abc.def.ghi" } });
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get("www-authenticate") ?? "", /invalid_token/);
});

Deno.test("readiness reports each dependency and answers 503 when one fails", async () => {
  const ready = await (await testApp()).app.request("/health/ready");
  assert.equal(ready.status, 200);
  const unready = await (await testApp({ ready: false })).app.request("/health/ready");
  assert.equal(unready.status, 503);
  assert.deepEqual(await unready.json(), { status: "unready", checks: { database: "failing" } });
});

Deno.test("the OpenAPI document describes the routes", async () => {
  const { app } = await testApp();
  const document = await (await app.request("/openapi.json")).json();
  assert.equal(document.openapi, "3.1.0");
  assert.ok(document.paths["/things/{id}"].post);
  assert.ok(document.components.schemas.Problem);
});

Deno.test("text a store cannot keep is refused wherever it comes in, naming the place", async () => {
  const { app } = await testApp();
  const fieldOf = async (path: string, init: RequestInit) => {
    const response = await app.request(path, init);
    assert.equal(response.status, 400, path);
    const problem = await response.json();
    assert.equal(problem.type, "urn:multishop:problem:validation");
    return problem.errors[0];
  };
  assert.deepEqual(await fieldOf("/things/1%00", post(JSON.stringify({ count: 1 }))), {
    field: "path.id",
    reason: "must not contain control characters or lone surrogates",
  });
  assert.equal((await fieldOf("/things/1?mode=%00", post(JSON.stringify({ count: 1 })))).field, "query.mode");
  assert.equal(
    (await fieldOf("/things/1", post('{"count":1,"note":{"text":"a\\u0000b"}}'))).field,
    "note.text",
  );
  assert.equal((await fieldOf("/things/1", post('{"count":1,"lone":"\\ud800"}'))).field, "lone");
  assert.equal((await fieldOf("/things/1", post('{"count":1,"bell":"\\u0007"}'))).field, "bell");
  const form = { "content-type": "application/x-www-form-urlencoded" };
  assert.equal((await fieldOf("/things/1", post("username=x%00", form))).field, "username");
});

Deno.test("line breaks and tabs pass the kit's rule; each field's schema decides on them", async () => {
  const { app } = await testApp();
  const response = await app.request("/things/1", post('{"count":1,"extra":"two\\nlines\\tand a tab"}'));
  assert.equal(response.status, 400);
  assert.deepEqual((await response.json()).errors, [{ field: "extra", reason: "is not a known field" }]);
  const valid = await app.request("/things/1", post('{\n\t"count": 3\r\n}'));
  assert.equal(valid.status, 200);
});

Deno.test("a body in a charset other than UTF-8 answers 415", async () => {
  const { app } = await testApp();
  const response = await app.request(
    "/things/1",
    post(JSON.stringify({ count: 1 }), { "content-type": "application/json; charset=utf-16" }),
  );
  assert.equal(response.status, 415);
  assert.equal((await response.json()).type, "urn:multishop:problem:unsupported-charset");
  const utf8 = await app.request(
    "/things/1",
    post(JSON.stringify({ count: 1 }), { "content-type": "application/json; charset=UTF-8" }),
  );
  assert.equal(utf8.status, 200);
});

Deno.test("OPTIONS answers what the resource allows; a trailing slash is another resource", async () => {
  const { app } = await testApp();
  const options = await app.request("/things/7", { method: "OPTIONS" });
  assert.equal(options.status, 204);
  assert.equal(options.headers.get("allow"), "POST, OPTIONS");
  const slashed = await app.request("/things/7/", post(JSON.stringify({ count: 1 })));
  assert.equal(slashed.status, 404);
  assert.equal(slashed.headers.get("allow"), null);
});

Deno.test("a streamed body over the limit answers 413 without an error in the log", async () => {
  const { app, logger } = await testApp();
  const chunks = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(`{"count":1,"pad":"${"x".repeat(2048)}"}`));
      controller.close();
    },
  });
  const response = await app.request("/things/1", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: chunks,
  });
  assert.equal(response.status, 413);
  assert.equal(logger.lines.filter((line) => line.level === "error").length, 0);
});

Deno.test("an answer to a signed-in caller is no-store unless its route chose a policy", async () => {
  const { app, sign } = await testApp();
  app.get("/public-with-policy", (c) => {
    c.header("cache-control", "public, max-age=60");
    return c.json({ ok: true });
  });
  const token = await sign({ roles: ["admin"] });
  const signedIn = await app.request("/admin", { headers: { authorization: `Bearer ${token}` } });
  assert.equal(signedIn.status, 200);
  assert.equal(signedIn.headers.get("cache-control"), "no-store");
  const chosen = await app.request("/public-with-policy", { headers: { authorization: `Bearer ${token}` } });
  assert.equal(chosen.headers.get("cache-control"), "public, max-age=60");
  const anonymous = await app.request("/public-with-policy");
  assert.equal(anonymous.headers.get("cache-control"), "public, max-age=60");
});
