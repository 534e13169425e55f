/** The resilience rules as plain logic, with a hand-driven clock: no workerd, no network. */
import assert from "node:assert/strict";
import { CircuitBreaker, mayRetry, RetryBudget, retryDelay } from "./resilience.ts";

function manualClock(start = 1_000_000) {
  const clock = { now: start, read: () => clock.now };
  return clock;
}

Deno.test("backoff: full jitter below an exponential ceiling that stops at the cap", () => {
  const policy = { retryBaseMs: 50, retryCapMs: 1_000 };
  const almostOne = () => 0.999_999;
  assert.equal(retryDelay(0, policy, undefined, () => 0), 0);
  assert.ok(Math.abs(retryDelay(0, policy, undefined, almostOne)! - 50) < 0.01);
  assert.ok(Math.abs(retryDelay(1, policy, undefined, almostOne)! - 100) < 0.01);
  assert.ok(Math.abs(retryDelay(3, policy, undefined, almostOne)! - 400) < 0.01);
  assert.ok(Math.abs(retryDelay(10, policy, undefined, almostOne)! - 1_000) < 0.01, "capped");
  for (let i = 0; i < 100; i++) {
    const delay = retryDelay(1, policy)!;
    assert.ok(delay >= 0 && delay < 100);
  }
});

Deno.test("backoff: an upstream's Retry-After is waited for, unless it is longer than the cap", () => {
  const policy = { retryBaseMs: 50, retryCapMs: 1_000 };
  const now = Date.parse("2026-01-01T00:00:00Z");
  const after = (value: string) => retryDelay(0, policy, new Headers({ "retry-after": value }), () => 0, now);
  assert.equal(after("1"), 1_000);
  assert.equal(after("0"), 0);
  assert.equal(after("30"), undefined, "asked for longer than the edge holds a client");
  assert.equal(after("Thu, 01 Jan 2026 00:00:00 GMT"), 0);
  assert.equal(after("Thu, 01 Jan 2026 00:01:00 GMT"), undefined);
  assert.equal(after("soon"), 0, "an unreadable value is ignored");
});

Deno.test("only idempotent requests on retrying routes, and keyed POSTs, may be retried", () => {
  const url = "http://upstream.test/v1/things";
  const on = { retry: true };
  const request = (method: string, headers: Record<string, string> = {}, body?: string) =>
    new Request(url, { method, headers, body });
  const sized = { "content-length": "2" };
  assert.equal(mayRetry(on, request("GET")), true);
  assert.equal(mayRetry(on, request("HEAD")), true);
  assert.equal(mayRetry(on, request("OPTIONS")), true);
  assert.equal(mayRetry(on, request("DELETE")), true);
  assert.equal(mayRetry(on, request("PUT", sized, "{}")), true);
  assert.equal(mayRetry({ retry: false }, request("GET")), false, "the route says no");
  assert.equal(mayRetry(on, request("POST", sized, "{}")), false, "a POST without Idempotency-Key");
  assert.equal(mayRetry(on, request("PATCH", sized, "{}")), false);
  assert.equal(mayRetry(on, request("POST", { ...sized, "idempotency-key": "k-1" }, "{}")), true);
  assert.equal(
    mayRetry(on, request("POST", { "idempotency-key": "k-1" }, "{}")),
    false,
    "a body of unknown length is streamed, never buffered",
  );
});

Deno.test("breaker: opens after consecutive failures, probes after the cooldown, closes on success", () => {
  const clock = manualClock();
  const breaker = new CircuitBreaker({ failures: 3, cooldownMs: 10_000 }, clock.read);
  const fail = () => breaker.record(breaker.enter(), false);

  fail();
  fail();
  breaker.record(breaker.enter(), true);
  fail();
  fail();
  assert.deepEqual(breaker.enter(), { pass: true, probe: false }, "a success restarts the count");
  fail();
  fail();
  fail();
  assert.deepEqual(breaker.enter(), { pass: false, retryAfterMs: 10_000 });
  clock.now += 9_000;
  assert.deepEqual(breaker.enter(), { pass: false, retryAfterMs: 1_000 });

  clock.now += 1_000;
  const probe = breaker.enter();
  assert.deepEqual(probe, { pass: true, probe: true });
  assert.equal(breaker.enter().pass, false, "one probe at a time");
  breaker.record(probe, true);
  assert.deepEqual(breaker.enter(), { pass: true, probe: false });
});

