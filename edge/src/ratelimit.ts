/**
 * Token-bucket rate limiting. Each policy and key (`ip:<address>` or `user:<subject>`) has its own
 * Durable Object, so every edge location that sees the key counts against the same bucket: the count
 * is strongly consistent, not an estimate per location.
 */
import type { BucketPolicy } from "./config.ts";
import type { DurableObjectNamespace, DurableObjectState } from "./platform.ts";

export interface Bucket {
  tokens: number;
  /** Milliseconds since the epoch of the last refill. */
  updatedAt: number;
}

/** What the Durable Object answers for one request. */
export interface BucketDecision {
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until one token is back; 0 when the request was allowed. */
  retryAfterSeconds: number;
}

/**
 * Refills the bucket for the time since its last update, up to capacity, and takes one token if there
 * is one. A key seen for the first time starts with a full bucket.
 */
export function takeFromBucket(
  bucket: Bucket | undefined,
  policy: BucketPolicy,
  now: number,
): { bucket: Bucket; decision: BucketDecision } {
  const last = bucket ?? { tokens: policy.capacity, updatedAt: now };
  // A clock that steps back adds nothing, and the later time is kept so that no span is counted twice.
  const elapsedSeconds = Math.max(0, now - last.updatedAt) / 1000;
  const available = Math.min(policy.capacity, last.tokens + elapsedSeconds * policy.refillPerSecond);
  const allowed = available >= 1;
  const tokens = allowed ? available - 1 : available;
  return {
    bucket: { tokens, updatedAt: Math.max(now, last.updatedAt) },
    decision: {
      allowed,
      remaining: Math.floor(tokens),
      resetSeconds: Math.ceil((policy.capacity - tokens) / policy.refillPerSecond),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / policy.refillPerSecond)),
    },
  };
}

export interface RateDecision {
  allowed: boolean;
  /** Headers for the response: RateLimit-Policy and RateLimit, and Retry-After when refused. */
  headers: Record<string, string>;
}

/** Asks the key's Durable Object for a token and turns its answer into the IETF RateLimit headers. */
export async function takeToken(
  limiter: DurableObjectNamespace,
  policyName: string,
  policy: BucketPolicy,
  key: string,
): Promise<RateDecision> {
  // draft-ietf-httpapi-ratelimit-headers: the quota and the window in which an empty bucket refills.
  const name = structuredString(policyName);
  const windowSeconds = Math.ceil(policy.capacity / policy.refillPerSecond);
  const policyHeader = { "RateLimit-Policy": `${name};q=${policy.capacity};w=${windowSeconds}` };
  let decision: BucketDecision;
  try {
    // A JSON array keeps the name unambiguous whatever characters the policy name or key hold.
    const stub = limiter.get(limiter.idFromName(JSON.stringify([policyName, key])));
    const response = await stub.fetch(
      new Request("https://rate-limiter/take", { method: "POST", body: JSON.stringify(policy) }),
    );
    if (!response.ok) throw new Error(`the rate limiter answered ${response.status}`);
    decision = await response.json();
  } catch (error) {
    // Fail open: a limiter that cannot count (a storage error, an object being reset) must not take
    // the whole shop down with it, so the request goes through uncounted and the failure is logged.
    console.error(JSON.stringify({
      message: "rate limiter unavailable; request allowed without counting",
      policy: policyName,
      error: String(error),
    }));
    return { allowed: true, headers: policyHeader };
  }
  const headers: Record<string, string> = {
    ...policyHeader,
    RateLimit: `${name};r=${decision.remaining};t=${decision.resetSeconds}`,
  };
  if (!decision.allowed) headers["Retry-After"] = String(decision.retryAfterSeconds);
  return { allowed: decision.allowed, headers };
}

/** An RFC 8941 string item, as the RateLimit headers name their policy. */
function structuredString(value: string): string {
  return `"${value.replaceAll(/[\\"]/g, "\\$&")}"`;
}

const storageKey = "bucket";

/** The Durable Object holding one key's bucket; the policy comes with each request. */
export class RateLimiter {
  #bucket: Bucket | undefined;

  constructor(private readonly state: DurableObjectState) {
    // The stored bucket is loaded before the first request; from then on the in-memory copy is the
    // truth, read and replaced without an await in between, so concurrent requests never both take
    // the last token.
    state.blockConcurrencyWhile(async () => {
      this.#bucket = await state.storage.get<Bucket>(storageKey);
    });
  }

  async fetch(request: Request): Promise<Response> {
    const policy: BucketPolicy = await request.json();
    const { bucket, decision } = takeFromBucket(this.#bucket, policy, Date.now());
    this.#bucket = bucket;
    // Persisted so that an object restarted (evicted, moved, redeployed) keeps counting; the output
    // gate holds the answer back until the write is durable.
    await this.state.storage.put(storageKey, bucket);
    return Response.json(decision);
  }
}
