/**
 * Token-bucket rate limiting. Each policy and key (`ip:<address>` or `user:<subject>`) has one bucket, in
 * a Durable Object of its own, so every edge location that sees the key counts against the same bucket.
 * The policies differ in how often a request asks that object:
 *
 * - Strictly counted (`login` and `contact`: sign-in, registration, contact): every request takes its
 *   token from the object. Exact wherever the requests come from, for a round trip to the object's
 *   location on each of these few requests.
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
 * Nothing grows with the number of clients seen: an object deletes its bucket (an alarm) when it is full
 * again, which is no different from having none, and an isolate keeps a bounded table of leases.
 */
import type { BucketPolicy } from "./config.ts";
import type { DurableObjectNamespace, DurableObjectState } from "./platform.ts";

/** The policies whose every request is counted in the bucket's object: the few that guard accounts. */
export const strictlyCountedPolicies: ReadonlySet<string> = new Set(["login", "contact"]);

/** The share of a bucket an isolate leases at once for the other policies (at least one token). */
const leaseShare = 0.1;

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
    const stub = limiter.get(limiter.idFromName(bucketName(policyName, key)));
    const response = await stub.fetch(
      new Request("https://rate-limiter/take", { method: "POST", body: JSON.stringify({ policy, wanted }) }),
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

/** The object's name: a JSON array keeps it unambiguous whatever characters the policy or key hold. */
export function bucketName(policyName: string, key: string): string {
  return JSON.stringify([policyName, key]);
}

/** Headers for a request let through uncounted: only the policy is known. */
function failedOpen(policyName: string, policy: BucketPolicy): RateDecision {
  return { allowed: true, headers: policyHeader(policyName, policy) };
}

/** draft-ietf-httpapi-ratelimit-headers: the quota and the window in which an empty bucket refills. */
function policyHeader(policyName: string, policy: BucketPolicy): Record<string, string> {
  const windowSeconds = Math.ceil(policy.capacity / policy.refillPerSecond);
  return { "RateLimit-Policy": `${structuredString(policyName)};q=${policy.capacity};w=${windowSeconds}` };
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
    RateLimit: `${structuredString(policyName)};r=${Math.floor(tokensLeft)};t=${
      Math.ceil((policy.capacity - tokensLeft) / policy.refillPerSecond)
    }`,
  };
  if (!allowed) {
    headers["Retry-After"] = String(Math.max(1, Math.ceil((1 - tokensLeft) / policy.refillPerSecond)));
  }
  return { allowed, headers };
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

const storageKey = "bucket";

/** What a bucket object answers to a GET: for tests and operators, never reachable by a client. */
export interface BucketInspection {
  /** Takes answered since the object was loaded into memory. */
  takes: number;
  /** Everything the object has in storage. */
  stored: Record<string, unknown>;
}

/**
 * The Durable Object holding one key's bucket; the policy comes with each request. When the bucket is
 * full again an alarm deletes it: a full bucket and none are the same, so storage holds only the buckets
 * of clients seen within their window.
 */
export class RateLimiter {
  #bucket: Bucket | undefined;
  #takes = 0;

  constructor(private readonly state: DurableObjectState) {
    // The stored bucket is loaded before the first request; from then on the in-memory copy is the
    // truth, read and replaced without an await in between, so concurrent requests never both take
    // the last token.
    state.blockConcurrencyWhile(async () => {
      this.#bucket = await state.storage.get<Bucket>(storageKey);
    });
  }

  async fetch(request: Request): Promise<Response> {
    if (request.method === "GET") {
      const inspection: BucketInspection = {
        takes: this.#takes,
        stored: Object.fromEntries(await this.state.storage.list()),
      };
      return Response.json(inspection);
    }
    const { policy, wanted }: { policy: BucketPolicy; wanted: number } = await request.json();
    const { bucket, granted } = takeFromBucket(this.#bucket, policy, Date.now(), wanted);
    this.#bucket = bucket;
    this.#takes++;
    // Persisted so that an object restarted (evicted, moved, redeployed) keeps counting; the output
    // gate holds the answer back until both writes are durable. Each take moves the alarm to the new
    // time the bucket is full.
    await this.state.storage.put(storageKey, bucket);
    await this.state.storage.setAlarm(fullAt(bucket, policy));
    const grant: Grant = { granted, tokensLeft: bucket.tokens };
    return Response.json(grant);
  }

  /** Runs at the time the last take said the bucket would be full again. */
  async alarm(): Promise<void> {
    await this.state.storage.deleteAll();
    this.#bucket = undefined;
  }
}
