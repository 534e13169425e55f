/**
 * Rate limiting in workerd: the token buckets behind every route, their headers and their keys, the
 * leases that decide the general policies inside the isolate, and the alarms that delete refilled
 * buckets. A client is its connection's address (workerd gives it to the Worker; no header a
 * client sends counts), so the tests act as several clients by connecting from several loopback
 * addresses.
 */
import assert from "node:assert/strict";
import type { LocalEdge } from "./local.ts";
import {
  bucketName,
  bucketStorageKey,
  shardCount,
  type ShardInspection,
  shardName,
  type StoredBucket,
} from "./src/ratelimit.ts";
import { startEdgeFixture } from "./test_support.ts";

/** Connections from their own loopback addresses (127.0.0.0/8 is all loopback on Linux). */
function clientsFrom() {
  const opened: Deno.HttpClient[] = [];
  return {
    connect(localAddress: string): Deno.HttpClient {
      const client = Deno.createHttpClient({ localAddress });
      opened.push(client);
      return client;
    },
    closeAll: () => opened.forEach((client) => client.close()),
  };
}

// Slow refills so that nothing comes back during a test, except contact, which refills within 50 ms for
// the refill step.
const smallLimits = {
  default: { capacity: 3, refillPerSecond: 0.0001 },
  authenticated: { capacity: 4, refillPerSecond: 0.0001 },
  login: { capacity: 2, refillPerSecond: 0.0001 },
  contact: { capacity: 1, refillPerSecond: 20 },
};

const problemType = "urn:multishop:problem:rate-limited";

/** What a shard object holds, asked through the edge's inspection socket. */
async function inspectShard(edge: LocalEdge, shard: string): Promise<ShardInspection> {
  const response = await edge.durableObject("RATE_LIMITER", shard).fetch("https://rate-limiter/inspect");
  assert.equal(response.status, 200);
  return await response.json() as ShardInspection;
}

/** The takes a policy and key's bucket answered since its shard loaded it, and what the shard stores of it. */
async function inspectBucket(
  edge: LocalEdge,
  policy: string,
  key: string,
): Promise<{ takes: number; stored: StoredBucket | undefined }> {
  const name = bucketName(policy, key);
  const { held, stored } = await inspectShard(edge, shardName(name));
  return {
    takes: held[name]?.takes ?? 0,
    stored: stored[bucketStorageKey(name)] as StoredBucket | undefined,
  };
}

