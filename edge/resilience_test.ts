/** The edge in workerd against failing upstreams: retries, timeouts, the retry budget and the breaker. */
import assert from "node:assert/strict";
import { echo, type Seen, startEdgeFixture, type TestUpstream } from "./test_support.ts";

const failWith = (status: number, times = Infinity) => {
  let failures = 0;
  const ok = echo("upstream");
  return (request: Request, seen: Seen) =>
    failures++ < times ? new Response("Traceback: internals", { status }) : ok(request, seen);
};

const slow = (ms: number) => () =>
  new Promise<Response>((resolve) => setTimeout(() => resolve(Response.json({ late: true })), ms));

/** How many requests an upstream receives while `work` runs. */
async function counted(upstream: TestUpstream, work: () => Promise<void>): Promise<Seen[]> {
  const before = upstream.seen.length;
  await work();
  return upstream.seen.slice(before);
}

Deno.test("edge retries and timeouts in workerd", async (t) => {
  const fixture = await startEdgeFixture({
    // The breaker has its own test; here it must not get in the way of counting attempts.
    BREAKER_FAILURES: "1000",
    UPSTREAM_TIMEOUT_CAP_MS: "300",
  });
  const { catalog, images, identity } = fixture;
  // Signed-in requests bypass the edge cache, so every one reaches the upstream.
  const admin = { authorization: `Bearer ${await fixture.tokens.admin()}` };
  const call = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${fixture.edge.url}${path}`, {
      ...init,
      headers: { ...admin, ...init.headers },
    });
    return { response, text: await response.text() };
  };
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    call(path, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });

  try {
    await t.step("a GET that fails once with 503 is retried and succeeds", async () => {
      catalog.respond = failWith(503, 1);
      const seen = await counted(catalog, async () => {
        const { response } = await call("/v1/products/p-1");
        assert.equal(response.status, 200);
      });
      assert.deepEqual(seen.map((s) => s.path), ["/v1/products/p-1", "/v1/products/p-1"]);
    });

    await t.step("a GET answered 500 or 404 is not retried", async () => {
      for (const [status, expected] of [[500, 502], [404, 404]]) {
        catalog.respond = failWith(status);
        const seen = await counted(catalog, async () => {
          const { response, text } = await call("/v1/products/p-2");
          assert.equal(response.status, expected);
          if (expected === 502) assert.doesNotMatch(text, /Traceback/);
        });
        assert.equal(seen.length, 1, `${status}`);
      }
    });

    await t.step("a POST without Idempotency-Key is never retried", async () => {
      catalog.respond = failWith(503, 1);
      const seen = await counted(catalog, async () => {
        const { response, text } = await post("/v1/products", '{"name":"Pan"}');
        assert.equal(response.status, 503);
        assert.equal(response.headers.get("content-type"), "application/problem+json");
        assert.doesNotMatch(text, /Traceback/);
      });
      assert.equal(seen.length, 1);
    });

    await t.step("a POST with an Idempotency-Key is retried with the same body", async () => {
      catalog.respond = failWith(502, 1);
      const body = JSON.stringify({ name: "Pan", note: "é".repeat(2000) });
      const seen = await counted(catalog, async () => {
        const { response } = await post("/v1/products", body, { "idempotency-key": "key-1" });
        assert.equal(response.status, 200);
      });
      assert.equal(seen.length, 2);
      for (const attempt of seen) {
        assert.equal(attempt.method, "POST");
        assert.equal(attempt.body, body);
        assert.equal(attempt.headers.get("idempotency-key"), "key-1");
        assert.equal(attempt.headers.get("content-type"), "application/json");
      }
    });

    await t.step("a slow upstream answers 504: once for a POST, after retries for a GET", async () => {
      images.respond = slow(1_500);
      let started = performance.now();
      const single = await counted(images, async () => {
        const { response, text } = await post("/v1/images", "{}");
        assert.equal(response.status, 504);
        assert.match(text, /did not answer in time/);
      });
      assert.equal(single.length, 1);
      assert.ok(performance.now() - started < 2_000, "the edge did not wait for the upstream");

      started = performance.now();
      const retried = await counted(images, async () => {
        const { response } = await call("/v1/images/slow.png");
        assert.equal(response.status, 504);
      });
      assert.equal(retried.length, 3, "the first attempt and two retries");
      assert.ok(performance.now() - started < 4_000);
    });

    await t.step("retries stop when the upstream's retry budget is spent", async () => {
      identity.respond = failWith(503);
      const seen = await counted(identity, async () => {
        for (let i = 0; i < 20; i++) {
          const { response } = await call("/v1/users");
          assert.equal(response.status, 503);
        }
      });
      // 20 requests allow max(10, 20% of 20) = 10 retries, not the 40 that two each would make.
      assert.equal(seen.length, 30);
    });

    await t.step("an unreachable upstream answers 502", async () => {
      await images.close();
      const { response, text } = await call("/v1/images/gone.png");
      assert.equal(response.status, 502);
      assert.match(text, /cannot be reached/);
    });
  } finally {
    await fixture.close();
  }
});

Deno.test("edge circuit breaker in workerd", async (t) => {
  const cooldownMs = 1_000;
  const fixture = await startEdgeFixture({ BREAKER_FAILURES: "3", BREAKER_COOLDOWN_MS: String(cooldownMs) });
  const { catalog } = fixture;
  const admin = { authorization: `Bearer ${await fixture.tokens.admin()}` };
  // A POST without Idempotency-Key is never retried, so one request is one attempt.
  const post = async () => {
    const response = await fetch(`${fixture.edge.url}/v1/brands`, {
      method: "POST",
      headers: admin,
      body: "{}",
    });
    return { response, body: await response.json() };
  };
  const cooldown = () => new Promise((resolve) => setTimeout(resolve, cooldownMs + 100));

  try {
    await t.step("500s, however many, never open it", async () => {
      catalog.respond = failWith(500);
      const seen = await counted(catalog, async () => {
        for (let i = 0; i < 10; i++) {
          const { response, body } = await post();
          assert.equal(response.status, 502);
          assert.equal(body.type, "urn:multishop:problem:upstream-failure");
          assert.match(body.requestId, /^[0-9a-f-]{36}$/, "the problem names the request id that was logged");
        }
      });
      assert.equal(seen.length, 10, "every request reached the upstream");
    });

    await t.step("opens after 3 answers of 503 in a row; then answers 503 without calling", async () => {
      catalog.respond = failWith(503);
      const seen = await counted(catalog, async () => {
        for (let i = 0; i < 3; i++) assert.equal((await post()).response.status, 503);
      });
      assert.equal(seen.length, 3);

      catalog.respond = echo("catalog");
      const refused = await counted(catalog, async () => {
        for (let i = 0; i < 3; i++) {
          const { response, body } = await post();
          assert.equal(response.status, 503);
          assert.equal(response.headers.get("retry-after"), "1");
          assert.equal(body.type, "urn:multishop:problem:upstream-unavailable");
        }
      });
      assert.equal(refused.length, 0, "an open breaker does not call the upstream");
    });

    await t.step("after the cooldown a failed probe opens it again", async () => {
      catalog.respond = failWith(502);
      await cooldown();
      const seen = await counted(catalog, async () => {
        assert.equal((await post()).response.status, 502, "the probe");
        const { body } = await post();
        assert.equal(body.type, "urn:multishop:problem:upstream-unavailable");
      });
      assert.equal(seen.length, 1);
    });

    await t.step("after the cooldown a successful probe closes it", async () => {
      catalog.respond = echo("catalog");
      await cooldown();
      const seen = await counted(catalog, async () => {
        for (let i = 0; i < 3; i++) assert.equal((await post()).response.status, 200);
      });
      assert.equal(seen.length, 3);
    });
  } finally {
    await fixture.close();
  }
});

Deno.test("one client provoking 500s cannot make sign-in unavailable to others", async (t) => {
  // The default breaker (5 failures, 10 s); sign-in limits high enough for one client's 100 requests.
  const fixture = await startEdgeFixture({
    RATE_LIMITS: JSON.stringify({
      default: { capacity: 1000, refillPerSecond: 1 },
      login: { capacity: 1000, refillPerSecond: 1 },
    }),
  });
  const { identity } = fixture;
  // As identity answered a NUL byte in a username before it refused them: a 500 for that request only.
  identity.respond = (_request, seen) =>
    seen.body.includes("%00")
      ? new Response("Traceback: invalid byte sequence", { status: 500 })
      : Response.json({ access_token: "token", token_type: "Bearer" });
  const attacker = Deno.createHttpClient({ localAddress: "127.0.0.2" });
  const customer = Deno.createHttpClient({ localAddress: "127.0.0.3" });
  const signIn = async (client: Deno.HttpClient, username: string) => {
    const response = await fetch(`${fixture.edge.url}/oauth/token`, {
      client,
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `grant_type=password&client_id=storefront&username=${username}&password=secret`,
    });
    return { response, body: await response.json() };
  };

  try {
    await t.step("100 failing requests from one client; the other signs in throughout", async () => {
      for (let n = 1; n <= 100; n++) {
        const bad = await signIn(attacker, "x%00");
        assert.equal(bad.response.status, 502, `bad request ${n}`);
        assert.equal(bad.body.type, "urn:multishop:problem:upstream-failure");
        assert.doesNotMatch(JSON.stringify(bad.body), /Traceback/);
        if (n % 5 === 0) assert.equal((await signIn(customer, "demo")).response.status, 200, `after ${n}`);
      }
      assert.equal(identity.seen.length, 120, "the edge never stopped calling identity");
    });

    await t.step("a stopped identity still opens the breaker", async () => {
      await identity.close();
      for (let n = 1; n <= 5; n++) {
        const { response, body } = await signIn(customer, "demo");
        assert.equal(response.status, 502, `attempt ${n}`);
        assert.match(body.detail, /cannot be reached/);
      }
      const { response, body } = await signIn(customer, "demo");
      assert.equal(response.status, 503);
      assert.equal(body.type, "urn:multishop:problem:upstream-unavailable");
      assert.match(response.headers.get("retry-after") ?? "", /^([1-9]|10)$/);
    });
  } finally {
    attacker.close();
    customer.close();
    await fixture.close();
  }
});
