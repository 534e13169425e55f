/** The coupon rules, without a database: every rejection reason, both types, and the edges. */
import assert from "node:assert/strict";
import {
  type CouponCheck,
  type CouponFields,
  couponInput,
  discountAmount,
  evaluateCoupon,
  formatMoney,
  type Redemption,
  RedemptionError,
  sameReservation,
  statusAfterCommit,
  statusAfterRelease,
  statusAfterReturn,
} from "./domain.ts";

const now = new Date("2026-06-15T12:00:00Z");

const coupon = (overrides: Partial<CouponFields> = {}): CouponFields => ({
  code: "SPRING20",
  type: "percentage",
  value: 20,
  minTotal: null,
  validFrom: null,
  validUntil: null,
  usageLimit: null,
  perUserLimit: null,
  active: true,
  ...overrides,
});

const check = (overrides: Partial<CouponCheck> = {}): CouponCheck => ({
  code: "spring20",
  coupon: coupon(),
  subtotal: { amount: 10_000, currency: "USD" },
  used: 0,
  usedByUser: 0,
  now,
  currency: "USD",
  ...overrides,
});

const reasonOf = (overrides: Partial<CouponCheck>) => {
  const result = evaluateCoupon(check(overrides));
  return result.valid ? "valid" : result.reason;
};

Deno.test("a percentage coupon takes that share of the subtotal, rounded down", () => {
  assert.deepEqual(evaluateCoupon(check()), {
    valid: true,
    code: "SPRING20",
    type: "percentage",
    value: 20,
    discount: { amount: 2_000, currency: "USD" },
  });
  // 15% of 3333 is 499.95: the customer gets 499, never more than the advertised rate.
  assert.equal(discountAmount({ type: "percentage", value: 15 }, 3_333), 499);
  assert.equal(discountAmount({ type: "percentage", value: 1 }, 99), 0);
});

Deno.test("100% takes the whole subtotal", () => {
  const result = evaluateCoupon(
    check({ coupon: coupon({ value: 100 }), subtotal: { amount: 4_321, currency: "USD" } }),
  );
  assert.ok(result.valid);
  assert.deepEqual(result.discount, { amount: 4_321, currency: "USD" });
});

Deno.test("percentages stay exact on subtotals beyond what a double multiplies exactly", () => {
  assert.equal(discountAmount({ type: "percentage", value: 7 }, 9_007_199_254_740_991), 630_503_947_831_869);
});

Deno.test("a fixed coupon takes its value, and no more than the subtotal", () => {
  const fixed = coupon({ type: "fixed", value: 500 });
  const result = evaluateCoupon(check({ coupon: fixed }));
  assert.ok(result.valid);
  assert.deepEqual(
    { type: result.type, value: result.value, discount: result.discount },
    { type: "fixed", value: 500, discount: { amount: 500, currency: "USD" } },
  );
  const larger = evaluateCoupon(check({ coupon: fixed, subtotal: { amount: 300, currency: "USD" } }));
  assert.ok(larger.valid);
  assert.equal(larger.discount.amount, 300, "the order total never goes below zero");
});

Deno.test("an empty basket gets a discount of nothing", () => {
  for (const type of ["percentage", "fixed"] as const) {
    const result = evaluateCoupon(
      check({ coupon: coupon({ type }), subtotal: { amount: 0, currency: "USD" } }),
    );
    assert.ok(result.valid);
    assert.equal(result.discount.amount, 0);
  }
});

Deno.test("an unknown code is refused as unknown, named upper-case", () => {
  const result = evaluateCoupon(check({ code: " nope ", coupon: undefined }));
  assert.deepEqual(result, {
    valid: false,
    code: "NOPE",
    reason: "unknown",
    detail: "NOPE is not a coupon code",
  });
});

Deno.test("a switched-off coupon is refused as inactive", () => {
  assert.equal(reasonOf({ coupon: coupon({ active: false }) }), "inactive");
});

