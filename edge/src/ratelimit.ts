/**
 * Token-bucket rate limiting. Each policy and key (`ip:<address>` or `user:<subject>`) has one bucket, kept
 * by one Durable Object, so every edge location that sees the key counts against the same bucket. The
 * buckets are sharded: a stable hash of the policy and key picks one of `shardCount` objects, each holding
 * the buckets of many keys, so the number of objects is fixed however many clients are seen (one object per
 * key made workerd keep an instance for every address it ever saw). The policies differ in how often a
 * request asks the bucket's object:
 *
 * - Strictly counted (`login` and `contact`: sign-in, registration, contact): every request takes its
 *   token from the object. Exact wherever the requests come from (one object decides each key), for a
 *   round trip to the object's location on each of these few requests.
 * - Leased (every other policy: `default` per address, `authenticated` per user): an isolate takes a
 *   tenth of the bucket at once and spends it without asking, so in the steady state a request is decided
 *   inside the isolate; the object is asked again when the lease is spent, and a bucket seen empty is
 *   refused locally until its next token is due. Every token spent came out of the bucket, so the rate
 *   over time is exact; what is approximate is when. A lease is kept while the bucket refills (dropping it
 *   would send a client slower than the refill to the object on every request), so a burst can take a
 *   full bucket plus the unspent lease of each isolate the client reaches: with I isolates, at most
 *   I leases beyond the bucket. One isolate can refuse while another still holds unspent tokens of the
 *   same key, and the RateLimit header's remaining quota is this isolate's view.
 *
 * Not the Workers rate-limiting binding: its limits are fixed in wrangler.jsonc (RATE_LIMITS could not
 * set them), its periods are 10 or 60 seconds, it counts per Cloudflare location, and it answers only
 * whether a request may pass, with nothing for the RateLimit headers or Retry-After; Miniflare, besides,
 * implements it with a Durable Object call per request.
 *
 * Nothing grows with the number of clients seen: the objects are a fixed set of shards, a shard deletes a
 * bucket (its alarm) once it is full again, which is no different from having none, so it holds only the
 * buckets of clients active within a refill window, and an isolate keeps a bounded table of leases.
 */
import type { BucketPolicy } from "./config.ts";
import type { DurableObjectKeyStorage, DurableObjectNamespace, DurableObjectState } from "./platform.ts";

/** The policies whose every request is counted in the bucket's object: the few that guard accounts. */
export const strictlyCountedPolicies: ReadonlySet<string> = new Set(["login", "contact"]);

/** The share of a bucket an isolate leases at once for the other policies (at least one token). */
const leaseShare = 0.1;

/**
 * How many bucket objects there are. Fixed, because every object ever addressed stays an instance in
 * workerd; 64 spreads the strictly counted requests (and on Cloudflare, the objects' locations) over
 * enough objects that none is a hot spot, while bounding the instances to a number that costs nothing.
 * Changing it moves keys to other shards, which then start with full buckets (at worst one extra window).
 */
export const shardCount = 64;

export interface Bucket {
  tokens: number;
  /** Milliseconds since the epoch of the last refill. */
  updatedAt: number;
}

/** What the bucket's object answers: the tokens it gave and what was left after them. */
export interface Grant {
  granted: number;
  /** Tokens left in the bucket, fractions included. */
  tokensLeft: number;
}

/**
 * Refills the bucket for the time since its last update, up to capacity, and takes up to `wanted` whole
 * tokens from it, as many as there are. A key seen for the first time starts with a full bucket.
 */
export function takeFromBucket(
  bucket: Bucket | undefined,
  policy: BucketPolicy,
  now: number,
  wanted = 1,
): { bucket: Bucket; granted: number } {
  const last = bucket ?? { tokens: policy.capacity, updatedAt: now };
  // A clock that steps back adds nothing, and the later time is kept so that no span is counted twice.
  const elapsedSeconds = Math.max(0, now - last.updatedAt) / 1000;
  const available = Math.min(policy.capacity, last.tokens + elapsedSeconds * policy.refillPerSecond);
  const granted = Math.max(0, Math.min(wanted, Math.floor(available)));
  return { bucket: { tokens: available - granted, updatedAt: Math.max(now, last.updatedAt) }, granted };
}

/** When a bucket left with these tokens is full again, in milliseconds since the epoch. */
export function fullAt(bucket: Bucket, policy: BucketPolicy): number {
  return bucket.updatedAt + Math.max(0, policy.capacity - bucket.tokens) / policy.refillPerSecond * 1000;
}

export interface RateDecision {
  allowed: boolean;
  /** Headers for the response: RateLimit-Policy and RateLimit, and Retry-After when refused. */
  headers: Record<string, string>;
}

