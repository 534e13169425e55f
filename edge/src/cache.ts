/**
 * The edge cache for public GETs: a layer in the isolate's memory, bounded by bytes, in front of the
 * Workers Cache API. An entry is keyed by its URL alone, so no answer made for one caller may ever be
 * stored: requests with credentials never touch either layer, and only responses that the upstream
 * marks public are kept. The Cache API cannot list its keys, so a purge moves every key to a new
 * generation, kept by one Durable Object.
 *
 * A burst of misses for one key sends one request upstream, whose answer the others share; a copy past
 * its lifetime answers while it is revalidated in the background when the upstream allows it
 * (`stale-while-revalidate`), and stands in for an upstream that fails, for a bounded time.
 */
import { ProblemError } from "@multishop/kit/problem";
import type { Context } from "hono";
import type { EdgeEnv } from "./app.ts";
import { type EdgeConfig, edgeConfigSchema } from "./config.ts";
import { ByteBoundedLru, type Sized } from "./memory_cache.ts";
import {
  type DurableObjectNamespace,
  type DurableObjectState,
  edgeCache,
  type ExecutionContext,
} from "./platform.ts";

export const cacheStatusHeader = "x-cache-status";
type CacheStatus = "HIT" | "MISS" | "BYPASS" | "STALE";

export interface CacheSettings {
  /** What one isolate's memory layer may hold: bodies, headers and keys. */
  memoryBytes: number;
  /** Larger bodies are kept by the Cache API only, and streamed from it. */
  memoryEntryBytes: number;
  /**
   * How long an isolate keeps the generation it read. A purge reaches this isolate at once and every
   * other one within this time; asking the Durable Object on every request would put one object in
   * the path of all public traffic.
   */
  generationTtlMs: number;
  /**
   * How long past its lifetime a copy may stand in for an upstream that fails, unless the upstream's
   * own `stale-if-error` says otherwise.
   */
  staleIfErrorSeconds: number;
}

/** The cache's settings from the edge's configuration. */
export function cacheSettingsOf(config: EdgeConfig): CacheSettings {
  return {
    memoryBytes: config.CACHE_MEMORY_BYTES,
    memoryEntryBytes: config.CACHE_MEMORY_ENTRY_BYTES,
    generationTtlMs: config.CACHE_GENERATION_TTL_MS,
    staleIfErrorSeconds: config.CACHE_STALE_IF_ERROR_SECONDS,
  };
}

export const defaultCacheSettings: CacheSettings = cacheSettingsOf(edgeConfigSchema.parse({}));

export interface CacheContext {
  ctx: ExecutionContext;
  generations: DurableObjectNamespace;
  /** The CACHE_ENABLED variable: when false every request goes upstream and answers BYPASS. */
  enabled?: boolean;
  /** `defaultCacheSettings` when left out. */
  settings?: CacheSettings;
  /**
   * Whether a copy past its lifetime may answer for an upstream that fails (true when left out). An
   * aggregate's parts say no: the page as a whole then stands in, marked STALE, rather than a page
   * built anew from stale parts and kept as if it were fresh.
   */
  staleIfError?: boolean;
}

/** The cache context of a request to the edge app. */
export function cacheContextFor(c: Context<EdgeEnv>): CacheContext {
  return {
    ctx: c.executionCtx as unknown as ExecutionContext,
    generations: c.env.CACHE_GENERATION,
    enabled: c.get("config").CACHE_ENABLED,
    settings: cacheSettingsOf(c.get("config")),
  };
}

/**
 * Whether a request identifies its caller. The key holds no user, so such a request never reads nor
 * writes either layer, nor shares an upstream call. The app already sends requests with a token past
 * the cache; this keeps that true for any caller, and for cookies, which the shop does not use but an
 * upstream could personalise on.
 */
export function isPersonal(request: Request): boolean {
  return request.headers.has("authorization") || request.headers.has("cookie");
}

/** Keys live on an origin of their own; the request's scheme and host are part of the path. */
const keyOrigin = "https://edge-cache.multishop.internal";

/** When the entry was stored (ms since the epoch): a hit adds the time since to the Age it had. */
const storedAtHeader = "x-edge-stored-at";

/**
 * The upstream's Cache-Control, kept aside in the Cache API: the entry is stored under one that also
 * covers its stale windows, and clients see the upstream's own on a hit.
 */
const upstreamCacheControlHeader = "x-edge-cache-control";

