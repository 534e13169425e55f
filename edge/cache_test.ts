/** The edge cache in workerd: what is stored, what is served from it, and purging. */
import assert from "node:assert/strict";
import { cacheKey } from "./src/cache.ts";
import { echo, type EdgeFixture, type Seen, startEdgeFixture } from "./test_support.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer {
  status: number;
  cache: string | null;
  headers: Headers;
  body: string;
}

function client(fixture: EdgeFixture) {
  const { edge, catalog } = fixture;
  return {
    /** Calls the edge and reads the whole answer. */
    async call(path: string, init: RequestInit = {}): Promise<Answer> {
      const response = await fetch(`${edge.url}${path}`, init);
      const body = await response.text();
      return {
        status: response.status,
        cache: response.headers.get("x-cache-status"),
        headers: response.headers,
        body,
      };
    },
    /** How many requests with this method and path (query as sent) reached the catalog. */
    upstreamCalls(path: string, method = "GET"): number {
      return catalog.seen.filter((seen) => seen.path === path && seen.method === method).length;
    },
    /**
     * The edge writes to the cache after answering (waitUntil); this waits, bounded, for that write to
     * land so that the next request's HIT does not depend on timing.
     */
    async stored(path: string, generation: number): Promise<void> {
      const key = cacheKey(`${edge.url}${path}`, generation);
      for (let attempt = 0; attempt < 200; attempt++) {
        const entry = await edge.cache.match(key);
        if (entry) return void await entry.arrayBuffer();
        await delay(10);
      }
      throw new Error(`${path} was not stored in generation ${generation}`);
    },
  };
}