/**
 * Takes a token for one request from the key's bucket under a policy and answers with the IETF
 * RateLimit headers: from the bucket's object for the strictly counted policies, from this isolate's
 * lease for the others.
 */
export function takeToken(
  limiter: DurableObjectNamespace,
  policyName: string,
  policy: BucketPolicy,
  key: string,
  leases: LeaseTable = isolateLeases,
): Promise<RateDecision> {
  return strictlyCountedPolicies.has(policyName)
    ? takeFromObject(limiter, policyName, policy, key)
    : leases.take(limiter, policyName, policy, key);
}

async function takeFromObject(
  limiter: DurableObjectNamespace,
  policyName: string,
  policy: BucketPolicy,
  key: string,
): Promise<RateDecision> {
  const grant = await askBucket(limiter, policyName, policy, key, 1);
  if (!grant) return failedOpen(policyName, policy);
  return decision(policyName, policy, grant.granted === 1, grant.tokensLeft);
}

/**
 * One request to the key's bucket object for `wanted` tokens; undefined when the object cannot answer.
 * Fails open: a limiter that cannot count (a storage error, an object being reset) must not take the whole
 * shop down with it, so the request goes through uncounted and the failure is logged.
 */
async function askBucket(
  limiter: DurableObjectNamespace,
  policyName: string,
  policy: BucketPolicy,
  key: string,
  wanted: number,
): Promise<Grant | undefined> {
  try {
    const name = bucketName(policyName, key);
    const stub = limiter.get(limiter.idFromName(shardName(name)));
    const take: TakeRequest = { bucket: name, policy, wanted };
    const response = await stub.fetch(
      new Request("https://rate-limiter/take", { method: "POST", body: JSON.stringify(take) }),
    );
    if (!response.ok) throw new Error(`the rate limiter answered ${response.status}`);
    return await response.json();
  } catch (error) {
    console.error(JSON.stringify({
      message: "rate limiter unavailable; request allowed without counting",
      policy: policyName,
      error: String(error),
    }));
    return undefined;
  }
}

/** The bucket's name: a JSON array keeps it unambiguous whatever characters the policy or key hold. */
export function bucketName(policyName: string, key: string): string {
  return JSON.stringify([policyName, key]);
}

/**
 * The name of the object holding a bucket (`shard:<n>`), from a stable hash of the bucket's name (32-bit
 * FNV-1a over its UTF-16 code units): every isolate and location sends a key to the same object.
 */
export function shardName(bucket: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bucket.length; i++) {
    hash ^= bucket.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return `shard:${(hash >>> 0) % shardCount}`;
}

/** Headers for a request let through uncounted: only the policy is known. */
function failedOpen(policyName: string, policy: BucketPolicy): RateDecision {
  return { allowed: true, headers: policyHeader(policyName, policy) };
}

/** draft-ietf-httpapi-ratelimit-headers: the quota and the window in which an empty bucket refills. */
function policyHeader(policyName: string, policy: BucketPolicy): Record<string, string> {
  const windowSeconds = Math.ceil(policy.capacity / policy.refillPerSecond);
  return { "RateLimit-Policy": `${policyLabel(policyName)};q=${policy.capacity};w=${windowSeconds}` };
}

/** The headers for a decision, given the tokens the caller has left after it (fractions included). */
function decision(
  policyName: string,
  policy: BucketPolicy,
  allowed: boolean,
  tokensLeft: number,
): RateDecision {
  const headers: Record<string, string> = {
    ...policyHeader(policyName, policy),
    RateLimit: `${policyLabel(policyName)};r=${Math.floor(tokensLeft)};t=${
      Math.ceil((policy.capacity - tokensLeft) / policy.refillPerSecond)
    }`,
  };
  if (!allowed) {
    headers["Retry-After"] = String(Math.max(1, Math.ceil((1 - tokensLeft) / policy.refillPerSecond)));
  }
  return { allowed, headers };
}

/** The policy's name as the RateLimit header writes it, made once per name. */
const policyLabels = new Map<string, string>();

function policyLabel(policyName: string): string {
  let label = policyLabels.get(policyName);
  if (label === undefined) policyLabels.set(policyName, label = structuredString(policyName));
  return label;
}

/** An RFC 8941 string item, as the RateLimit headers name their policy. */
function structuredString(value: string): string {
  return `"${value.replaceAll(/[\\"]/g, "\\$&")}"`;
}

/** What an isolate knows of one key's bucket under a leased policy. */
interface Lease {
  policy: BucketPolicy;
  /** Whole tokens taken from the bucket and not yet spent here. */
  tokens: number;
  /** The bucket's tokens after the last grant, and when that was (this isolate's clock). */
  bucketTokens: number;
  seenAt: number;
  /** The last request that used this entry, for eviction. */
  usedAt: number;
}