/**
 * How long a request waits for another's upstream call for the same key before asking for itself: the
 * routes' timeout. It is bounded because workerd cancels a request's pending I/O when that request
 * ends (its client went away, say), and the call it shared would then never settle.
 */
const coalescedWaitMs = 10_000;

/** A stored answer, from either layer. */
interface Stored {
  status: number;
  /**
   * The upstream's headers, its Cache-Control and Age included; never changed once stored (an answer
   * copies them, which the runtime does in one step from a Headers).
   */
  headers: Headers;
  /** Bytes when small enough for memory (each answer then wraps them anew), else the Cache API's stream. */
  body: Bytes | ReadableStream<Uint8Array>;
  storedAt: number;
  /** The Age the upstream gave, in seconds. */
  ageWhenStored: number;
  lifetimes: Lifetimes;
}

/** A body held in memory, whole. */
type Bytes = Uint8Array<ArrayBuffer>;

interface MemoryEntry extends Sized {
  generation: number;
  stored: Stored & { body: Bytes };
}

/** In seconds: fresh for `fresh`, then servable while revalidating, then only for a failing upstream. */
interface Lifetimes {
  fresh: number;
  staleWhileRevalidate: number;
  staleIfError: number;
}

type Freshness = "fresh" | "revalidate" | "if-error" | "expired";

/**
 * Answers a public GET or HEAD from the cache, or from `load` (the upstream) and stores what may be
 * shared. HEAD is answered from a stored GET but never stored itself: its answer has no body. `load`
 * answers a server failure by throwing (as the proxy does) or with a 5xx.
 */
export async function cachedFetch(
  request: Request,
  context: CacheContext,
  load: () => Promise<Response>,
): Promise<Response> {
  const read = request.method === "GET" || request.method === "HEAD";
  if (context.enabled === false || isPersonal(request) || !read) return withStatus(await load(), "BYPASS");
  const settings = context.settings ?? defaultCacheSettings;

  let generation: number;
  try {
    generation = await currentGeneration(context.generations, settings.generationTtlMs);
  } catch (error) {
    // The cache only saves work: without a generation the request is still served, uncached.
    console.error(JSON.stringify({ message: "edge cache generation unavailable", error: String(error) }));
    return withStatus(await load(), "BYPASS");
  }

  const key = cacheKey(request.url, generation);
  const miss: Miss = { key, generation, request, context, settings, load };
  const found = await lookup(key, generation, settings);
  const now = Date.now();
  const freshness = found ? freshnessOf(found, now) : "expired";
  if (freshness === "fresh") return answer(found!, request, "HIT", now);
  if (freshness === "revalidate") {
    if (request.method === "GET") revalidateInBackground(miss);
    return answer(found!, request, "STALE", now);
  }
  if (freshness === "if-error" && context.staleIfError !== false) miss.fallback = found;
  else if (found?.body instanceof ReadableStream) await found.body.cancel();
  return await fetchMiss(miss);
}

/** Drops every cached entry by moving to a new cache generation. */
export async function purgeCache(
  generations: DurableObjectNamespace,
): Promise<{ purged: true; generation: number }> {
  // The purge changes what this isolate reads at once, not when it next asks the object.
  const until = known.get(generations)?.until ?? Date.now();
  const generation = remember(generations, await askGeneration(generations, "POST"), until);
  return { purged: true, generation };
}

/**
 * How long the edge may keep a response, in seconds; 0 when it must not store it. Only a 200 that
 * the upstream calls public, with no cookie, is shared. `s-maxage` is the shared caches' lifetime and
 * wins over `max-age`; clients see the upstream's Cache-Control unchanged on a hit.
 */
export function edgeTtl(status: number, headers: Headers): number {
  if (status !== 200 || headers.has("set-cookie") || !varyIsKeyed(headers.get("vary"))) return 0;
  const directives = cacheDirectives(headers.get("cache-control"));
  if (!directives.has("public")) return 0;
  if (["private", "no-store", "no-cache"].some((name) => directives.has(name))) return 0;
  return Math.max(0, freshLifetime(directives) - seconds(headers.get("age")));
}

/**
 * The cache key: the generation, then the request's URL with its query parameters sorted by name
 * (so `?a=1&b=2` and `?b=2&a=1` share an entry; repeated names keep their order, which can matter).
 */