Deno.test("rate limits in workerd", async (t) => {
  const fixture = await startEdgeFixture({ RATE_LIMITS: JSON.stringify(smallLimits) });
  const { edge, tokens } = fixture;
  const clients = clientsFrom();
  let count = 0;
  /** A client with an address of its own, so that each step starts with full buckets. */
  const newClient = () => clients.connect(`127.0.1.${++count}`);
  const call = async (path: string, { ip, token, method = "GET" }: {
    ip: Deno.HttpClient;
    token?: string;
    method?: string;
  }) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    const body = method === "GET" ? undefined : "{}";
    if (body) headers["content-type"] = "application/json";
    const response = await fetch(`${edge.url}${path}`, { client: ip, method, headers, body });
    await response.body?.cancel();
    return response;
  };
  const upstreamCalls = () => fixture.identity.seen.length + fixture.catalog.seen.length;

  try {
    await t.step("the call after the quota is refused at the edge with 429 and the headers", async () => {
      const ip = newClient();
      for (let n = 1; n <= 3; n++) {
        const response = await call(`/v1/products?n=${n}`, { ip });
        assert.equal(response.status, 200, `call ${n}`);
        assert.equal(response.headers.get("ratelimit-policy"), '"default";q=3;w=30000');
        assert.equal(response.headers.get("ratelimit"), `"default";r=${3 - n};t=${n * 10_000}`);
        assert.equal(response.headers.get("retry-after"), null);
      }
      const before = upstreamCalls();
      const refused = await fetch(`${edge.url}/v1/products?n=4`, { client: ip });
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get("content-type"), "application/problem+json");
      assert.equal(refused.headers.get("retry-after"), "10000");
      assert.equal(refused.headers.get("ratelimit-policy"), '"default";q=3;w=30000');
      assert.equal(refused.headers.get("ratelimit"), '"default";r=0;t=30000');
      const problem = await refused.json();
      assert.equal(problem.type, problemType);
      assert.equal(problem.status, 429);
      assert.equal(problem.instance, "/v1/products");
      assert.equal(upstreamCalls(), before, "the upstream never saw the refused call");
    });

    await t.step("concurrent calls from one client never get more than the quota", async () => {
      const ip = newClient();
      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, n) => call(`/v1/brands?concurrent=${n}`, { ip })),
      );
      const statuses = responses.map((response) => response.status).sort();
      assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    });

    await t.step("successful answers of every limited route carry the RateLimit headers", async () => {
      const tokenFor = { anonymous: undefined, customer: tokens.customer, admin: tokens.admin };
      const cases: [method: string, path: string, caller: keyof typeof tokenFor, policy: string][] = [
        ["GET", "/v1/products", "anonymous", "default"],
        ["GET", "/v1/products/42", "anonymous", "default"],
        ["GET", "/v1/categories", "anonymous", "default"],
        ["GET", "/v1/brands", "anonymous", "default"],
        ["GET", "/v1/content/sliders", "anonymous", "default"],
        ["GET", "/v1/images/a.png", "anonymous", "default"],
        ["GET", "/.well-known/jwks.json", "anonymous", "default"],
        ["GET", "/v1/products", "customer", "authenticated"],
        ["GET", "/v1/users/me", "customer", "authenticated"],
        ["GET", "/v1/users", "admin", "authenticated"],
        ["POST", "/v1/products", "admin", "authenticated"],
        ["GET", "/v1/catalog/stats", "admin", "authenticated"],
        ["POST", "/oauth/token", "anonymous", "login"],
        ["POST", "/oauth/revoke", "anonymous", "login"],
        ["POST", "/v1/auth/register", "anonymous", "login"],
        ["POST", "/v1/contact", "anonymous", "contact"],
      ];
      for (const [method, path, caller, policy] of cases) {
        // Twice, so that a public GET answered from the cache shows the headers too.
        for (const attempt of ["first", "second"]) {
          const response = await call(path, { ip: newClient(), token: await tokenFor[caller]?.(), method });
          const what = `${attempt} ${method} ${path} as ${caller}`;
          assert.equal(response.status, 200, what);
          assert.match(
            response.headers.get("ratelimit-policy") ?? "",
            new RegExp(`^"${policy}";q=\\d+;w=\\d+$`),
            what,
          );
          assert.match(
            response.headers.get("ratelimit") ?? "",
            new RegExp(`^"${policy}";r=\\d+;t=\\d+$`),
            what,
          );
        }
      }
    });

    await t.step("two client addresses do not share a bucket", async () => {
      const [first, second] = [newClient(), newClient()];
      for (let n = 0; n < 3; n++) assert.equal((await call("/v1/brands", { ip: first })).status, 200);
      assert.equal((await call("/v1/brands", { ip: first })).status, 429);
      assert.equal((await call("/v1/brands", { ip: second })).status, 200);
    });

    await t.step("two users do not share a bucket, nor a user and their address", async () => {
      const ip = newClient();
      const [alice, bob] = [await tokens.customer("alice"), await tokens.customer("bob")];
      for (let n = 0; n < 4; n++) {
        assert.equal((await call("/v1/users/me", { ip, token: alice })).status, 200);
      }
      const refused = await call("/v1/users/me", { ip, token: alice });
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get("ratelimit-policy"), '"authenticated";q=4;w=40000');
      const aliceAgain = await call("/v1/users/me", { ip: newClient(), token: alice });
      assert.equal(aliceAgain.status, 429, "a user's bucket follows them to another address");
      assert.equal((await call("/v1/users/me", { ip, token: bob })).status, 200, "another user");
      assert.equal((await call("/v1/brands", { ip })).status, 200, "the address itself, anonymous");
    });

    await t.step("sign-in counts per address even when a Bearer token is sent", async () => {
      const ip = newClient();
      const [alice, bob] = [await tokens.customer("alice-login"), await tokens.customer("bob-login")];
      assert.equal((await call("/oauth/token", { ip, token: alice, method: "POST" })).status, 200);
      assert.equal((await call("/oauth/token", { ip, token: bob, method: "POST" })).status, 200);
      const before = fixture.identity.seen.length;
      const refused = await call("/oauth/token", { ip, method: "POST" });
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get("ratelimit-policy"), '"login";q=2;w=20000');
      assert.equal(fixture.identity.seen.length, before);
      assert.equal(
        (await call("/oauth/token", { ip: newClient(), token: alice, method: "POST" })).status,
        200,
        "the same user from another address",
      );
    });

    await t.step("the bucket refills with time", async () => {
      const ip = newClient();
      // One token per 50 ms: calls in a row soon find the bucket empty, however slow the machine.
      let refused: Response | undefined;
      for (let n = 0; n < 20 && !refused; n++) {
        const response = await call("/v1/contact", { ip, method: "POST" });
        if (response.status === 429) refused = response;
        else assert.equal(response.status, 200);
      }
      assert.ok(refused, "twenty calls in a row were never refused");
      assert.equal(refused.headers.get("retry-after"), "1", "whole seconds, at least one");
      assert.equal(refused.headers.get("ratelimit-policy"), '"contact";q=1;w=1');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const refilled = await call("/v1/contact", { ip, method: "POST" });
      assert.equal(refilled.status, 200);
      assert.equal(refilled.headers.get("ratelimit"), '"contact";r=0;t=1');
    });
  } finally {
    clients.closeAll();
    await fixture.close();
  }
});

