/**
 * Calling upstreams, which Ocelot's QoS options and Polly did for MultiShop: a timeout per attempt,
 * retries only where sending a request twice is safe, a retry budget so that retries cannot multiply
 * the load on a failing upstream, and a circuit breaker per upstream that stops calling it while it
 * fails.
 *
 * Breakers and budgets are module state, one per upstream per isolate: an isolate serves many requests
 * and this is what it can remember between them without I/O. Isolates do not share it, so each learns
 * on its own, within a few requests, that an upstream is failing.
 */
import { ProblemError } from "@multishop/kit/problem";
import type { EdgeConfig, UpstreamName } from "./config.ts";
import type { Route } from "./routes.ts";

export interface ResiliencePolicy {
  /**
   * Consecutive failures that open an upstream's breaker: connection errors, timeouts, and 502, 503
   * and 504 answers (see `unhealthy`).
   */
  breakerFailures: number;
  /** How long an open breaker refuses calls before it lets one probe through. */
  breakerCooldownMs: number;
  /** Retries after the first attempt. */
  maxRetries: number;
  /** The wait before retry n (from 0) is drawn from [0, min(cap, base · 2ⁿ)): "full jitter". */
  retryBaseMs: number;
  retryCapMs: number;
  /** Retries may be at most this share of an upstream's requests over the window, */
  retryBudgetRatio: number;
  /** but this many are always allowed, so that an isolate with little traffic can still retry. */
  retryBudgetMinimum: number;
  retryBudgetWindowMs: number;
  /** When set, no attempt waits longer than this for an answer, whatever its route says. */
  timeoutCapMs?: number;
}

export const defaultPolicy: ResiliencePolicy = {
  breakerFailures: 5,
  breakerCooldownMs: 10_000,
  maxRetries: 2,
  retryBaseMs: 50,
  retryCapMs: 1_000,
  retryBudgetRatio: 0.2,
  retryBudgetMinimum: 10,
  retryBudgetWindowMs: 10_000,
};

/** The Worker variables' overrides of `defaultPolicy`; every call passes the same ones. */
export function configuredPolicy(config: EdgeConfig): Partial<ResiliencePolicy> {
  return {
    breakerFailures: config.BREAKER_FAILURES,
    breakerCooldownMs: config.BREAKER_COOLDOWN_MS,
    timeoutCapMs: config.UPSTREAM_TIMEOUT_CAP_MS,
  };
}

export interface UpstreamCall {
  upstream: UpstreamName;
  route: Route;
  request: Request;
  /**
   * Overrides of `defaultPolicy` from the Worker's variables. They must be the same for every call in
   * an isolate: an upstream's breaker and budget keep the values of the first call.
   */
  policy?: Partial<ResiliencePolicy>;
}

type Outcome = { response: Response } | { failure: "timeout" | "unreachable" };

const guards = new Map<UpstreamName, { breaker: CircuitBreaker; budget: RetryBudget }>();

function guardsOf(upstream: UpstreamName, policy: ResiliencePolicy) {
  let guard = guards.get(upstream);
  if (!guard) {
    guard = {
      breaker: new CircuitBreaker({ failures: policy.breakerFailures, cooldownMs: policy.breakerCooldownMs }),
      budget: new RetryBudget({
        ratio: policy.retryBudgetRatio,
        minimum: policy.retryBudgetMinimum,
        windowMs: policy.retryBudgetWindowMs,
      }),
    };
    guards.set(upstream, guard);
  }
  return guard;
}