export function cacheKey(url: string, generation: number): string {
  let place = keyPlaces.get(url);
  if (place === undefined) {
    const { protocol, host, pathname, searchParams } = new URL(url);
    searchParams.sort();
    const query = searchParams.toString();
    place = `${protocol.replace(":", "")}/${host}${pathname}${query ? `?${query}` : ""}`;
    // A hot URL is asked for again and again; parsing it once saves a HIT most of its work on the key.
    if (keyPlaces.size >= maxKeyPlaces) keyPlaces.clear();
    keyPlaces.set(url, place);
  }
  return `${keyOrigin}/${generation}/${place}`;
}

/** Request URL -> its part of the cache key, for the URLs an isolate has seen lately (bounded). */
const keyPlaces = new Map<string, string>();
const maxKeyPlaces = 4_096;

/** The Age of a stored entry now: the age it had when stored plus the whole seconds since. */
export function currentAge(ageWhenStored: number, storedAt: number, now: number): number {
  return ageWhenStored + Math.max(0, Math.floor((now - storedAt) / 1000));
}

/**
 * How long an answer stays fresh and may then be served stale. Both stale windows close when the
 * upstream says `must-revalidate` (or `proxy-revalidate`); `stale-while-revalidate` is only what the
 * upstream allows, while a failing upstream is stood in for as long as its `stale-if-error` says, or
 * the edge's default.
 */
export function lifetimesOf(headers: Headers, staleIfErrorSeconds: number): Lifetimes {
  const directives = cacheDirectives(headers.get("cache-control"));
  const fresh = freshLifetime(directives);
  if (directives.has("must-revalidate") || directives.has("proxy-revalidate")) {
    return { fresh, staleWhileRevalidate: 0, staleIfError: 0 };
  }
  return {
    fresh,
    staleWhileRevalidate: seconds(directives.get("stale-while-revalidate")),
    staleIfError: directives.has("stale-if-error")
      ? seconds(directives.get("stale-if-error"))
      : staleIfErrorSeconds,
  };
}

/** Cache-Control directives by lower-case name; a value loses its quotes, a bare directive is "". */
export function cacheDirectives(value: string | null): Map<string, string> {
  const directives = new Map<string, string>();
  for (const part of (value ?? "").split(",")) {
    const equals = part.indexOf("=");
    const name = (equals < 0 ? part : part.slice(0, equals)).trim().toLowerCase();
    const argument = equals < 0 ? "" : part.slice(equals + 1).trim().replace(/^"(.*)"$/, "$1");
    if (name) directives.set(name, argument);
  }
  return directives;
}

function freshLifetime(directives: Map<string, string>): number {
  return seconds(directives.has("s-maxage") ? directives.get("s-maxage") : directives.get("max-age"));
}

/** A delta-seconds value; anything malformed counts as 0, which never lengthens a lifetime. */
function seconds(value: string | null | undefined): number {
  return value && /^\d+$/.test(value.trim()) ? Number(value) : 0;
}

/**
 * Whether one entry per URL is right for a response that varies. The runtime handles Accept-Encoding,
 * and a response varying on Authorization is only ever stored for requests without one; any other
 * header (or `*`) would need its value in the key.
 */
function varyIsKeyed(vary: string | null): boolean {
  const keyed = ["accept-encoding", "authorization"];
  return (vary ?? "").split(",").map((name) => name.trim().toLowerCase()).every((name) =>
    !name || keyed.includes(name)
  );
}

function freshnessOf(stored: Stored, now: number): Freshness {
  const age = currentAge(stored.ageWhenStored, stored.storedAt, now);
  const { fresh, staleWhileRevalidate, staleIfError } = stored.lifetimes;
  if (age < fresh) return "fresh";
  if (age < fresh + staleWhileRevalidate) return "revalidate";
  if (age < fresh + staleIfError) return "if-error";
  return "expired";
}

/** How long past its lifetime an entry is worth keeping at all. */
function retention({ fresh, staleWhileRevalidate, staleIfError }: Lifetimes): number {
  return fresh + Math.max(staleWhileRevalidate, staleIfError);
}

function withStatus(response: Response, status: CacheStatus): Response {
  response.headers.set(cacheStatusHeader, status);
  return response;
}

/** What a 304 carries of the entry (RFC 9110 §15.4.5), and the edge's own status. */
const notModifiedHeaders = [
  "cache-control",
  "content-location",
  "date",
  "etag",
  "expires",
  "vary",
  "last-modified",
  "age",
  cacheStatusHeader,
];