Deno.test("sign-in limits hold against addresses a client claims for itself", async (t) => {
  const fixture = await startEdgeFixture();
  const clients = clientsFrom();
  let claimed = 0;
  const signIn = (client: Deno.HttpClient, headers: Record<string, string> = {}) =>
    fetch(`${fixture.edge.url}/oauth/token`, {
      client,
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: "grant_type=password&client_id=storefront&username=demo&password=wrong",
    });
  /** Ten sign-ins pass, the eleventh is refused by the edge. */
  const exhaust = async (client: Deno.HttpClient, claims: () => Record<string, string> = () => ({})) => {
    for (let n = 1; n <= 10; n++) {
      const response = await signIn(client, claims());
      await response.body?.cancel();
      assert.equal(response.status, 200, `sign-in ${n}`);
    }
    const before = fixture.identity.seen.length;
    const refused = await signIn(client, claims());
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("ratelimit-policy"), '"login";q=10;w=60');
    assert.match(refused.headers.get("retry-after") ?? "", /^[1-6]$/, "a token comes back every 6 seconds");
    assert.equal((await refused.json()).type, problemType);
    assert.equal(fixture.identity.seen.length, before, "identity never saw the 11th");
  };

  try {
    await t.step("the 11th sign-in from one connection address is refused whatever it claims", async () => {
      const spoofer = clients.connect("127.0.0.2");
      await exhaust(spoofer, () => {
        const address = `198.51.100.${++claimed}`;
        return { "cf-connecting-ip": address, "x-forwarded-for": address, "x-real-ip": address };
      });
      const forwarded = fixture.identity.seen.at(-1)!.headers.get("x-forwarded-for");
      assert.equal(forwarded, "127.0.0.2", "upstreams are told the address the edge trusts");
    });

    await t.step("a client at another address has a bucket of its own", async () => {
      await exhaust(clients.connect("127.0.0.3"));
    });
  } finally {
    clients.closeAll();
    await fixture.close();
  }
});

Deno.test("TRUSTED_CLIENT_IP_HEADER: the address the operator's proxy writes is the client's", async () => {
  const fixture = await startEdgeFixture({ TRUSTED_CLIENT_IP_HEADER: "X-Real-IP" });
  const signIn = async (headers: Record<string, string>) => {
    const response = await fetch(`${fixture.edge.url}/oauth/token`, { method: "POST", headers, body: "" });
    await response.body?.cancel();
    return response.status;
  };
  try {
    for (let n = 1; n <= 10; n++) {
      assert.equal(await signIn({ "x-real-ip": "203.0.113.1" }), 200, `sign-in ${n}`);
    }
    assert.equal(await signIn({ "x-real-ip": "203.0.113.1" }), 429);
    assert.equal(await signIn({ "x-real-ip": "203.0.113.2" }), 200, "another client behind the same proxy");
    assert.equal(fixture.identity.seen.at(-1)!.headers.get("x-forwarded-for"), "203.0.113.2");
    // A proxy that appends to the header (as to X-Forwarded-For) adds the address it saw last.
    assert.equal(await signIn({ "x-real-ip": "203.0.113.2, 203.0.113.1" }), 429);
    // Without the header the request did not come through the proxy: the connection is the client.
    assert.equal(await signIn({}), 200);
    assert.equal(fixture.identity.seen.at(-1)!.headers.get("x-forwarded-for"), "127.0.0.1");
  } finally {
    await fixture.close();
  }
});