Deno.test("edge cache in workerd", async (t) => {
  const fixture = await startEdgeFixture();
  const { call, upstreamCalls, stored } = client(fixture);
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  /** The cache generation: 0 in a fresh Worker, then whatever the last purge answered. */
  let generation = 0;
  /** Makes the catalog answer with these headers and status for the next steps. */
  const catalogAnswers = (headers: Record<string, string>, status = 200) => {
    fixture.catalog.respond = (_request, seen) => Response.json({ path: seen.path }, { status, headers });
  };

  try {
    await t.step("the second public GET is a HIT and the upstream is asked once", async () => {
      const path = "/v1/brands?case=hit";
      const first = await call(path);
      assert.equal(first.status, 200);
      assert.equal(first.cache, "MISS");
      await stored(path, generation);
      const second = await call(path);
      assert.equal(second.status, 200);
      assert.equal(second.cache, "HIT");
      assert.match(second.headers.get("age") ?? "", /^\d+$/);
      assert.equal(second.body, first.body);
      assert.equal(second.headers.get("cache-control"), "public, max-age=60, s-maxage=300");
      assert.ok(second.headers.get("x-request-id"), "the edge's own headers are added to a HIT");
      assert.equal(upstreamCalls(path), 1);
    });

    await t.step("the order of query parameters does not matter", async () => {
      assert.equal((await call("/v1/products?q=pan&limit=2")).cache, "MISS");
      await stored("/v1/products?q=pan&limit=2", generation);
      assert.equal((await call("/v1/products?limit=2&q=pan")).cache, "HIT");
      assert.equal(
        upstreamCalls("/v1/products?q=pan&limit=2") + upstreamCalls("/v1/products?limit=2&q=pan"),
        1,
      );
    });

    await t.step("a HIT's Age counts the age the upstream gave", async () => {
      catalogAnswers({ "cache-control": "public, s-maxage=300", age: "100" });
      const path = "/v1/brands?case=age";
      await call(path);
      await stored(path, generation);
      const hit = await call(path);
      assert.equal(hit.cache, "HIT");
      const age = Number(hit.headers.get("age"));
      assert.ok(age >= 100 && age < 110, `Age ${age}`);
    });

    await t.step("a conditional GET is answered 304 from the entry", async () => {
      catalogAnswers({ "cache-control": "public, s-maxage=300", etag: '"v1"' });
      const path = "/v1/brands?case=etag";
      await call(path);
      await stored(path, generation);
      const revalidated = await call(path, { headers: { "if-none-match": '"v1"' } });
      assert.equal(revalidated.status, 304);
      assert.equal(revalidated.cache, "HIT");
      assert.equal(revalidated.body, "");
      assert.equal((await call(path, { headers: { "if-none-match": '"v0"' } })).status, 200);
      assert.equal(upstreamCalls(path), 1);
    });

    await t.step("s-maxage, not max-age, is how long the edge keeps an entry", async () => {
      catalogAnswers({ "cache-control": "public, max-age=600, s-maxage=1" });
      const path = "/v1/brands?case=expiry";
      await call(path);
      await stored(path, generation);
      assert.equal((await call(path)).cache, "HIT");
      await delay(1_200);
      assert.equal((await call(path)).cache, "MISS");
      assert.equal(upstreamCalls(path), 2);
    });

    await t.step("answers the upstream does not allow to share are not stored", async () => {
      const cases: [string, Record<string, string>, number][] = [
        ["private", { "cache-control": "private, max-age=60" }, 200],
        ["no-store", { "cache-control": "public, no-store, s-maxage=300" }, 200],
        ["no-cache", { "cache-control": "public, no-cache, s-maxage=300" }, 200],
        ["set-cookie", { "cache-control": "public, s-maxage=300", "set-cookie": "session=1; HttpOnly" }, 200],
        ["not-public", { "cache-control": "max-age=60" }, 200],
        ["no-lifetime", { "cache-control": "public, s-maxage=0, max-age=60" }, 200],
        ["not-found", { "cache-control": "public, s-maxage=300" }, 404],
      ];
      for (const [name, headers, status] of cases) {
        catalogAnswers(headers, status);
        const path = `/v1/brands?case=${name}`;
        for (let round = 0; round < 2; round++) {
          const answer = await call(path);
          assert.equal(answer.status, status, name);
          assert.equal(answer.cache, "MISS", name);
        }
        assert.equal(upstreamCalls(path), 2, name);
      }
    });

    fixture.catalog.respond = echo("catalog");

    await t.step("an authenticated GET is never stored nor served from the cache", async () => {
      const customer = bearer(await fixture.tokens.customer());
      const path = "/v1/categories?case=auth";
      // The echo answers public even here: the edge must not trust the upstream to say private.
      for (let round = 0; round < 2; round++) {
        const answer = await call(path, { headers: customer });
        assert.equal(answer.status, 200);
        assert.equal(answer.cache, "BYPASS");
      }
      assert.equal((await call(path)).cache, "MISS", "the authenticated answers were not stored");
      await stored(path, generation);
      assert.equal((await call(path)).cache, "HIT");
      assert.equal((await call(path, { headers: customer })).cache, "BYPASS");
      assert.equal(upstreamCalls(path), 4);
      const forwarded = fixture.catalog.seen.filter((seen) => seen.path === path).map((seen) =>
        seen.headers.has("authorization")
      );
      assert.deepEqual(forwarded, [true, true, false, true]);
    });

    await t.step("a GET with a cookie bypasses the cache", async () => {
      const path = "/v1/categories?case=cookie";
      const withCookie = { headers: { cookie: "session=1" } };
      assert.equal((await call(path, withCookie)).cache, "BYPASS");
      assert.equal((await call(path)).cache, "MISS", "the answer to a request with a cookie was not stored");
      await stored(path, generation);
      assert.equal((await call(path, withCookie)).cache, "BYPASS");
      assert.equal(upstreamCalls(path), 3);
    });

    await t.step("HEAD is answered from a stored GET and never stored itself", async () => {
      const path = "/v1/content/sliders?case=head";
      const head = await call(path, { method: "HEAD" });
      assert.equal(head.cache, "MISS");
      assert.equal(upstreamCalls(path, "HEAD"), 1);
      assert.equal((await call(path)).cache, "MISS", "the HEAD answer was not stored");
      await stored(path, generation);
      const hit = await call(path, { method: "HEAD" });
      assert.equal(hit.status, 200);
      assert.equal(hit.cache, "HIT");
      assert.equal(hit.body, "");
      assert.match(hit.headers.get("content-type") ?? "", /^application\/json/);
      assert.equal(upstreamCalls(path, "HEAD"), 1);
      assert.equal(upstreamCalls(path), 1);
    });

    await t.step("a purge by an admin empties the cache; others are refused", async () => {
      const path = "/v1/brands?case=purge";
      await call(path);
      await stored(path, generation);
      const purge = (headers: Record<string, string>) =>
        call("/v1/edge/cache/purge", { method: "POST", headers });
      assert.equal((await purge({})).status, 401);
      assert.equal((await purge(bearer(await fixture.tokens.customer()))).status, 403);
      assert.equal((await call(path)).cache, "HIT", "a refused purge changes nothing");

      const purged = await purge(bearer(await fixture.tokens.admin()));
      assert.equal(purged.status, 200);
      assert.deepEqual(JSON.parse(purged.body), { purged: true, generation: generation + 1 });
      generation += 1;
      assert.equal((await call(path)).cache, "MISS");
      await stored(path, generation);
      assert.equal((await call(path)).cache, "HIT");
      assert.equal(upstreamCalls(path), 2);
    });
  } finally {
    await fixture.close();
  }
});