/** A fresh Response for this request from a stored answer: the body, a HEAD's headers, or a 304. */
function answer(stored: Stored, request: Request, status: CacheStatus, now: number): Response {
  const headers = new Headers(stored.headers);
  // A miss goes out as the upstream answered; a copy says how long it has been kept.
  if (status !== "MISS") headers.set("age", String(currentAge(stored.ageWhenStored, stored.storedAt, now)));
  headers.set(cacheStatusHeader, status);
  const unmodified = notModified(request.headers, headers);
  if (unmodified || request.method === "HEAD") {
    if (stored.body instanceof ReadableStream) stored.body.cancel();
    if (!unmodified) return new Response(null, { status: stored.status, headers });
    const kept = new Headers();
    for (const name of notModifiedHeaders) {
      const value = headers.get(name);
      if (value !== null) kept.set(name, value);
    }
    return new Response(null, { status: 304, headers: kept });
  }
  return new Response(stored.body, { status: stored.status, headers });
}

/** Whether the client's validators match the entry (RFC 9110 §13.1.2, §13.1.3). */
function notModified(request: Headers, stored: Headers): boolean {
  const ifNoneMatch = request.get("if-none-match");
  if (ifNoneMatch !== null) {
    if (ifNoneMatch.trim() === "*") return true;
    const etag = stored.get("etag");
    // The weak comparison: W/"x" and "x" name the same representation for a GET.
    const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
    return etag !== null && ifNoneMatch.split(",").some((tag) => opaque(tag) === opaque(etag));
  }
  const since = Date.parse(request.get("if-modified-since") ?? "");
  const modified = Date.parse(stored.get("last-modified") ?? "");
  return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since;
}

/** One isolate's memory layer, made with the first request's settings (they are the isolate's). */
let memory: ByteBoundedLru<MemoryEntry> | undefined;

function memoryLayer(settings: CacheSettings): ByteBoundedLru<MemoryEntry> {
  return memory ??= new ByteBoundedLru(settings.memoryBytes);
}

/** An entry's rough cost in memory: its body, headers and key, and a little for the objects. */
function memoryCost(key: string, stored: Stored & { body: Bytes }): number {
  let headerBytes = 0;
  for (const [name, value] of stored.headers) headerBytes += name.length + value.length;
  return stored.body.byteLength + headerBytes + key.length + 256;
}

function keepInMemory(
  key: string,
  generation: number,
  stored: Stored & { body: Bytes },
  settings: CacheSettings,
) {
  // A write that began before this isolate read a newer generation would only take room.
  if (generation < (newestGeneration ?? generation)) return;
  memoryLayer(settings).set(key, { generation, stored, bytes: memoryCost(key, stored) });
}

/** The entry for a key, from memory, else from the Cache API (and then kept in memory when small). */
async function lookup(key: string, generation: number, settings: CacheSettings): Promise<Stored | undefined> {
  const layer = memoryLayer(settings);
  const inMemory = layer.get(key);
  if (inMemory) {
    if (freshnessOf(inMemory.stored, Date.now()) !== "expired") return inMemory.stored;
    layer.delete(key);
  }
  const cached = await edgeCache().match(key);
  if (!cached) return undefined;
  const headers = new Headers(cached.headers);
  const storedAt = Number(headers.get(storedAtHeader));
  const upstreamCacheControl = headers.get(upstreamCacheControlHeader);
  headers.delete(storedAtHeader);
  headers.delete(upstreamCacheControlHeader);
  if (upstreamCacheControl !== null) headers.set("cache-control", upstreamCacheControl);
  const stored: Stored = {
    status: cached.status,
    headers,
    body: await readUpTo(cached, settings.memoryEntryBytes),
    storedAt: Number.isFinite(storedAt) ? storedAt : Date.now(),
    ageWhenStored: seconds(headers.get("age")),
    lifetimes: lifetimesOf(headers, settings.staleIfErrorSeconds),
  };
  if (stored.body instanceof Uint8Array) {
    keepInMemory(key, generation, stored as Stored & { body: Bytes }, settings);
  }
  return stored;
}

/**
 * The whole body when it is at most `limit` bytes, else a stream of it (what was read, then the rest):
 * a large image is streamed, never held.
 */
async function readUpTo(response: Response, limit: number): Promise<Bytes | ReadableStream<Uint8Array>> {
  if (!response.body) return new Uint8Array();
  if (Number(response.headers.get("content-length") ?? 0) > limit) return response.body;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.byteLength;
    if (length > limit) {
      return new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(chunk);
        },
        async pull(controller) {
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
    }
  }
  const body = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

interface Miss {
  key: string;
  generation: number;
  request: Request;
  context: CacheContext;
  settings: CacheSettings;
  load: () => Promise<Response>;
  /** A copy past its lifetime that may answer if the upstream fails. */
  fallback?: Stored;
}