Deno.test("the general policies decide in the isolate from leased tokens", async (t) => {
  // A lease is a tenth of the bucket: 100 tokens of the default policy, 2 of the authenticated one.
  const limits = {
    default: { capacity: 1000, refillPerSecond: 0.0001 },
    authenticated: { capacity: 20, refillPerSecond: 0.0001 },
    login: { capacity: 3, refillPerSecond: 0.0001 },
    contact: { capacity: 1, refillPerSecond: 0.0001 },
  };
  const fixture = await startEdgeFixture({ RATE_LIMITS: JSON.stringify(limits) });
  const { edge, tokens } = fixture;
  const clients = clientsFrom();
  const get = async (path: string, client: Deno.HttpClient, headers: Record<string, string> = {}) => {
    const response = await fetch(`${edge.url}${path}`, { client, headers });
    await response.body?.cancel();
    return response;
  };

  try {
    await t.step("cached GETs in the steady state make no call to the bucket object", async () => {
      const client = clients.connect("127.0.2.1");
      const first = await get("/v1/products?limit=20", client);
      assert.equal(first.status, 200);
      assert.equal(
        (await inspectBucket(edge, "default", "ip:127.0.2.1")).takes,
        1,
        "the first request leases",
      );
      for (let n = 1; n <= 50; n++) {
        const response = await get("/v1/products?limit=20", client);
        assert.equal(response.status, 200, `request ${n}`);
        assert.equal(response.headers.get("ratelimit"), `"default";r=${999 - n};t=${(n + 1) * 10_000}`);
      }
      const bucket = await inspectBucket(edge, "default", "ip:127.0.2.1");
      assert.equal(bucket.takes, 1, "fifty more requests, no call to the object");
      assert.equal(Math.round(bucket.stored!.tokens), 900, "one lease taken");
    });

    await t.step("the N+1st request of a user is refused, by the isolate, without asking", async () => {
      const client = clients.connect("127.0.2.2");
      const authorization = `Bearer ${await tokens.customer("carol")}`;
      for (let n = 1; n <= 20; n++) {
        assert.equal((await get("/v1/users/me", client, { authorization })).status, 200, `request ${n}`);
      }
      const refused = await get("/v1/users/me", client, { authorization });
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get("ratelimit-policy"), '"authenticated";q=20;w=200000');
      assert.equal(refused.headers.get("ratelimit"), '"authenticated";r=0;t=200000');
      assert.equal(refused.headers.get("retry-after"), "10000");
      const bucket = await inspectBucket(edge, "authenticated", "user:carol");
      assert.equal(bucket.takes, 10, "ten leases of two tokens; the refusal asked nobody");
    });

    await t.step("sign-in and contact are counted in the object on every request", async () => {
      const client = clients.connect("127.0.2.3");
      const post = async (path: string) => {
        const response = await fetch(`${edge.url}${path}`, { client, method: "POST", body: "" });
        await response.body?.cancel();
        return response.status;
      };
      assert.deepEqual([await post("/oauth/token"), await post("/oauth/token"), await post("/oauth/token")], [
        200,
        200,
        200,
      ]);
      assert.equal(await post("/oauth/token"), 429);
      assert.equal((await inspectBucket(edge, "login", "ip:127.0.2.3")).takes, 4);
      assert.deepEqual([await post("/v1/contact"), await post("/v1/contact")], [200, 429]);
      assert.equal((await inspectBucket(edge, "contact", "ip:127.0.2.3")).takes, 2);
    });
  } finally {
    clients.closeAll();
    await fixture.close();
  }
});

