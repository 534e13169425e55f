/** The edge in workerd: routing, headers and the 401/403 matrix. */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { echo, startEdgeFixture } from "./test_support.ts";

Deno.test("edge routing, headers and access in workerd", async (t) => {
  // Every request here must reach an upstream, so the cache (tested in cache_test.ts) is off.
  const fixture = await startEdgeFixture({ CACHE_ENABLED: "false" });
  const { edge, tokens } = fixture;
  const call = (path: string, init: RequestInit = {}) => fetch(`${edge.url}${path}`, init);
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  try {
    await t.step("paths reach their upstream with the query kept", async () => {
      for (
        const [path, upstream] of [
          ["/v1/products?q=pan&limit=2", "catalog"],
          ["/v1/categories", "catalog"],
          ["/v1/content/sliders", "catalog"],
          ["/.well-known/jwks.json", "identity"],
          ["/v1/images/abc.png", "images"],
          ["/v1/products/7b1c2d3e/reviews?sort=best", "comment"],
          ["/v1/products/7b1c2d3e/rating", "comment"],
          ["/v1/products/7b1c2d3e", "catalog"],
        ]
      ) {
        const response = await call(path);
        assert.equal(response.status, 200, path);
        const body = await response.json();
        assert.equal(body.upstream, upstream, path);
        assert.equal(body.path, path);
      }
    });

    await t.step("unknown paths answer 404 and wrong methods 405, from the edge itself", async () => {
      const before = fixture.catalog.seen.length;
      const missing = await call("/v2/nothing");
      assert.equal(missing.status, 404);
      assert.equal(missing.headers.get("content-type"), "application/problem+json");
      await missing.body?.cancel();
      const wrong = await call("/oauth/token");
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.get("allow"), "POST, OPTIONS");
      await wrong.body?.cancel();
      assert.equal(fixture.catalog.seen.length, before);
    });

    await t.step("request id, trace context and forwarding headers reach the upstream", async () => {
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const response = await call("/v1/brands", {
        headers: {
          "x-request-id": "req-42",
          traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
          "x-forwarded-for": "203.0.113.9",
        },
      });
      assert.equal(response.headers.get("x-request-id"), "req-42");
      await response.body?.cancel();
      const seen = fixture.catalog.seen.at(-1)!;
      assert.equal(seen.headers.get("x-request-id"), "req-42");
      assert.match(
        seen.headers.get("traceparent")!,
        new RegExp(`^00-${traceId}-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$`),
      );
      assert.equal(
        seen.headers.get("x-forwarded-for"),
        "127.0.0.1",
        "the connection's address, not the claim",
      );
      assert.equal(seen.headers.get("x-forwarded-proto"), "http");
      assert.equal(seen.headers.get("x-forwarded-host"), new URL(edge.url).host);

      const fresh = await call("/v1/brands");
      assert.match(fresh.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
      await fresh.body?.cancel();
      assert.match(
        fixture.catalog.seen.at(-1)!.headers.get("traceparent")!,
        /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/,
      );
    });

    await t.step("hop-by-hop headers are stripped; security headers are added", async () => {
      const response = await call("/v1/brands");
      await response.body?.cancel();
      assert.equal(response.headers.get("x-internal"), null, "headers named by Connection are hop-by-hop");
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      assert.equal(response.headers.get("x-frame-options"), "DENY");
      assert.ok(response.headers.get("strict-transport-security"));
    });

    await t.step("CORS: preflight answered at the edge for configured origins only", async () => {
      const before = fixture.catalog.seen.length;
      const allowed = await call("/v1/products", {
        method: "OPTIONS",
        headers: {
          origin: "https://shop.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type",
        },
      });
      assert.equal(allowed.status, 204);
      assert.equal(allowed.headers.get("access-control-allow-origin"), "https://shop.example");
      assert.match(allowed.headers.get("access-control-allow-methods")!, /PATCH/);
      const stranger = await call("/v1/products", {
        method: "OPTIONS",
        headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
      });
      assert.equal(stranger.status, 204);
      assert.equal(stranger.headers.get("access-control-allow-origin"), null);
      assert.equal(fixture.catalog.seen.length, before, "preflights never reach the upstream");
      const simple = await call("/v1/products", { headers: { origin: "https://shop.example" } });
      await simple.body?.cancel();
      assert.equal(simple.headers.get("access-control-allow-origin"), "https://shop.example");
    });

    await t.step("401 and 403 per route, before the upstream is called", async () => {
      const customer = await tokens.customer();
      const admin = await tokens.admin();
      const service = await tokens.client("basket", ["catalog:read"]);
      const matrix: [string, string, string | undefined, number][] = [
        ["GET", "/v1/products", undefined, 200],
        ["POST", "/v1/products", undefined, 401],
        ["POST", "/v1/products", customer, 403],
        ["POST", "/v1/products", admin, 200],
        ["GET", "/v1/users/me", undefined, 401],
        ["GET", "/v1/users/me", customer, 200],
        ["GET", "/v1/users/me", service, 403],
        ["GET", "/v1/users", customer, 403],
        ["GET", "/v1/users", admin, 200],
        ["GET", "/v1/catalog/stats", customer, 403],
        ["DELETE", "/v1/images/x.png", customer, 403],
        ["GET", "/v1/contact", undefined, 401],
        ["POST", "/v1/contact", undefined, 200],
        ["POST", "/v1/contact/7b1c2d3e/read", undefined, 401],
        ["POST", "/v1/contact/7b1c2d3e/read", customer, 403],
        ["GET", "/v1/basket", undefined, 401],
        ["GET", "/v1/basket", service, 403],
        ["PUT", "/v1/basket/items/7b1c2d3e", customer, 200],
        ["GET", "/v1/coupons", customer, 403],
        ["POST", "/v1/coupons", admin, 200],
        ["GET", "/v1/inventory", undefined, 200],
        ["PUT", "/v1/inventory/7b1c2d3e", customer, 403],
        ["PUT", "/v1/inventory/7b1c2d3e", admin, 200],
        ["GET", "/v1/orders", undefined, 401],
        ["POST", "/v1/orders", customer, 200],
        ["GET", "/v1/addresses", service, 403],
        ["GET", "/v1/products/7b1c2d3e/reviews", undefined, 200],
        ["POST", "/v1/products/7b1c2d3e/reviews", undefined, 401],
        ["POST", "/v1/products/7b1c2d3e/reviews", customer, 200],
        ["GET", "/v1/shipments/MS7K2P9QXH4R", undefined, 200],
        ["POST", "/v1/shipments/MS7K2P9QXH4R/events", customer, 403],
        ["POST", "/v1/shipments/MS7K2P9QXH4R/events", admin, 200],
        ["GET", "/v1/shipments", customer, 403],
        ["GET", "/v1/shipments/by-order/7b1c2d3e", undefined, 401],
        ["GET", "/v1/shipments/by-order/7b1c2d3e", customer, 200],
        ["GET", "/v1/carriers", customer, 403],
        ["GET", "/v1/reviews/mine", customer, 200],
        ["DELETE", "/v1/reviews/7b1c2d3e", customer, 200],
        ["GET", "/v1/reviews?status=pending", customer, 403],
        ["POST", "/v1/reviews/7b1c2d3e/approve", customer, 403],
        ["POST", "/v1/reviews/7b1c2d3e/approve", admin, 200],
        ["GET", "/v1/reviews/stats", customer, 403],
        ["GET", "/v1/admin/dashboard/events", customer, 403],
        ["GET", "/v1/admin/dashboard", admin, 200],
        ["GET", "/v1/messages/inbox", undefined, 401],
        ["POST", "/v1/messages", customer, 200],
        ["GET", "/v1/messages/stats", customer, 403],
        ["GET", "/v1/messages/stats", admin, 200],
      ];
      const { upstreams } = fixture;
      for (const [method, path, token, status] of matrix) {
        const before = upstreams.reduce((sum, upstream) => sum + upstream.seen.length, 0);
        const response = await call(path, { method, headers: token ? bearer(token) : {} });
        await response.body?.cancel();
        assert.equal(response.status, status, `${method} ${path} as ${token ? "someone" : "nobody"}`);
        const after = upstreams.reduce((sum, upstream) => sum + upstream.seen.length, 0);
        assert.equal(after - before, status === 200 ? 1 : 0, `${method} ${path}: upstream calls`);
      }
      const forwarded = fixture.catalog.seen.findLast((seen) =>
        seen.method === "POST" && seen.path === "/v1/products"
      )!;
      assert.equal(
        forwarded.headers.get("authorization"),
        `Bearer ${admin}`,
        "the token is passed on for the service to verify again",
      );
    });

    await t.step(
      "tokens with a wrong algorithm, alg none, wrong audience, expired or an unknown key are refused",
      async () => {
        const good = await tokens.customer();
        const [, payload] = good.split(".");
        const encode = (value: unknown) =>
          btoa(JSON.stringify(value)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
        const strangerKey = await generateKeyPair("ES256");
        const hmacKey = new TextEncoder().encode(
          JSON.stringify(await exportJWK((await generateKeyPair("ES256")).publicKey)),
        );
        const claims = (overrides: Record<string, unknown>) =>
          new SignJWT({ roles: ["customer"], ...overrides }).setIssuer(tokens.issuer).setAudience(
            tokens.audience,
          )
            .setSubject("user-1").setIssuedAt().setJti(crypto.randomUUID());
        const refused: [string, string][] = [
          ["alg none", `${encode({ alg: "none", typ: "JWT" })}.${payload}.`],
          [
            "HS256",
            await claims({}).setProtectedHeader({ alg: "HS256", kid: "test-key" }).setExpirationTime("5m")
              .sign(hmacKey),
          ],
          [
            "wrong audience",
            await claims({}).setAudience("someone-else").setProtectedHeader({ alg: "ES256", kid: "test-key" })
              .setExpirationTime("5m").sign(strangerKey.privateKey),
          ],
          [
            "unknown key",
            await claims({}).setProtectedHeader({ alg: "ES256", kid: "stranger" }).setExpirationTime("5m")
              .sign(strangerKey.privateKey),
          ],
          [
            "expired",
            await tokens.sign("user-1", { roles: ["customer"], exp: Math.floor(Date.now() / 1000) - 60 }),
          ],
          [
            "wrong audience, right key",
            await tokens.sign("user-1", { roles: ["customer"], aud: "someone-else" }),
          ],
          [
            "not yet valid",
            await tokens.sign("user-1", { roles: ["customer"], nbf: Math.floor(Date.now() / 1000) + 600 }),
          ],
        ];
        for (const [name, token] of refused) {
          const response = await call("/v1/users/me", { headers: bearer(token) });
          assert.equal(response.status, 401, name);
          assert.match(response.headers.get("www-authenticate") ?? "", /invalid_token/, name);
          await response.body?.cancel();
        }
        const ok = await call("/v1/users/me", { headers: bearer(good) });
        assert.equal(ok.status, 200);
        await ok.body?.cancel();
      },
    );

    await t.step("bodies larger than the limit are refused at the edge; others stream through", async () => {
      const before = fixture.catalog.seen.length;
      const admin = await tokens.admin();
      const big = await call("/v1/products", {
        method: "POST",
        headers: { ...bearer(admin), "content-type": "application/json" },
        body: "x".repeat(7 * 1024 * 1024),
      });
      assert.equal(big.status, 413);
      await big.body?.cancel();
      assert.equal(fixture.catalog.seen.length, before);
      const body = JSON.stringify({ name: "Pan", note: "é".repeat(1000) });
      const ok = await call("/v1/products", {
        method: "POST",
        headers: { ...bearer(admin), "content-type": "application/json" },
        body,
      });
      await ok.body?.cancel();
      assert.equal(fixture.catalog.seen.at(-1)!.body, body);
    });

    await t.step("upstream errors never leak internals", async () => {
      fixture.catalog.respond = () => new Response("Traceback: secret at db.py line 3", { status: 500 });
      const response = await call("/v1/brands");
      fixture.catalog.respond = (await import("./test_support.ts")).echo("catalog");
      const text = await response.text();
      assert.equal(response.status, 502);
      assert.doesNotMatch(text, /Traceback|secret/);
    });
    await t.step("OPTIONS without a preflight answers 204 with the methods the document lists", async () => {
      const before = fixture.catalog.seen.length;
      for (
        const [path, allow] of [
          ["/v1/products", "GET, HEAD, POST, OPTIONS"],
          ["/v1/products/p-1", "GET, HEAD, PATCH, DELETE, OPTIONS"],
          ["/v1/users/count", "GET, HEAD, OPTIONS"],
          ["/oauth/token", "POST, OPTIONS"],
          ["/healthz", "GET, HEAD, OPTIONS"],
        ]
      ) {
        const response = await call(path, { method: "OPTIONS" });
        assert.equal(response.status, 204, path);
        assert.equal(response.headers.get("allow"), allow, path);
        await response.body?.cancel();
      }
      const unknown = await call("/v2/nothing", { method: "OPTIONS" });
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
      const wrong = await call("/healthz", { method: "POST" });
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.get("allow"), "GET, HEAD, OPTIONS");
      await wrong.body?.cancel();
      assert.equal(fixture.catalog.seen.length, before, "answered at the edge");
    });

    await t.step(
      "refused before its body is read, a request still gets its answer, never a reset",
      async () => {
        const body = new TextEncoder().encode(JSON.stringify({ name: "x".repeat(2_000) }));
        // As a browser or curl sends it: the head first, the body a moment later.
        const slowBody = () =>
          new ReadableStream<Uint8Array>({
            async start(controller) {
              await new Promise((resolve) => setTimeout(resolve, 5));
              controller.enqueue(body);
              controller.close();
            },
          });
        const statuses = new Map<number, number>();
        for (let round = 0; round < 40; round++) {
          await Promise.all(Array.from({ length: 8 }, async () => {
            const response = await call("/v1/categories", {
              method: "POST",
              headers: { "content-type": "application/json", "content-length": String(body.length) },
              body: slowBody(),
            });
            await response.body?.cancel();
            statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          }));
        }
        assert.deepEqual([...statuses], [[401, 320]]);
      },
    );

    await t.step(
      "TRACE answers 405 with Allow from the edge itself",
      async () => {
        const { hostname, port } = new URL(fixture.edge.url);
        const connection = await Deno.connect({ hostname, port: Number(port) });
        await connection.write(
          new TextEncoder().encode(
            `TRACE /v1/products HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`,
          ),
        );
        // workerd keeps the connection a few seconds after a "Connection: close" answer, so the answer
        // is read by its Content-Length, as clients do.
        const answer = await readOneAnswer(connection);
        assert.match(answer, /^HTTP\/1\.1 405 /);
        assert.match(answer, /\r\nallow: GET, HEAD, POST, OPTIONS\r\n/i);
        assert.match(answer, /application\/problem\+json/);
      },
    );

    await t.step("a path with a trailing slash is no resource, and the problem says which is", async () => {
      const before = fixture.catalog.seen.length;
      for (const path of ["/v1/products/", "/v1/products//p-1", "/oauth/token/", "/healthz/"]) {
        const response = await call(path);
        assert.equal(response.status, 404, path);
        assert.equal(response.headers.get("content-type"), "application/problem+json");
        const problem = await response.json();
        if (path.endsWith("/")) assert.match(problem.detail, new RegExp(`try ${path.slice(0, -1)}$`));
      }
      assert.equal(fixture.catalog.seen.length, before);
    });

    await t.step("over-long request headers answer 431 with a problem document", async () => {
      const response = await call("/v1/brands", { headers: { "x-long": "a".repeat(40_000) } });
      assert.equal(response.status, 431);
      assert.equal(response.headers.get("content-type"), "application/problem+json");
      assert.equal((await response.json()).type, "urn:multishop:problem:headers-too-large");
      const fits = await call("/v1/brands", { headers: { "x-long": "a".repeat(16_000) } });
      assert.equal(fits.status, 200);
      await fits.body?.cancel();
    });

    await t.step("personal answers without Cache-Control get no-store", async () => {
      const customer = bearer(await tokens.customer());
      fixture.identity.respond = () => Response.json({ id: "u-1" });
      try {
        const personal = await call("/v1/users/me", { headers: customer });
        assert.equal(personal.status, 200);
        assert.equal(personal.headers.get("cache-control"), "no-store");
        await personal.body?.cancel();
        const anonymous = await call("/.well-known/jwks.json");
        assert.equal(anonymous.headers.get("cache-control"), null, "an anonymous answer is left as it is");
        await anonymous.body?.cancel();
      } finally {
        fixture.identity.respond = echo("identity");
      }
      // An upstream that says how its answer may be cached is believed.
      const listed = await call("/v1/brands", { headers: customer });
      assert.equal(listed.headers.get("cache-control"), "public, max-age=60, s-maxage=300");
      await listed.body?.cancel();
    });

    await t.step("uploads with Expect: 100-continue go through, as curl sends them", async () => {
      const file = await Deno.makeTempFile({ suffix: ".png" });
      await Deno.writeFile(file, new Uint8Array(2 * 1024 * 1024).fill(7));
      const admin = await tokens.admin();
      // The edge's address is workerd's own socket: the Worker itself must not pass Expect on.
      try {
        const before = fixture.images.seen.length;
        const curl = await new Deno.Command("curl", {
          args: [
            ...["--silent", "--show-error", "--output", "/dev/null", "--write-out", "%{http_code}"],
            ...["--header", `authorization: Bearer ${admin}`, "--header", "expect: 100-continue"],
            ...["--form", `file=@${file}`, `${edge.url}/v1/images`],
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(new TextDecoder().decode(curl.stdout), "200", new TextDecoder().decode(curl.stderr));
        const seen = fixture.images.seen.slice(before);
        assert.equal(seen.length, 1);
        assert.equal(seen[0].method, "POST");
        assert.equal(seen[0].headers.get("expect"), null);
        assert.ok(seen[0].body.length > 2 * 1024 * 1024, "the whole body arrived");
      } finally {
        await Deno.remove(file);
      }
    });
  } finally {
    await fixture.close();
  }
});

/** Reads one HTTP/1.1 answer, its head and as many body bytes as its Content-Length says, then closes. */
async function readOneAnswer(connection: Deno.Conn): Promise<string> {
  const reader = connection.readable.getReader();
  let text = "";
  try {
    for (;;) {
      const headEnd = text.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: (\d+)\r\n/i.exec(text)?.[1];
      if (headEnd >= 0 && length !== undefined && text.length >= headEnd + 4 + Number(length)) return text;
      const { done, value } = await reader.read();
      if (done) return text;
      text += new TextDecoder().decode(value);
    }
  } finally {
    await reader.cancel();
  }
}