/**
 * What an upstream call for a key came to, for the requests that waited for it: an answer stored
 * whole (its bytes make a fresh Response for each), a failure, or an answer only its caller may have
 * (not public, or too large to hold), which the others then ask for themselves.
 */
type Outcome =
  | { kind: "stored"; stored: Stored & { body: Bytes } }
  | { kind: "failed"; error: unknown }
  | { kind: "unshared" };

/**
 * The upstream calls in flight, by key. Only their outcome (plain values) crosses between requests:
 * the Response belongs to the request that made it, and workerd forbids using it in another.
 */
const flights = new Map<string, { outcome: Promise<Outcome>; startedAt: number }>();

/** Keys being revalidated in the background, and since when: one revalidation per key at a time. */
const revalidations = new Map<string, number>();

async function fetchMiss(miss: Miss): Promise<Response> {
  // A HEAD's answer has no body to share or keep.
  if (miss.request.method === "HEAD") return await fetchUpstream(miss, false);
  const flight = flights.get(miss.key);
  const waited = flight ? Date.now() - flight.startedAt : Infinity;
  if (!flight || waited >= coalescedWaitMs) return await fetchUpstream(miss, true);

  const outcome = await within(flight.outcome, coalescedWaitMs - waited);
  if (outcome?.kind === "stored") return answer(outcome.stored, miss.request, "MISS", Date.now());
  if (outcome?.kind === "failed") return staleOrThrow(outcome.error, miss);
  return await fetchUpstream(miss, false);
}

/**
 * Calls the upstream and keeps what may be shared. With `share`, requests for the same key that
 * arrive meanwhile wait for this call's outcome instead of making their own.
 */
async function fetchUpstream(miss: Miss, share: boolean): Promise<Response> {
  const settled = Promise.withResolvers<Outcome>();
  if (share) flights.set(miss.key, { outcome: settled.promise, startedAt: Date.now() });
  let outcome: Outcome = { kind: "unshared" };
  try {
    const response = await miss.load();
    if (response.status >= 500 && miss.fallback) {
      await response.body?.cancel();
      const error = new ProblemError({
        status: 502,
        kind: "upstream-failure",
        detail: "the upstream could not answer; try again shortly",
      });
      outcome = { kind: "failed", error };
      return staleOrThrow(error, miss);
    }
    if (miss.request.method !== "GET" || edgeTtl(response.status, response.headers) === 0) {
      return withStatus(response, "MISS");
    }
    const stored = await keep(miss, response);
    if (stored.body instanceof Uint8Array) {
      outcome = { kind: "stored", stored: stored as Stored & { body: Bytes } };
    }
    return answer(stored, miss.request, "MISS", Date.now());
  } catch (error) {
    outcome = { kind: "failed", error };
    return staleOrThrow(error, miss);
  } finally {
    settled.resolve(outcome);
    if (flights.get(miss.key)?.outcome === settled.promise) flights.delete(miss.key);
  }
}

/**
 * Stores a shareable answer in both layers, the Cache API's write in the background. The copy is taken
 * now, before the app adds per-request headers to the answer.
 */
async function keep(miss: Miss, response: Response): Promise<Stored> {
  const { key, generation, settings, context } = miss;
  let body: Bytes | ReadableStream<Uint8Array>;
  try {
    body = await readUpTo(response, settings.memoryEntryBytes);
  } catch {
    throw new ProblemError({
      status: 502,
      kind: "upstream-failure",
      detail: "the upstream's answer broke off; try again shortly",
    });
  }
  const stored: Stored = {
    status: response.status,
    headers: new Headers(response.headers),
    body,
    storedAt: Date.now(),
    ageWhenStored: seconds(response.headers.get("age")),
    lifetimes: lifetimesOf(response.headers, settings.staleIfErrorSeconds),
  };
  if (body instanceof Uint8Array) {
    keepInMemory(key, generation, stored as Stored & { body: Bytes }, settings);
    context.ctx.waitUntil(putInCacheApi(key, stored, body));
    return stored;
  }
  // Too large for memory: the client's copy streams at once, the Cache API's alongside.
  const [forClient, forCache] = body.tee();
  context.ctx.waitUntil(putInCacheApi(key, stored, forCache));
  return { ...stored, body: forClient };
}

