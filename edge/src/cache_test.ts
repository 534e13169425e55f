/** The cache's rules as plain functions, and its paths that never reach the Cache API. */
import assert from "node:assert/strict";
import {
  cachedFetch,
  cacheDirectives,
  CacheGeneration,
  cacheKey,
  cacheSettingsOf,
  currentAge,
  defaultCacheSettings,
  edgeTtl,
  lifetimesOf,
  purgeCache,
} from "./cache.ts";
import { edgeConfigSchema } from "./config.ts";
import type { DurableObjectNamespace, DurableObjectState } from "./platform.ts";

Deno.test("edgeTtl: only public 200s without cookies are shared, for s-maxage before max-age", () => {
  const ttl = (headers: Record<string, string>, status = 200) => edgeTtl(status, new Headers(headers));
  assert.equal(ttl({ "cache-control": "public, max-age=60, s-maxage=300" }), 300);
  assert.equal(ttl({ "cache-control": "public, max-age=60" }), 60);
  assert.equal(
    ttl({ "cache-control": 'Public, S-MaxAge="120"' }),
    120,
    "names ignore case; values lose quotes",
  );
  assert.equal(ttl({ "cache-control": "public, s-maxage=0, max-age=60" }), 0, "s-maxage wins even when 0");
  assert.equal(ttl({ "cache-control": "public, s-maxage=300", age: "280" }), 20, "what the age used up");
  assert.equal(ttl({ "cache-control": "public, s-maxage=300", age: "400" }), 0);
  assert.equal(ttl({ "cache-control": "public, s-maxage=300", vary: "Accept-Encoding, Authorization" }), 300);

  const refused: Record<string, string>[] = [
    {},
    { "cache-control": "public" },
    { "cache-control": "max-age=60, s-maxage=300" },
    { "cache-control": "public, private, s-maxage=300" },
    { "cache-control": "public, no-store, s-maxage=300" },
    { "cache-control": "public, no-cache, s-maxage=300" },
    { "cache-control": 'public, no-cache="set-cookie", s-maxage=300' },
    { "cache-control": "public, s-maxage=soon" },
    { "cache-control": "public, s-maxage=300", "set-cookie": "session=1" },
    { "cache-control": "public, s-maxage=300", vary: "*" },
    { "cache-control": "public, s-maxage=300", vary: "Accept-Language" },
  ];
  for (const headers of refused) assert.equal(ttl(headers), 0, JSON.stringify(headers));
  for (const status of [201, 203, 204, 301, 304, 404, 410]) {
    assert.equal(ttl({ "cache-control": "public, s-maxage=300" }, status), 0, `status ${status}`);
  }
});

Deno.test("cacheDirectives parses names, arguments and bare directives", () => {
  assert.deepEqual(
    [...cacheDirectives(' Public,MAX-AGE=60 ,, private="x" ')],
    [["public", ""], ["max-age", "60"], ["private", "x"]],
  );
  assert.equal(cacheDirectives(null).size, 0);
});

Deno.test("cacheKey: sorted query on a synthetic origin under the generation", () => {
  const key = cacheKey("https://api.shop.example/v1/products?q=pan&limit=2", 7);
  assert.equal(
    key,
    "https://edge-cache.multishop.internal/7/https/api.shop.example/v1/products?limit=2&q=pan",
  );
  assert.equal(cacheKey("https://api.shop.example/v1/products?limit=2&q=pan", 7), key);
  assert.notEqual(cacheKey("https://api.shop.example/v1/products?q=pan&limit=2", 8), key);
  assert.notEqual(cacheKey("http://api.shop.example/v1/products?q=pan&limit=2", 7), key);
  assert.notEqual(cacheKey("https://other.shop.example/v1/products?q=pan&limit=2", 7), key);
  assert.notEqual(
    cacheKey("https://a.example/v1/products?tag=x&tag=y", 0),
    cacheKey("https://a.example/v1/products?tag=y&tag=x", 0),
    "repeated parameters keep their order",
  );
  assert.equal(cacheKey("https://a.example/v1/brands?#top", 0), cacheKey("https://a.example/v1/brands", 0));
});

Deno.test("currentAge adds whole seconds since the entry was stored to its stored Age", () => {
  const storedAt = 1_700_000_000_000;
  assert.equal(currentAge(10, storedAt, storedAt + 2_999), 12);
  assert.equal(currentAge(0, storedAt, storedAt - 5_000), 0, "a clock that went back adds nothing");
});

Deno.test("lifetimesOf: stale windows as the upstream allows, the edge's stale-if-error by default", () => {
  const lifetimes = (cacheControl: string) =>
    lifetimesOf(new Headers({ "cache-control": cacheControl }), 300);
  assert.deepEqual(lifetimes("public, max-age=60, s-maxage=30"), {
    fresh: 30,
    staleWhileRevalidate: 0,
    staleIfError: 300,
  });
  assert.deepEqual(lifetimes("public, s-maxage=30, stale-while-revalidate=60, stale-if-error=10"), {
    fresh: 30,
    staleWhileRevalidate: 60,
    staleIfError: 10,
  });
  assert.deepEqual(lifetimes("public, s-maxage=30, stale-while-revalidate=60, must-revalidate"), {
    fresh: 30,
    staleWhileRevalidate: 0,
    staleIfError: 0,
  });
  assert.deepEqual(lifetimes("public, s-maxage=30, proxy-revalidate"), {
    fresh: 30,
    staleWhileRevalidate: 0,
    staleIfError: 0,
  });
});