export async function callUpstream(call: UpstreamCall): Promise<Response> {
  const policy = resolvePolicy(call.policy);
  const { breaker, budget } = guardsOf(call.upstream, policy);
  const timeoutMs = Math.min(call.route.timeoutMs, policy.timeoutCapMs ?? Infinity);

  const retryable = mayRetry(call.route, call.request);
  // A retry sends the body again, so it is read into memory, but only when a retry can happen (its
  // size is then known and below the edge's limit); any other body streams through.
  const body = retryable && call.request.body ? await call.request.arrayBuffer() : undefined;
  const nextRequest = () =>
    body === undefined ? call.request : new Request(call.request.url, {
      method: call.request.method,
      headers: call.request.headers,
      body,
      redirect: call.request.redirect,
    });

  let outcome: Outcome | undefined;
  for (let retry = 0;; retry++) {
    const entry = breaker.enter();
    if (!entry.pass) {
      // A retry refused by the breaker answers with what the previous attempt got.
      if (outcome) return settle(outcome, call.upstream);
      throw new ProblemError({
        status: 503,
        kind: "upstream-unavailable",
        detail: `the ${call.upstream} service is failing; the edge stopped calling it for a moment`,
        headers: { "retry-after": String(Math.max(1, Math.ceil(entry.retryAfterMs / 1000))) },
      });
    }
    if (retry === 0) budget.request();
    outcome = await send(nextRequest(), timeoutMs);
    breaker.record(entry, !unhealthy(outcome));

    if (!retryable || retry >= policy.maxRetries || !unhealthy(outcome)) {
      return settle(outcome, call.upstream);
    }
    const wait = retryDelay(retry, policy, "response" in outcome ? outcome.response.headers : undefined);
    if (wait === undefined || !budget.withdraw()) return settle(outcome, call.upstream);
    if ("response" in outcome) {
      // Only the status and Retry-After of a failed answer matter (its body never reaches the client),
      // so the connection is released now rather than held through the wait.
      const { status, headers } = outcome.response;
      await outcome.response.body?.cancel();
      outcome = { response: new Response(null, { status, headers }) };
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

function resolvePolicy(overrides: Partial<ResiliencePolicy> = {}): ResiliencePolicy {
  const given = Object.entries(overrides).filter(([, value]) => value !== undefined);
  return { ...defaultPolicy, ...Object.fromEntries(given) };
}

/**
 * One attempt. The timeout covers the wait for the answer's head; the body then streams at the
 * client's pace, so a large image is not cut off halfway.
 */
async function send(request: Request, timeoutMs: number): Promise<Outcome> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    return { response: await fetch(request, { signal: controller.signal }) };
  } catch {
    return { failure: timedOut ? "timeout" : "unreachable" };
  } finally {
    clearTimeout(timer);
  }
}

/** An answer goes back as it is (proxy.ts turns 5xx into the edge's own problem); a failure becomes one. */
function settle(outcome: Outcome, upstream: UpstreamName): Response {
  if ("response" in outcome) return outcome.response;
  const timedOut = outcome.failure === "timeout";
  throw new ProblemError({
    status: timedOut ? 504 : 502,
    kind: "upstream-failure",
    detail: timedOut
      ? `the ${upstream} service did not answer in time`
      : `the ${upstream} service cannot be reached`,
  });
}

/**
 * Whether an attempt says the upstream itself is unhealthy, so that another attempt may fare better
 * and the breaker counts it: the upstream could not be reached or did not answer in time, or it (or a
 * proxy in front of it) said so with 502, 503 or 504. Any other answer, 500 included, came from a
 * running upstream and concerns that one request: a client that provokes 500s (a bug to fix upstream)
 * must not be able to open the breaker, and so stop the upstream for every other client.
 */
function unhealthy(outcome: Outcome): boolean {
  return "failure" in outcome || [502, 503, 504].includes(outcome.response.status);
}

const idempotentMethods = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"];

/**
 * Whether this request may be sent more than once: its route allows retries, and its method is
 * idempotent (RFC 9110 §9.2.2) or it is a POST that the upstream deduplicates by its Idempotency-Key.
 * A body must have a declared length to be replayed: the edge has bounded it by Content-Length, and a
 * body of unknown size is never buffered.
 */
export function mayRetry(route: Pick<Route, "retry">, request: Request): boolean {
  const method = request.method.toUpperCase();
  const safeToRepeat = idempotentMethods.includes(method) ||
    (method === "POST" && request.headers.has("idempotency-key"));
  return route.retry && safeToRepeat && (request.body === null || request.headers.has("content-length"));
}

/**
 * How long to wait before retry n (from 0), or undefined when the upstream's Retry-After asks for
 * longer than the edge will hold a client: the failure is then answered at once, Retry-After included.
 */
export function retryDelay(
  retry: number,
  policy: Pick<ResiliencePolicy, "retryBaseMs" | "retryCapMs">,
  headers?: Headers,
  random: () => number = Math.random,
  now: number = Date.now(),
): number | undefined {
  const jittered = random() * Math.min(policy.retryCapMs, policy.retryBaseMs * 2 ** retry);
  const asked = retryAfterMs(headers?.get("retry-after") ?? null, now);
  if (asked === undefined) return jittered;
  return asked > policy.retryCapMs ? undefined : Math.max(jittered, asked);
}

/** Retry-After (RFC 9110 §10.2.3) in milliseconds from now: delay-seconds or an HTTP date. */
function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export type BreakerEntry = { pass: true; probe: boolean } | { pass: false; retryAfterMs: number };

type BreakerState =
  | { name: "closed"; failures: number }
  | { name: "open"; until: number }
  | { name: "half-open"; probeSince: number };

/**
 * A consecutive-failure circuit breaker. Closed, it counts failures in a row; at the threshold it
 * opens and refuses every call for the cooldown; then it lets one probe through (half-open), whose
 * success closes it and whose failure opens it again. Results of calls that started in an earlier
 * state are ignored: they describe the upstream before the breaker last changed its mind.
 */
export class CircuitBreaker {
  #state: BreakerState = { name: "closed", failures: 0 };

  constructor(
    readonly options: { failures: number; cooldownMs: number },
    readonly clock: () => number = Date.now,
  ) {}

  /** Asks to call the upstream; a passing entry's result goes back through `record`. */
  enter(): BreakerEntry {
    const now = this.clock();
    const state = this.#state;
    if (state.name === "closed") return { pass: true, probe: false };
    // A probe that never reported back (its request was cancelled, say) is given up on after a
    // cooldown, so that the breaker cannot stay half-open for ever.
    const nextProbe = state.name === "open" ? state.until : state.probeSince + this.options.cooldownMs;
    if (now < nextProbe) return { pass: false, retryAfterMs: nextProbe - now };
    this.#state = { name: "half-open", probeSince: now };
    return { pass: true, probe: true };
  }

  record(entry: BreakerEntry, ok: boolean): void {
    const state = this.#state;
    if (state.name === "half-open" && entry.pass && entry.probe) {
      this.#state = ok ? { name: "closed", failures: 0 } : this.#opened();
    } else if (state.name === "closed") {
      const failures = ok ? 0 : state.failures + 1;
      this.#state = failures >= this.options.failures ? this.#opened() : { name: "closed", failures };
    }
  }

  #opened(): BreakerState {
    return { name: "open", until: this.clock() + this.options.cooldownMs };
  }
}