async function putInCacheApi(key: string, stored: Stored, body: BodyInit): Promise<void> {
  const headers = new Headers(stored.headers);
  headers.set(storedAtHeader, String(stored.storedAt));
  headers.set(upstreamCacheControlHeader, headers.get("cache-control") ?? "");
  // The runtime drops the entry after this, so it lives through its stale windows too.
  headers.set("cache-control", `public, s-maxage=${retention(stored.lifetimes)}`);
  try {
    await edgeCache().put(key, new Response(body, { status: stored.status, headers }));
  } catch (error) {
    console.error(JSON.stringify({ message: "edge cache write failed", key, error: String(error) }));
  }
}

/**
 * Refreshes a stale entry after the answer has gone, in the request's waitUntil, unless the key is
 * already being fetched. A revalidation that never reports back (its request's I/O was cancelled) is
 * given up on after `coalescedWaitMs`, so that the key is not stale for ever.
 */
function revalidateInBackground(miss: Miss): void {
  const since = revalidations.get(miss.key);
  if (flights.has(miss.key) || (since !== undefined && Date.now() - since < coalescedWaitMs)) return;
  revalidations.set(miss.key, Date.now());
  const revalidation = fetchUpstream({ ...miss, fallback: undefined }, true)
    .then((response) => response.body?.cancel())
    .catch((error) => {
      console.warn(
        JSON.stringify({ message: "edge cache revalidation failed", key: miss.key, error: String(error) }),
      );
    })
    .finally(() => revalidations.delete(miss.key));
  miss.context.ctx.waitUntil(revalidation);
}

/**
 * The stale copy, when there is one and the upstream failed (a 5xx, a timeout, an open breaker, an
 * answer broken off); otherwise the failure itself. A client error (the product is gone, say) is the
 * upstream's answer, not a failure, and no stale copy hides it.
 */
function staleOrThrow(error: unknown, miss: Miss): Response {
  const failed = !(error instanceof ProblemError) || error.problem.status >= 500;
  if (!failed || !miss.fallback) throw error;
  console.warn(JSON.stringify({
    message: "edge cache served a stale copy for a failing upstream",
    key: miss.key,
    error: String(error),
  }));
  return answer(miss.fallback, miss.request, "STALE", Date.now());
}

/** The promise's value, or undefined when it takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The generation this isolate last read (per binding), and until when it trusts it. Only plain values
 * are kept between requests: workerd cancels a request's pending I/O when that request ends, so a
 * promise shared with other requests could leave them waiting for ever.
 */
const known = new WeakMap<DurableObjectNamespace, { generation: number; until: number }>();

/** The newest generation this isolate has read, of any binding: memory entries older are dead. */
let newestGeneration: number | undefined;

async function currentGeneration(generations: DurableObjectNamespace, ttlMs: number): Promise<number> {
  const copy = known.get(generations);
  if (copy && Date.now() < copy.until) return copy.generation;
  return remember(generations, await askGeneration(generations, "GET"), Date.now() + ttlMs);
}

function remember(generations: DurableObjectNamespace, generation: number, until: number): number {
  // Generations only grow: a read that began before this isolate's own purge and ends after it must
  // not bring the purged generation back.
  const newest = Math.max(generation, known.get(generations)?.generation ?? generation);
  known.set(generations, { generation: newest, until });
  if (newestGeneration === undefined || newest > newestGeneration) {
    newestGeneration = newest;
    // Keys hold their generation, so older entries can no longer be read: their memory is freed now.
    memory?.deleteWhere((entry) => entry.generation < newest);
  }
  return newest;
}

async function askGeneration(generations: DurableObjectNamespace, method: "GET" | "POST"): Promise<number> {
  const stub = generations.get(generations.idFromName("edge-cache"));
  const response = await stub.fetch(new Request("https://cache-generation.internal/", { method }));
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`the cache generation object answered ${response.status}`);
  }
  const { generation } = await response.json() as { generation: number };
  return generation;
}

/**
 * The one source of the current cache generation: a Durable Object is strongly consistent, so after a
 * purge no isolate that asks can read the old generation. GET reads it; POST moves to the next one.
 */
export class CacheGeneration {
  #generation = 0;

  constructor(private readonly state: DurableObjectState) {
    state.blockConcurrencyWhile(async () => {
      this.#generation = await state.storage.get<number>("generation") ?? 0;
    });
  }

  async fetch(request: Request): Promise<Response> {
    if (request.method === "POST") {
      this.#generation += 1;
      await this.state.storage.put("generation", this.#generation);
    }
    return Response.json({ generation: this.#generation });
  }
}