Deno.test("the cache's settings come from the edge's configuration, with defaults", () => {
  assert.equal(defaultCacheSettings.memoryBytes, 16 * 1024 * 1024);
  assert.deepEqual(
    cacheSettingsOf(edgeConfigSchema.parse({
      CACHE_MEMORY_BYTES: "4096",
      CACHE_MEMORY_ENTRY_BYTES: "1024",
      CACHE_GENERATION_TTL_MS: "100",
      CACHE_STALE_IF_ERROR_SECONDS: "0",
    })),
    { memoryBytes: 4096, memoryEntryBytes: 1024, generationTtlMs: 100, staleIfErrorSeconds: 0 },
  );
  assert.equal(edgeConfigSchema.safeParse({ CACHE_MEMORY_BYTES: "lots" }).success, false);
});

/** A namespace with one CacheGeneration on in-memory storage, as the runtime would run it. */
function generationNamespace(storage = new Map<string, unknown>()) {
  let ready: Promise<unknown> = Promise.resolve();
  const state: DurableObjectState = {
    storage: {
      get: <T>(key: string) => Promise.resolve(storage.get(key) as T | undefined),
      put: <T>(key: string, value: T) => Promise.resolve(void storage.set(key, value)),
      list: () => assert.fail("the generation object lists nothing"),
      deleteAll: () => assert.fail("the generation object deletes nothing"),
      setAlarm: () => assert.fail("the generation object sets no alarm"),
    },
    // The runtime holds every event back until the constructor's work is done.
    blockConcurrencyWhile: <T>(work: () => Promise<T>) => (ready = work()) as Promise<T>,
  };
  const object = new CacheGeneration(state);
  const namespace: DurableObjectNamespace = {
    idFromName: (name) => ({ toString: () => name }),
    get: () => ({ fetch: (request) => ready.then(() => object.fetch(request)) }),
  };
  return namespace;
}

Deno.test("purgeCache moves to the next generation, which outlives the object's instance", async () => {
  const storage = new Map<string, unknown>();
  const namespace = generationNamespace(storage);
  assert.deepEqual(await purgeCache(namespace), { purged: true, generation: 1 });
  assert.deepEqual(await purgeCache(namespace), { purged: true, generation: 2 });
  assert.deepEqual(await purgeCache(generationNamespace(storage)), { purged: true, generation: 3 });
});

Deno.test("requests that may not use the cache go upstream without touching it", async () => {
  // Deno has no `caches.default` and this namespace throws: touching either fails the request.
  const untouchable: DurableObjectNamespace = {
    idFromName: () => assert.fail("the generation was read"),
    get: () => assert.fail("the generation was read"),
  };
  const context = { ctx: { waitUntil: () => assert.fail("something was stored") }, generations: untouchable };
  const cases: [string, Request, boolean?][] = [
    ["disabled", new Request("https://edge.example/v1/brands"), false],
    ["token", new Request("https://edge.example/v1/brands", { headers: { authorization: "Bearer x" } })],
    ["cookie", new Request("https://edge.example/v1/brands", { headers: { cookie: "session=1" } })],
    ["write", new Request("https://edge.example/v1/brands", { method: "POST" })],
  ];
  for (const [name, request, enabled] of cases) {
    let loads = 0;
    const response = await cachedFetch(request, { ...context, enabled }, () => {
      loads += 1;
      return Promise.resolve(Response.json({}, { headers: { "cache-control": "public, s-maxage=300" } }));
    });
    assert.equal(loads, 1, name);
    assert.equal(response.headers.get("x-cache-status"), "BYPASS", name);
  }
});

Deno.test("without its generation the cache steps aside and the request is still served", async () => {
  const unavailable: DurableObjectNamespace = {
    idFromName: (name) => ({ toString: () => name }),
    get: () => ({ fetch: () => Promise.resolve(new Response("overloaded", { status: 503 })) }),
  };
  const logged: unknown[] = [];
  const original = console.error;
  console.error = (...data: unknown[]) => logged.push(data);
  try {
    const response = await cachedFetch(
      new Request("https://edge.example/v1/brands"),
      { ctx: { waitUntil: () => assert.fail("something was stored") }, generations: unavailable },
      () => Promise.resolve(new Response("brands")),
    );
    assert.equal(response.headers.get("x-cache-status"), "BYPASS");
    assert.equal(await response.text(), "brands");
    assert.match(String(logged[0]), /cache generation unavailable/);
  } finally {
    console.error = original;
  }
});