/**
 * The bucket's tokens now as far as this isolate can tell: what it had left, refilled since. Other
 * isolates only take from it, so the real bucket holds no more: below one token, a request can be
 * refused without asking.
 */
function bucketEstimate(lease: Lease, now: number): number {
  const refilled = Math.max(0, now - lease.seenAt) / 1000 * lease.policy.refillPerSecond;
  return Math.min(lease.policy.capacity, lease.bucketTokens + refilled);
}

/**
 * The leases of one isolate, one entry per policy and key. Bounded: entries are kept in the order they
 * were last used, and each request drops, oldest first, those over `maxEntries`, those idle for
 * `idleMs` (their unspent tokens are lost to the client, which only ever makes the limit stricter) and
 * those with nothing to remember (no token left and the bucket full again, as if never seen).
 */
export class LeaseTable {
  readonly #entries = new Map<string, Lease>();
  /** One request to an object per key at a time; the requests arriving meanwhile wait for its grant. */
  readonly #pending = new Map<string, Promise<Lease | undefined>>();
  readonly #maxEntries: number;
  readonly #idleMs: number;

  constructor({ maxEntries = 10_000, idleMs = 60_000 }: { maxEntries?: number; idleMs?: number } = {}) {
    this.#maxEntries = maxEntries;
    this.#idleMs = idleMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  async take(
    limiter: DurableObjectNamespace,
    policyName: string,
    policy: BucketPolicy,
    key: string,
  ): Promise<RateDecision> {
    const name = bucketName(policyName, key);
    // Each pass decides, or waits for a grant and decides from it; it asks again only when requests
    // waiting for the same grant spent it first and the bucket may still hold tokens.
    for (;;) {
      const now = Date.now();
      this.#evict(now);
      const known = this.#entries.get(name);
      if (known) this.#touch(name, known, now);
      const decided = known && spendOrRefuse(known, policyName, policy, now);
      if (decided) return decided;
      let pending = this.#pending.get(name);
      if (!pending) {
        const wanted = Math.max(1, Math.floor(policy.capacity * leaseShare));
        pending = askBucket(limiter, policyName, policy, key, wanted)
          .then((grant) => grant && this.#record(name, policy, grant))
          .finally(() => this.#pending.delete(name));
        this.#pending.set(name, pending);
      }
      // Decided from the lease itself, not the table: tokens it holds were taken from the bucket even if
      // the entry was evicted meanwhile.
      const lease = await pending;
      if (!lease) return failedOpen(policyName, policy);
      const decidedFromGrant = spendOrRefuse(lease, policyName, policy, Date.now());
      if (decidedFromGrant) return decidedFromGrant;
    }
  }

  /** A lease is only asked for once the previous one is spent, so the grant replaces it. */
  #record(name: string, policy: BucketPolicy, grant: Grant): Lease {
    const now = Date.now();
    const lease = { policy, tokens: grant.granted, bucketTokens: grant.tokensLeft, seenAt: now, usedAt: now };
    this.#entries.delete(name);
    this.#entries.set(name, lease);
    this.#evict(now);
    return lease;
  }

  #touch(name: string, lease: Lease, now: number): void {
    lease.usedAt = now;
    this.#entries.delete(name);
    this.#entries.set(name, lease);
  }

  #evict(now: number): void {
    for (const [name, lease] of this.#entries) {
      const idle = now - lease.usedAt > this.#idleMs;
      const forgettable = lease.tokens < 1 && bucketEstimate(lease, now) >= lease.policy.capacity;
      if (this.#entries.size <= this.#maxEntries && !idle && !forgettable) break;
      this.#entries.delete(name);
    }
  }
}

/**
 * A request decided from a lease: a token spent from it, or a refusal when the bucket cannot hold one;
 * undefined when only the bucket's object can tell.
 */
function spendOrRefuse(lease: Lease, policyName: string, policy: BucketPolicy, now: number) {
  if (lease.tokens >= 1) {
    lease.tokens -= 1;
    return decision(policyName, policy, true, visibleTokens(lease, now));
  }
  if (bucketEstimate(lease, now) < 1) return decision(policyName, policy, false, visibleTokens(lease, now));
  return undefined;
}

/** What the client has left as this isolate sees it: its lease and the bucket, at most a full bucket. */
function visibleTokens(lease: Lease, now: number): number {
  return Math.min(lease.policy.capacity, lease.tokens + bucketEstimate(lease, now));
}

const isolateLeases = new LeaseTable();

/** What an isolate asks a shard: `wanted` tokens from the named bucket, under the policy it sends. */
interface TakeRequest {
  bucket: string;
  policy: BucketPolicy;
  wanted: number;
}