Deno.test("validFrom: refused before it, valid exactly at it", () => {
  const validFrom = new Date(now.getTime() + 1);
  const result = evaluateCoupon(check({ coupon: coupon({ validFrom }) }));
  assert.deepEqual(result, {
    valid: false,
    code: "SPRING20",
    reason: "not_started",
    detail: "SPRING20 can be used from 2026-06-15T12:00:00.001Z",
  });
  assert.equal(reasonOf({ coupon: coupon({ validFrom: now }) }), "valid");
});

Deno.test("validUntil: valid exactly at it, expired a millisecond later", () => {
  assert.equal(reasonOf({ coupon: coupon({ validUntil: now }) }), "valid");
  assert.equal(reasonOf({ coupon: coupon({ validUntil: new Date(now.getTime() - 1) }) }), "expired");
});

Deno.test("usageLimit: refused as exhausted once reserved and committed uses reach it", () => {
  assert.equal(reasonOf({ coupon: coupon({ usageLimit: 3 }), used: 2 }), "valid");
  assert.equal(reasonOf({ coupon: coupon({ usageLimit: 3 }), used: 3 }), "exhausted");
});

Deno.test("perUserLimit: refused once this customer's uses reach it, whatever others used", () => {
  const limited = coupon({ perUserLimit: 1, usageLimit: 100 });
  assert.equal(reasonOf({ coupon: limited, used: 50, usedByUser: 0 }), "valid");
  const result = evaluateCoupon(check({ coupon: limited, used: 50, usedByUser: 1 }));
  assert.ok(!result.valid);
  assert.equal(result.reason, "per_user_limit");
  assert.equal(result.detail, "SPRING20 can be used once per customer");
});

Deno.test("minTotal: refused below it, valid exactly at it", () => {
  const result = evaluateCoupon(check({
    coupon: coupon({ minTotal: 5_000 }),
    subtotal: { amount: 4_999, currency: "USD" },
  }));
  assert.deepEqual(result, {
    valid: false,
    code: "SPRING20",
    reason: "below_minimum",
    detail: "SPRING20 needs a subtotal of at least $50.00",
  });
  assert.equal(
    reasonOf({ coupon: coupon({ minTotal: 5_000 }), subtotal: { amount: 5_000, currency: "USD" } }),
    "valid",
  );
});

Deno.test("a subtotal in another currency than the shop's is refused", () => {
  assert.equal(reasonOf({ subtotal: { amount: 10_000, currency: "EUR" } }), "currency");
  assert.equal(reasonOf({ subtotal: { amount: 10_000, currency: "EUR" }, currency: "EUR" }), "valid");
});

Deno.test("reasons the customer cannot change come before those of the basket", () => {
  const everythingWrong: Partial<CouponCheck> = {
    subtotal: { amount: 1, currency: "EUR" },
    used: 5,
    usedByUser: 5,
  };
  const all = { minTotal: 5_000, usageLimit: 5, perUserLimit: 5 };
  assert.equal(reasonOf({ ...everythingWrong, coupon: coupon({ ...all, active: false }) }), "inactive");
  assert.equal(
    reasonOf({ ...everythingWrong, coupon: coupon({ ...all, validFrom: new Date("2027-01-01") }) }),
    "not_started",
  );
  assert.equal(
    reasonOf({ ...everythingWrong, coupon: coupon({ ...all, validUntil: new Date("2026-01-01") }) }),
    "expired",
  );
  assert.equal(reasonOf({ ...everythingWrong, coupon: coupon(all) }), "exhausted");
  assert.equal(reasonOf({ ...everythingWrong, used: 0, coupon: coupon(all) }), "per_user_limit");
  assert.equal(reasonOf({ ...everythingWrong, used: 0, usedByUser: 0, coupon: coupon(all) }), "currency");
});

Deno.test("money reads in the currency's own minor units", () => {
  assert.equal(formatMoney({ amount: 5_000, currency: "USD" }), "$50.00");
  assert.equal(formatMoney({ amount: 5_000, currency: "JPY" }), "¥5,000");
});

