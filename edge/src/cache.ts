/**
 * The edge cache for public GETs (the Workers Cache API). An entry is keyed by its URL alone, so no
 * answer made for one caller may ever be stored: requests with credentials never touch the cache, and
 * only responses that the upstream marks public are kept. The Cache API cannot list its keys, so a
 * purge moves every key to a new generation, kept by one Durable Object.
 */
import {
  type DurableObjectNamespace,
  type DurableObjectState,
  edgeCache,
  type ExecutionContext,
} from "./platform.ts";

export const cacheStatusHeader = "x-cache-status";
type CacheStatus = "HIT" | "MISS" | "BYPASS";

export interface CacheContext {
  ctx: ExecutionContext;
  generations: DurableObjectNamespace;
  /** The CACHE_ENABLED variable: when false every request goes upstream and answers BYPASS. */
  enabled?: boolean;
}

/** Keys live on an origin of their own; the request's scheme and host are part of the path. */
const keyOrigin = "https://edge-cache.multishop.internal";

/** When the entry was stored (ms since the epoch): a hit adds the time since to the Age it had. */
const storedAtHeader = "x-edge-stored-at";

/**
 * How long an isolate keeps the generation it read. A purge reaches this isolate at once and every
 * other one within this time; asking the Durable Object on every request would put one object in the
 * path of all public traffic.
 */
const generationTtlMs = 5_000;

/**
 * Answers a public GET or HEAD from the cache, or from `load` (the upstream) and stores what may be
 * shared. HEAD is answered from a stored GET but never stored itself: its answer has no body.
 */
export async function cachedFetch(
  request: Request,
  context: CacheContext,
  load: () => Promise<Response>,
): Promise<Response> {
  // The key holds no user, so an answer to a caller who identifies themselves is never stored or
  // served from the cache. The app already sends requests with a token past it; this keeps that true
  // for any caller, and for cookies, which the shop does not use but an upstream could personalise on.
  const personal = request.headers.has("authorization") || request.headers.has("cookie");
  const read = request.method === "GET" || request.method === "HEAD";
  if (context.enabled === false || personal || !read) return withStatus(await load(), "BYPASS");

  let generation: number;
  try {
    generation = await currentGeneration(context.generations);
  } catch (error) {
    // The cache only saves work: without a generation the request is still served, uncached.
    console.error(JSON.stringify({ message: "edge cache generation unavailable", error: String(error) }));
    return withStatus(await load(), "BYPASS");
  }

  const key = cacheKey(request.url, generation);
  const cache = edgeCache();
  // The client's validators travel with the lookup, so the runtime answers 304 from the entry.
  const lookup = new Request(key, { headers: pick(request.headers, ["if-none-match", "if-modified-since"]) });
  const cached = await cache.match(lookup);
  if (cached) return fromCache(cached, request.method === "HEAD");

  const response = await load();
  if (request.method === "GET" && edgeTtl(response.status, response.headers) > 0) {
    // The copy is taken now, before the app adds per-request headers to the answer, and written in
    // the background so that the client's body streams at once.
    context.ctx.waitUntil(store(cache, key, response.clone()));
  }
  return withStatus(response, "MISS");
}

/** Drops every cached entry by moving to a new cache generation. */
export async function purgeCache(
  generations: DurableObjectNamespace,
): Promise<{ purged: true; generation: number }> {
  const generation = remember(generations, await askGeneration(generations, "POST"));
  return { purged: true, generation };
}

/**
 * How long the edge may keep a response, in seconds; 0 when it must not store it. Only a 200 that
 * the upstream calls public, with no cookie, is shared. `s-maxage` is the shared caches' lifetime and
 * wins over `max-age`; the runtime expires the entry by the same rule, so the stored copy keeps the
 * upstream's Cache-Control, which clients see unchanged on a hit.
 */
export function edgeTtl(status: number, headers: Headers): number {
  if (status !== 200 || headers.has("set-cookie") || !varyIsKeyed(headers.get("vary"))) return 0;
  const directives = cacheDirectives(headers.get("cache-control"));
  if (!directives.has("public")) return 0;
  if (["private", "no-store", "no-cache"].some((name) => directives.has(name))) return 0;
  const lifetime = seconds(
    directives.has("s-maxage") ? directives.get("s-maxage") : directives.get("max-age"),
  );
  return Math.max(0, lifetime - seconds(headers.get("age")));
}

/**
 * The cache key: the generation, then the request's URL with its query parameters sorted by name
 * (so `?a=1&b=2` and `?b=2&a=1` share an entry; repeated names keep their order, which can matter).
 */
export function cacheKey(url: string, generation: number): string {
  const { protocol, host, pathname, searchParams } = new URL(url);
  searchParams.sort();
  const query = searchParams.toString();
  const search = query ? `?${query}` : "";
  return `${keyOrigin}/${generation}/${protocol.replace(":", "")}/${host}${pathname}${search}`;
}

/** The Age of a stored entry now: the age it had when stored plus the whole seconds since. */
export function currentAge(headers: Headers, now: number): number {
  const storedAt = Number(headers.get(storedAtHeader));
  const resident = Number.isFinite(storedAt) ? Math.max(0, Math.floor((now - storedAt) / 1000)) : 0;
  return seconds(headers.get("age")) + resident;
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

function withStatus(response: Response, status: CacheStatus): Response {
  response.headers.set(cacheStatusHeader, status);
  return response;
}

function fromCache(cached: Response, head: boolean): Response {
  const headers = new Headers(cached.headers);
  headers.set("age", String(currentAge(headers, Date.now())));
  headers.delete(storedAtHeader);
  headers.set(cacheStatusHeader, "HIT");
  if (head) cached.body?.cancel();
  return new Response(head ? null : cached.body, { status: cached.status, headers });
}

async function store(cache: Cache, key: string, copy: Response): Promise<void> {
  const headers = new Headers(copy.headers);
  headers.set(storedAtHeader, String(Date.now()));
  try {
    await cache.put(key, new Response(copy.body, { status: copy.status, headers }));
  } catch (error) {
    console.error(JSON.stringify({ message: "edge cache write failed", key, error: String(error) }));
  }
}

function pick(headers: Headers, names: string[]): Headers {
  const picked = new Headers();
  for (const name of names) {
    const value = headers.get(name);
    if (value !== null) picked.set(name, value);
  }
  return picked;
}

/**
 * The generation this isolate last read (per binding), and until when it trusts it. Only plain values
 * are kept between requests: workerd cancels a request's pending I/O when that request ends, so a
 * promise shared with other requests could leave them waiting for ever.
 */
const known = new WeakMap<DurableObjectNamespace, { generation: number; until: number }>();

async function currentGeneration(generations: DurableObjectNamespace): Promise<number> {
  const copy = known.get(generations);
  if (copy && Date.now() < copy.until) return copy.generation;
  return remember(generations, await askGeneration(generations, "GET"));
}

function remember(generations: DurableObjectNamespace, generation: number): number {
  // Generations only grow: a read that began before this isolate's own purge and ends after it must
  // not bring the purged generation back.
  const newest = Math.max(generation, known.get(generations)?.generation ?? generation);
  known.set(generations, { generation: newest, until: Date.now() + generationTtlMs });
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