/** A bucket as a shard keeps it, in memory and in storage: with when it is full again, for the alarm. */
export interface StoredBucket extends Bucket {
  /** Milliseconds since the epoch, under the policy of the last take. */
  fullAt: number;
}

/** Each bucket is stored under its own key, so a take writes only its bucket. */
const storagePrefix = "bucket:";

/** Durable Object storage deletes at most 128 keys in one call. */
const deleteBatch = 128;

/** What a shard answers to a GET: for tests and operators, never reachable by a client. */
export interface ShardInspection {
  /** The buckets held in memory, by bucket name, with the takes each answered since it was loaded. */
  held: Record<string, { takes: number; bucket: StoredBucket }>;
  /** Everything the object has in storage, by storage key (`bucket:` and the bucket's name). */
  stored: Record<string, unknown>;
}

/** The storage key of a bucket in its shard. */
export function bucketStorageKey(bucket: string): string {
  return storagePrefix + bucket;
}

/**
 * The Durable Object holding one shard's buckets; the bucket's name and policy come with each request.
 * A bucket full again is the same as none, so the shard's one alarm is set for the earliest time a held
 * bucket is full; it deletes every full bucket and is set again for the next. Memory and storage hold
 * only the buckets of clients seen within their window.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { bucket: StoredBucket; takes: number }>();
  /** When the alarm is set for, as far as this instance knows; never later than any held bucket's fullAt. */
  #alarmAt: number | undefined;

  constructor(private readonly state: DurableObjectState<DurableObjectKeyStorage>) {
    // The stored buckets are loaded before the first request; from then on the in-memory copies are the
    // truth, read and replaced without an await in between, so concurrent requests never both take
    // the last token.
    state.blockConcurrencyWhile(async () => {
      for (const [key, bucket] of await state.storage.list()) {
        if (!key.startsWith(storagePrefix)) continue;
        const stored = bucket as StoredBucket;
        this.#buckets.set(key.slice(storagePrefix.length), { bucket: stored, takes: 0 });
        this.#alarmAt = Math.min(this.#alarmAt ?? Infinity, stored.fullAt);
      }
      // Set again for the earliest stored bucket, so that a lost alarm (an alarm handler that kept failing)
      // strands no bucket; one already due runs at once.
      if (this.#alarmAt !== undefined) await state.storage.setAlarm(this.#alarmAt);
    });
  }

  async fetch(request: Request): Promise<Response> {
    if (request.method === "GET") {
      const inspection: ShardInspection = {
        held: Object.fromEntries(this.#buckets),
        stored: Object.fromEntries(await this.state.storage.list()),
      };
      return Response.json(inspection);
    }
    const { bucket: name, policy, wanted }: TakeRequest = await request.json();
    const entry = this.#buckets.get(name);
    const { bucket, granted } = takeFromBucket(entry?.bucket, policy, Date.now(), wanted);
    const stored: StoredBucket = { ...bucket, fullAt: fullAt(bucket, policy) };
    this.#buckets.set(name, { bucket: stored, takes: (entry?.takes ?? 0) + 1 });
    // Persisted so that an object restarted (evicted, moved, redeployed) keeps counting; the output
    // gate holds the answer back until the writes are durable. A take only moves its bucket's fullAt
    // later, so the alarm moves only when this bucket is now the earliest to be full.
    const writes = [this.state.storage.put(bucketStorageKey(name), stored)];
    if (this.#alarmAt === undefined || stored.fullAt < this.#alarmAt) {
      this.#alarmAt = stored.fullAt;
      writes.push(this.state.storage.setAlarm(stored.fullAt));
    }
    await Promise.all(writes);
    const grant: Grant = { granted, tokensLeft: bucket.tokens };
    return Response.json(grant);
  }

  /** Deletes every bucket full by now, and sets the alarm again for the earliest of the others. */
  async alarm(): Promise<void> {
    // Decided and issued without an await in between, so a take arriving meanwhile comes after it: its
    // write lands after the deletion, and it sets the alarm again if its bucket is the earliest.
    const now = Date.now();
    const full: string[] = [];
    let next: number | undefined;
    for (const [name, { bucket }] of this.#buckets) {
      if (bucket.fullAt <= now) {
        full.push(name);
        this.#buckets.delete(name);
      } else {
        next = Math.min(next ?? Infinity, bucket.fullAt);
      }
    }
    this.#alarmAt = next;
    const writes: Promise<unknown>[] = [];
    for (let start = 0; start < full.length; start += deleteBatch) {
      writes.push(this.state.storage.delete(full.slice(start, start + deleteBatch).map(bucketStorageKey)));
    }
    if (next !== undefined) writes.push(this.state.storage.setAlarm(next));
    await Promise.all(writes);
  }
}
