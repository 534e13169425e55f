/** Token-bucket rate limiting, one Durable Object per key (strongly consistent). */
import type { BucketPolicy } from "./config.ts";
import type { DurableObjectNamespace, DurableObjectState } from "./platform.ts";

export interface RateDecision {
  allowed: boolean;
  /** Headers for the response: RateLimit-Policy and RateLimit, and Retry-After when refused. */
  headers: Record<string, string>;
}

export function takeToken(
  _limiter: DurableObjectNamespace,
  _policyName: string,
  _policy: BucketPolicy,
  _key: string,
): Promise<RateDecision> {
  return Promise.resolve({ allowed: true, headers: {} });
}

export class RateLimiter {
  constructor(readonly state: DurableObjectState) {}
  fetch(_request: Request): Response {
    return new Response(null, { status: 501 });
  }
}
