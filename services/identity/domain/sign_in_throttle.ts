/**
 * Per-account sign-in throttling: a few wrong passwords cost nothing, then each further one locks
 * the login name for a window that doubles up to a cap. No I/O.
 *
 * Every attempt is counted as a failure before its password is checked and forgotten again when it
 * succeeds, so that attempts racing each other cannot all be checked before any of them is counted.
 */

export interface SignInThrottlePolicy {
  /** The failure in a row that first locks the name (5: four wrong passwords cost nothing). */
  lockoutAfterFailures: number;
  /** How long that first lockout lasts; every further failure doubles it. */
  firstLockoutSeconds: number;
  /** The longest lockout, so that an attacker can keep an account's owner out only so long at a time. */
  maxLockoutSeconds: number;
}

/**
 * Failures are forgotten a day after the last one, so that a typo now and then never adds up to a
 * lockout. It must outlast the longest lockout, or every expiring lockout would restart the count.
 */
export const failuresForgottenAfterSeconds = 86_400;

/** What is known of one login name's recent failures. */
export interface SignInFailures {
  count: number;
  lastFailureAt: Date;
  lockedUntil: Date | null;
}

export type AttemptDecision =
  | { admitted: true; failures: SignInFailures }
  | { admitted: false; retryAfterSeconds: number };

/** How long the `count`th failure in a row locks the name: 0 before the policy's threshold. */
export function lockoutSeconds(count: number, policy: SignInThrottlePolicy): number {
  if (count < policy.lockoutAfterFailures) return 0;
  return Math.min(
    policy.firstLockoutSeconds * 2 ** (count - policy.lockoutAfterFailures),
    policy.maxLockoutSeconds,
  );
}

/**
 * Whether an attempt may have its password checked now, and if so the failures to record for it
 * (it counts as one until it succeeds). A locked name is refused without checking the password.
 */
export function admitAttempt(
  previous: SignInFailures | undefined,
  now: Date,
  policy: SignInThrottlePolicy,
): AttemptDecision {
  if (previous?.lockedUntil && previous.lockedUntil > now) {
    return {
      admitted: false,
      retryAfterSeconds: Math.ceil((previous.lockedUntil.getTime() - now.getTime()) / 1000),
    };
  }
  const remembered = previous &&
    now.getTime() - previous.lastFailureAt.getTime() < failuresForgottenAfterSeconds * 1000;
  const count = (remembered ? previous.count : 0) + 1;
  const lockout = lockoutSeconds(count, policy);
  return {
    admitted: true,
    failures: {
      count,
      lastFailureAt: now,
      lockedUntil: lockout > 0 ? new Date(now.getTime() + lockout * 1000) : null,
    },
  };
}