Deno.test("breaker: a failed probe opens it for another cooldown", () => {
  const clock = manualClock();
  const breaker = new CircuitBreaker({ failures: 1, cooldownMs: 5_000 }, clock.read);
  breaker.record(breaker.enter(), false);
  clock.now += 5_000;
  const probe = breaker.enter();
  assert.equal(probe.pass && probe.probe, true);
  clock.now += 200;
  breaker.record(probe, false);
  assert.deepEqual(breaker.enter(), { pass: false, retryAfterMs: 5_000 });
});

Deno.test("breaker: results of calls started before it changed state are ignored", () => {
  const clock = manualClock();
  const breaker = new CircuitBreaker({ failures: 2, cooldownMs: 5_000 }, clock.read);
  const early = breaker.enter();
  breaker.record(breaker.enter(), false);
  breaker.record(breaker.enter(), false);
  breaker.record(early, true);
  assert.equal(breaker.enter().pass, false, "a late success does not close an open breaker");

  clock.now += 5_000;
  const probe = breaker.enter();
  breaker.record(early, false);
  assert.equal(breaker.enter().pass, false, "nor does a late failure count against the probe");
  breaker.record(probe, true);
  assert.equal(breaker.enter().pass, true);
});

Deno.test("breaker: a probe that never reports back is replaced after a cooldown", () => {
  const clock = manualClock();
  const breaker = new CircuitBreaker({ failures: 1, cooldownMs: 5_000 }, clock.read);
  breaker.record(breaker.enter(), false);
  clock.now += 5_000;
  assert.equal(breaker.enter().pass, true, "the probe, whose request is then lost");
  clock.now += 1_000;
  assert.deepEqual(breaker.enter(), { pass: false, retryAfterMs: 4_000 });
  clock.now += 4_000;
  const second = breaker.enter();
  assert.deepEqual(second, { pass: true, probe: true });
  breaker.record(second, true);
  assert.equal(breaker.enter().pass, true);
});

Deno.test("retry budget: a minimum per window, then a share of the requests", () => {
  const clock = manualClock();
  const budget = new RetryBudget({ ratio: 0.2, minimum: 3, windowMs: 10_000 }, clock.read);
  const withdrawals = (n: number) =>
    Array.from({ length: n }, () => budget.withdraw()).filter(Boolean).length;

  budget.request();
  assert.equal(withdrawals(5), 3, "a quiet isolate still gets the minimum");
  for (let i = 0; i < 29; i++) budget.request();
  assert.equal(withdrawals(10), 3, "30 requests allow 6 retries, 3 of them already taken");
  for (let i = 0; i < 10; i++) budget.request();
  assert.equal(withdrawals(10), 2, "40 requests allow 8");
});

Deno.test("retry budget: the window slides", () => {
  const clock = manualClock(0);
  const budget = new RetryBudget({ ratio: 0.2, minimum: 2, windowMs: 10_000 }, clock.read);
  for (let i = 0; i < 50; i++) budget.request();
  assert.equal(Array.from({ length: 20 }, () => budget.withdraw()).filter(Boolean).length, 10);
  clock.now = 5_000;
  assert.equal(budget.withdraw(), false, "still the same window");
  clock.now = 10_500;
  assert.equal(budget.withdraw(), true, "the requests and retries of the first second are forgotten");
  assert.equal(budget.withdraw(), true);
  assert.equal(budget.withdraw(), false, "the minimum of 2, with no requests left in the window");
});