Deno.test("the coupon body: codes, values, dates and unknown fields", () => {
  const base = { code: "ok_CODE-1", type: "percentage", value: 10, active: true };
  const fieldsOf = (body: unknown) => {
    const result = couponInput.safeParse(body);
    return result.success ? [] : result.error.issues.map((issue) => issue.path.join("."));
  };
  assert.deepEqual(fieldsOf(base), []);
  assert.deepEqual(fieldsOf({ ...base, value: 100 }), []);
  assert.deepEqual(fieldsOf({ ...base, value: 101 }), ["value"]);
  assert.deepEqual(fieldsOf({ ...base, type: "fixed", value: 101 }), []);
  assert.deepEqual(fieldsOf({ ...base, value: 0 }), ["value"]);
  assert.deepEqual(fieldsOf({ ...base, value: 2.5 }), ["value"]);
  assert.deepEqual(fieldsOf({ ...base, code: "ab" }), ["code"]);
  assert.deepEqual(fieldsOf({ ...base, code: "x".repeat(33) }), ["code"]);
  assert.deepEqual(fieldsOf({ ...base, code: "NO SPACE" }), ["code"]);
  assert.deepEqual(fieldsOf({ ...base, code: { $gt: "" } }), ["code"]);
  assert.deepEqual(fieldsOf({ ...base, minTotal: -1 }), ["minTotal"]);
  assert.deepEqual(fieldsOf({ ...base, usageLimit: 0 }), ["usageLimit"]);
  assert.deepEqual(fieldsOf({ ...base, validFrom: "2026-01-01" }), ["validFrom"]);
  assert.deepEqual(
    fieldsOf({ ...base, validFrom: "2026-02-01T00:00:00+01:00", validUntil: "2026-01-31T23:00:00Z" }),
    [
      "validUntil",
    ],
  );
  assert.deepEqual(
    fieldsOf({ ...base, validFrom: "2026-02-01T00:00:00Z", validUntil: "2026-02-01T00:00:00Z" }),
    [
      "validUntil",
    ],
  );
  assert.deepEqual(fieldsOf({ ...base, minTotal: null, validUntil: null }), []);
  assert.deepEqual(fieldsOf({ ...base, used: 3 }), [""]);
});

const redemption = (status: Redemption["status"]): Redemption => ({
  orderId: "order-1",
  code: "SPRING20",
  userId: "user-1",
  subtotal: { amount: 10_000, currency: "USD" },
  status,
  result: { valid: false, code: "SPRING20", reason: "exhausted", detail: "" },
  createdAt: now,
  updatedAt: now,
});

Deno.test("commit: a reserved or committed use becomes committed; nothing else can be", () => {
  assert.equal(statusAfterCommit(redemption("reserved")), "committed");
  assert.equal(statusAfterCommit(redemption("committed")), "committed");
  for (const status of ["released", "rejected"] as const) {
    assert.throws(
      () => statusAfterCommit(redemption(status)),
      (error) => error instanceof RedemptionError && error.kind === "not_reserved",
    );
  }
});

Deno.test("release: a reserved use is freed, a committed one is refused, the rest stay as they are", () => {
  assert.equal(statusAfterRelease(redemption("reserved")), "released");
  assert.equal(statusAfterRelease(redemption("released")), "released");
  assert.equal(statusAfterRelease(redemption("rejected")), "rejected");
  assert.throws(
    () => statusAfterRelease(redemption("committed")),
    (error) => error instanceof RedemptionError && error.kind === "committed",
  );
});

Deno.test("return: a committed use is given back, a reserved one released, the rest stay as they are", () => {
  assert.equal(statusAfterReturn(redemption("committed")), "returned");
  assert.equal(statusAfterReturn(redemption("reserved")), "released");
  for (const status of ["released", "rejected", "returned"] as const) {
    assert.equal(statusAfterReturn(redemption(status)), status);
  }
});

Deno.test("a repeated reservation must ask for the same code, customer and subtotal", () => {
  const request = {
    orderId: "order-1",
    code: "spring20",
    userId: "user-1",
    subtotal: { amount: 10_000, currency: "USD" },
  };
  assert.ok(sameReservation(redemption("reserved"), request));
  assert.ok(!sameReservation(redemption("reserved"), { ...request, code: "OTHER" }));
  assert.ok(!sameReservation(redemption("reserved"), { ...request, userId: "user-2" }));
  assert.ok(
    !sameReservation(redemption("reserved"), { ...request, subtotal: { amount: 10_001, currency: "USD" } }),
  );
});