Deno.test("a bucket that has refilled is deleted from its object's storage", async (t) => {
  // Both buckets are full again two seconds after a request (a lease of one token, one token taken).
  const refillMs = 2000;
  const limits = {
    default: { capacity: 5, refillPerSecond: 0.5 },
    contact: { capacity: 2, refillPerSecond: 0.5 },
  };
  const fixture = await startEdgeFixture({ RATE_LIMITS: JSON.stringify(limits) });
  const clients = clientsFrom();
  /** Asks the object until its storage is empty. */
  const untilDeleted = async (policy: string, key: string) => {
    const started = Date.now();
    while ((await inspectBucket(fixture.edge, policy, key)).stored) {
      assert.ok(Date.now() - started < 10_000, `the ${policy} bucket of ${key} is still stored after 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  try {
    for (
      const [policy, method, path, address] of [
        ["default", "GET", "/v1/brands", "127.0.3.1"],
        ["contact", "POST", "/v1/contact", "127.0.3.2"],
      ]
    ) {
      await t.step(`${policy}: stored while refilling, gone once full`, async () => {
        const client = clients.connect(address);
        const call = async () => {
          const response = await fetch(`${fixture.edge.url}${path}`, { client, method, body: null });
          await response.body?.cancel();
          return response;
        };
        const sent = Date.now();
        assert.equal((await call()).status, 200);
        const { stored } = await inspectBucket(fixture.edge, policy, `ip:${address}`);
        assert.ok(stored, "the bucket is kept while it refills");
        await untilDeleted(policy, `ip:${address}`);
        assert.ok(Date.now() - sent >= refillMs, "not deleted before it was full");
        const again = await call();
        assert.equal(again.status, 200);
        assert.equal(
          again.headers.get("ratelimit"),
          `"${policy}";r=${limits[policy as keyof typeof limits].capacity - 1};t=2`,
          "a deleted bucket is a full one",
        );
      });
    }
  } finally {
    clients.closeAll();
    await fixture.close();
  }
});

Deno.test("many client addresses share a fixed number of shards, emptied once their buckets refill", async () => {
  // Full again half a second after a request (a lease of one token, one token taken). The addresses are
  // claimed through the trusted proxy header, so that 500 clients need no 500 loopback connections.
  const limits = {
    default: { capacity: 2, refillPerSecond: 2 },
    login: { capacity: 2, refillPerSecond: 2 },
  };
  const fixture = await startEdgeFixture({
    RATE_LIMITS: JSON.stringify(limits),
    TRUSTED_CLIENT_IP_HEADER: "X-Real-IP",
  });
  const addresses = Array.from({ length: 500 }, (_, n) => `198.51.${100 + (n >> 8)}.${n & 255}`);
  try {
    for (const [n, address] of addresses.entries()) {
      const [method, path] = n % 2 === 0 ? ["GET", "/v1/brands"] : ["POST", "/oauth/token"];
      const response = await fetch(`${fixture.edge.url}${path}`, {
        method,
        headers: { "x-real-ip": address },
      });
      await response.body?.cancel();
      assert.equal(response.status, 200, `${method} ${path} from ${address}`);
    }
    const used = new Set(
      addresses.map((address, n) => shardName(bucketName(n % 2 ? "login" : "default", `ip:${address}`))),
    );
    assert.ok(used.size <= shardCount, `${used.size} objects for 500 buckets`);
    const last = await inspectBucket(fixture.edge, "login", `ip:${addresses.at(-1)}`);
    assert.ok(last.stored && last.takes === 1, "the last client's bucket is held while it refills");
    const shards = Array.from({ length: shardCount }, (_, n) => `shard:${n}`);
    assert.ok([...used].every((shard) => shards.includes(shard)));
    const held = async () => {
      let buckets = 0;
      for (const shard of shards) {
        const inspection = await inspectShard(fixture.edge, shard);
        buckets += Object.keys(inspection.held).length + Object.keys(inspection.stored).length;
      }
      return buckets;
    };
    const started = Date.now();
    while (await held() > 0) {
      assert.ok(Date.now() - started < 10_000, "buckets are still held 10 s after they refilled");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await fixture.close();
  }
});
