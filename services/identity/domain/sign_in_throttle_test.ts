import assert from "node:assert/strict";
import {
  admitAttempt,
  failuresForgottenAfterSeconds,
  lockoutSeconds,
  type SignInFailures,
  type SignInThrottlePolicy,
} from "./sign_in_throttle.ts";

const policy: SignInThrottlePolicy = {
  lockoutAfterFailures: 5,
  firstLockoutSeconds: 30,
  maxLockoutSeconds: 900,
};
const start = new Date("2030-01-01T00:00:00Z");
const later = (seconds: number) => new Date(start.getTime() + seconds * 1000);

Deno.test("lockouts: none before the threshold, then doubling up to the cap", () => {
  const windows = Array.from({ length: 12 }, (_, i) => lockoutSeconds(i + 1, policy));
  assert.deepEqual(windows, [0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900]);
  assert.equal(lockoutSeconds(10_000, policy), 900, "a huge count neither overflows nor passes the cap");
});

Deno.test("every attempt counts as a failure until it succeeds; the threshold's failure locks", () => {
  let failures: SignInFailures | undefined;
  for (let count = 1; count <= 4; count++) {
    const decision = admitAttempt(failures, start, policy);
    assert.ok(decision.admitted);
    assert.equal(decision.failures.count, count);
    assert.equal(decision.failures.lockedUntil, null);
    failures = decision.failures;
  }
  const fifth = admitAttempt(failures, start, policy);
  assert.ok(fifth.admitted, "the fifth attempt is still checked");
  assert.deepEqual(fifth.failures.lockedUntil, later(30));
});

Deno.test("a locked name is refused with the whole seconds left, rounded up", () => {
  const locked: SignInFailures = { count: 5, lastFailureAt: start, lockedUntil: later(30) };
  assert.deepEqual(admitAttempt(locked, start, policy), { admitted: false, retryAfterSeconds: 30 });
  assert.deepEqual(admitAttempt(locked, later(29.2), policy), { admitted: false, retryAfterSeconds: 1 });
});

Deno.test("once a lockout ends, the next failure locks for twice as long", () => {
  const locked: SignInFailures = { count: 5, lastFailureAt: start, lockedUntil: later(30) };
  const next = admitAttempt(locked, later(30), policy);
  assert.ok(next.admitted);
  assert.equal(next.failures.count, 6);
  assert.deepEqual(next.failures.lockedUntil, later(30 + 60));
});

Deno.test("failures a day old are forgotten", () => {
  const old: SignInFailures = { count: 9, lastFailureAt: start, lockedUntil: later(480) };
  const justBefore = admitAttempt(old, later(failuresForgottenAfterSeconds - 1), policy);
  assert.ok(justBefore.admitted);
  assert.equal(justBefore.failures.count, 10);
  const after = admitAttempt(old, later(failuresForgottenAfterSeconds), policy);
  assert.ok(after.admitted);
  assert.deepEqual(after.failures, {
    count: 1,
    lastFailureAt: later(failuresForgottenAfterSeconds),
    lockedUntil: null,
  });
});