Deno.test("edge cache in workerd: CACHE_ENABLED=false sends every GET upstream", async () => {
  const fixture = await startEdgeFixture({ CACHE_ENABLED: "false" });
  const { call, upstreamCalls } = client(fixture);
  try {
    for (let round = 0; round < 3; round++) {
      const answer = await call("/v1/brands");
      assert.equal(answer.status, 200);
      assert.equal(answer.cache, "BYPASS");
    }
    assert.equal(upstreamCalls("/v1/brands"), 3);
  } finally {
    await fixture.close();
  }
});

Deno.test("edge cache in workerd: memory layer, coalescing, stale copies and purges", async (t) => {
  const generationTtlMs = 300;
  const fixture = await startEdgeFixture({
    CACHE_GENERATION_TTL_MS: String(generationTtlMs),
    CACHE_MEMORY_BYTES: "8192",
    CACHE_MEMORY_ENTRY_BYTES: "2048",
  });
  const { edge, catalog } = fixture;
  const { call, upstreamCalls, stored } = client(fixture);
  const generation = 0;
  /** Removes an entry from the Cache API, so that only the isolate's memory can still answer it. */
  const forgetInCacheApi = async (path: string) => {
    await stored(path, generation);
    assert.ok(await edge.cache.delete(cacheKey(`${edge.url}${path}`, generation)));
  };
  /** The catalog's answer after a wait, so that concurrent requests are all in flight together. */
  const slowCatalog = (ms: number, headers: Record<string, string> = {}) => {
    catalog.respond = async (_request, seen) => {
      await delay(ms);
      return Response.json({ path: seen.path }, {
        headers: { "cache-control": "public, max-age=60, s-maxage=300", ...headers },
      });
    };
  };
  /** A body of about this many bytes. */
  const padded = (bytes: number) => (_request: Request, seen: Seen) =>
    Response.json({ path: seen.path, padding: "x".repeat(bytes) }, {
      headers: { "cache-control": "public, s-maxage=300" },
    });

  try {
    await t.step("a burst of 50 concurrent misses for one key reaches the upstream once", async () => {
      slowCatalog(200);
      const path = "/v1/brands?case=burst";
      const answers = await Promise.all(Array.from({ length: 50 }, () => call(path)));
      assert.equal(upstreamCalls(path), 1);
      for (const answer of answers) {
        assert.equal(answer.status, 200);
        assert.equal(answer.body, answers[0].body);
        assert.ok(["MISS", "HIT"].includes(answer.cache!), answer.cache!);
        assert.ok(answer.headers.get("x-request-id"), "each answer has its own request's headers");
      }
      assert.equal(new Set(answers.map((answer) => answer.headers.get("x-request-id"))).size, 50);
    });

    await t.step("a personal request never touches either layer nor shares a call", async () => {
      slowCatalog(100);
      const path = "/v1/categories?case=personal";
      const customer = { authorization: `Bearer ${await fixture.tokens.customer()}` };
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => call(path, { headers: customer })),
      );
      assert.deepEqual(answers.map((answer) => answer.cache), Array(5).fill("BYPASS"));
      assert.equal(upstreamCalls(path), 5, "no personal request waited for another's answer");
      assert.equal(await edge.cache.match(cacheKey(`${edge.url}${path}`, generation)), undefined);
      assert.equal((await call(path)).cache, "MISS", "nothing was kept in memory either");
      assert.equal((await call(path)).cache, "HIT");
      assert.equal((await call(path, { headers: customer })).cache, "BYPASS", "nor read from it");
      assert.equal(upstreamCalls(path), 7);
    });

    fixture.catalog.respond = echo("catalog");

    await t.step("a memory hit's Age grows with the time the entry was kept", async () => {
      const path = "/v1/brands?case=memory-age";
      assert.equal((await call(path)).cache, "MISS");
      await forgetInCacheApi(path);
      await delay(1_100);
      const hit = await call(path);
      assert.equal(hit.cache, "HIT");
      assert.ok(Number(hit.headers.get("age")) >= 1, `Age ${hit.headers.get("age")}`);
      assert.equal(upstreamCalls(path), 1);
    });

    await t.step("the byte budget evicts the least recently used entries", async () => {
      catalog.respond = padded(1_200);
      const paths = Array.from({ length: 6 }, (_, index) => `/v1/brands?case=budget-${index}`);
      for (const path of paths) {
        assert.equal((await call(path)).cache, "MISS");
        await forgetInCacheApi(path);
      }
      // About 1.6 KiB each against 8 KiB: the newest are still in memory, the oldest were evicted.
      assert.equal((await call(paths[5])).cache, "HIT");
      assert.equal((await call(paths[0])).cache, "MISS");
      assert.equal(upstreamCalls(paths[5]), 1);
      assert.equal(upstreamCalls(paths[0]), 2);
    });

    await t.step("a body over the entry limit is kept by the Cache API only", async () => {
      catalog.respond = padded(4_000);
      const path = "/v1/brands?case=large";
      const miss = await call(path);
      assert.equal(miss.cache, "MISS");
      await stored(path, generation);
      const hit = await call(path);
      assert.equal(hit.cache, "HIT", "streamed from the Cache API");
      assert.equal(hit.body, miss.body);
      await forgetInCacheApi(path);
      assert.equal((await call(path)).cache, "MISS", "it was never in memory");
    });

    fixture.catalog.respond = echo("catalog");

    await t.step("a purge by another isolate is seen by the next request after the TTL", async () => {
      const path = "/v1/brands?case=remote-purge";
      await call(path);
      assert.equal((await call(path)).cache, "HIT");
      // What another isolate's purge does: move the object's generation, which this one has not read.
      const purged = await edge.durableObject("CACHE_GENERATION", "edge-cache")
        .fetch("https://cache-generation.internal/", { method: "POST" });
      assert.deepEqual(await purged.json(), { generation: generation + 1 });
      await delay(generationTtlMs + 100);
      assert.equal((await call(path)).cache, "MISS");
      assert.equal(upstreamCalls(path), 2);
    });

    // The generation is 1 from here on.
    const stale = (path: string) => stored(path, generation + 1);

    await t.step("stale-while-revalidate: stale answers at once, one revalidation per key", async () => {
      slowCatalog(100, { "cache-control": "public, s-maxage=1, stale-while-revalidate=30" });
      const path = "/v1/brands?case=swr";
      assert.equal((await call(path)).cache, "MISS");
      await stale(path);
      await delay(1_100);
      const answers = await Promise.all(Array.from({ length: 5 }, () => call(path)));
      assert.deepEqual(answers.map((answer) => answer.cache), Array(5).fill("STALE"));
      // The revalidation reaches the catalog, which answers 100 ms later.
      for (let attempt = 0; attempt < 100 && upstreamCalls(path) < 2; attempt++) await delay(10);
      await delay(300);
      assert.equal((await call(path)).cache, "HIT", "the revalidated copy is fresh");
      assert.equal(upstreamCalls(path), 2, "one revalidation for five stale answers");
    });

    // Last: the failures below count towards opening the catalog's breaker.
    await t.step("stale-if-error: a failing upstream is stood in for by the stale copy", async () => {
      catalog.respond = (_request, seen) =>
        Response.json({ path: seen.path }, { headers: { "cache-control": "public, s-maxage=1" } });
      const path = "/v1/brands?case=sie";
      const strict = "/v1/brands?case=sie-strict";
      const first = await call(path);
      catalog.respond = (_request, seen) =>
        Response.json({ path: seen.path }, {
          headers: { "cache-control": "public, s-maxage=1, must-revalidate" },
        });
      await call(strict);
      await stale(path);
      await stale(strict);
      await delay(1_100);
      catalog.respond = () => new Response("down", { status: 503 });
      const answer = await call(path);
      assert.equal(answer.status, 200);
      assert.equal(answer.cache, "STALE");
      assert.equal(answer.body, first.body);
      assert.ok(Number(answer.headers.get("age")) >= 1);
      const refused = await call(strict);
      assert.equal(refused.status, 503, "must-revalidate forbids a stale answer");
      assert.equal(refused.headers.get("content-type"), "application/problem+json");
    });
  } finally {
    await fixture.close();
  }
});