/**
 * Retries allowed as a share of requests over a sliding window, counted in ten slots so that memory
 * stays constant however busy the isolate is. During an outage every request fails, and without a
 * budget each would be sent 1 + maxRetries times just when the upstream can least take it.
 */
export class RetryBudget {
  #slots: { start: number; requests: number; retries: number }[] = [];

  constructor(
    readonly options: { ratio: number; minimum: number; windowMs: number },
    readonly clock: () => number = Date.now,
  ) {}

  /** Counts a request's first attempt. */
  request(): void {
    this.#current().requests++;
  }

  /** Takes one retry from the budget; false when it is spent. */
  withdraw(): boolean {
    const slot = this.#current();
    let requests = 0;
    let retries = 0;
    for (const s of this.#slots) {
      requests += s.requests;
      retries += s.retries;
    }
    if (retries >= Math.max(this.options.minimum, this.options.ratio * requests)) return false;
    slot.retries++;
    return true;
  }

  #current() {
    const now = this.clock();
    const width = this.options.windowMs / 10;
    const start = now - (now % width);
    this.#slots = this.#slots.filter((slot) => slot.start > now - this.options.windowMs);
    let slot = this.#slots.at(-1);
    if (slot?.start !== start) {
      slot = { start, requests: 0, retries: 0 };
      this.#slots.push(slot);
    }
    return slot;
  }
}
