/**
 * Coupons and their rules: what an admin may write, and whether a coupon applies to a basket and how
 * much it takes off. No I/O: the time, the shop's currency and the usage counts come in as values.
 */
import { z } from "@hono/zod-openapi";
import type { Money } from "@multishop/kit/contracts/money";
import type { CouponRejectionReason, CouponValidationResult } from "@multishop/kit/contracts/discount";

export const couponTypes = ["percentage", "fixed"] as const;
export type CouponType = (typeof couponTypes)[number];

/** What an admin sets on a coupon; an absent limit or date is `null`. */
export interface CouponFields {
  /** Upper-case: codes are unique regardless of case. */
  code: string;
  type: CouponType;
  /** percentage: 1 to 100; fixed: minor units of the shop's currency. */
  value: number;
  minTotal: number | null;
  validFrom: Date | null;
  validUntil: Date | null;
  usageLimit: number | null;
  perUserLimit: number | null;
  active: boolean;
}

export interface Coupon extends CouponFields {
  id: string;
  /** Uses held by redemptions that are reserved or committed. */
  used: number;
  createdAt: Date;
  updatedAt: Date;
}

const codePattern = /^[A-Za-z0-9_-]{3,32}$/;
// Large enough for any real coupon, small enough for PostgreSQL's integer columns.
const maxAmount = 100_000_000;
const maxUses = 1_000_000_000;

const amount = z.number().int("must be a whole number of minor units (cents)").max(maxAmount);
const instant = z.iso.datetime({
  offset: true,
  error: "must be an RFC 3339 date-time like 2026-01-31T23:59:59Z",
});
const uses = z.number().int("must be a whole number").min(1).max(maxUses);

/** The request body of POST and PUT /v1/coupons. Limits and dates may be left out or sent as null. */
export const couponInput = z.strictObject({
  code: z.string().regex(codePattern, "must be 3 to 32 letters, digits, '_' or '-'").openapi({
    example: "WELCOME10",
    description: "unique regardless of case; stored and shown upper-case",
  }),
  type: z.enum(couponTypes),
  value: amount.min(1).openapi({
    description:
      "percentage: 1 to 100 (percent off); fixed: the amount off, in minor units of the shop's currency",
  }),
  minTotal: amount.min(0).nullish().openapi({
    description: "the smallest subtotal it applies to, in minor units",
  }),
  validFrom: instant.nullish().openapi({ description: "usable from this instant on" }),
  validUntil: instant.nullish().openapi({ description: "usable up to and including this instant" }),
  usageLimit: uses.nullish().openapi({ description: "how many orders may use it in all" }),
  perUserLimit: uses.nullish().openapi({ description: "how many orders one customer may use it on" }),
  active: z.boolean(),
}).superRefine((input, ctx) => {
  if (input.type === "percentage" && input.value > 100) {
    ctx.addIssue({ code: "custom", path: ["value"], message: "a percentage must be 1 to 100" });
  }
  if (input.validFrom && input.validUntil && Date.parse(input.validFrom) >= Date.parse(input.validUntil)) {
    ctx.addIssue({ code: "custom", path: ["validUntil"], message: "must be later than validFrom" });
  }
}).openapi("CouponInput");

export type CouponInput = z.infer<typeof couponInput>;

export const normalizeCode = (code: string) => code.trim().toUpperCase();

export function couponFields(input: CouponInput): CouponFields {
  return {
    code: normalizeCode(input.code),
    type: input.type,
    value: input.value,
    minTotal: input.minTotal ?? null,
    validFrom: input.validFrom ? new Date(input.validFrom) : null,
    validUntil: input.validUntil ? new Date(input.validUntil) : null,
    usageLimit: input.usageLimit ?? null,
    perUserLimit: input.perUserLimit ?? null,
    active: input.active,
  };
}

/** Percentages round down, so the shop never gives more than the advertised rate. */
export function discountAmount(coupon: Pick<CouponFields, "type" | "value">, subtotal: number): number {
  if (coupon.type === "fixed") return Math.min(coupon.value, subtotal);
  // BigInt keeps the product exact for subtotals beyond 2^53 / 100.
  return Number((BigInt(subtotal) * BigInt(coupon.value)) / 100n);
}

export interface CouponCheck {
  /** The code as the customer typed it. */
  code: string;
  /** The coupon with that code, if there is one. */
  coupon?: CouponFields;
  subtotal: Money;
  /** Reserved and committed uses of the coupon, by everyone and by this customer. */
  used: number;
  usedByUser: number;
  now: Date;
  /** The shop's currency: fixed values and minimum totals are in it. */
  currency: string;
}

/**
 * Whether the coupon applies, and the discount. Reasons the customer cannot change come first (the
 * coupon's state, its dates, its limits), then what depends on the basket (currency, minimum).
 */
export function evaluateCoupon(check: CouponCheck): CouponValidationResult {
  const { coupon, subtotal, now, currency } = check;
  const code = normalizeCode(check.code);
  const reject = (reason: CouponRejectionReason, detail: string): CouponValidationResult => ({
    valid: false,
    code,
    reason,
    detail,
  });
  if (!coupon) return reject("unknown", `${code} is not a coupon code`);
  if (!coupon.active) return reject("inactive", `${code} is not active`);
  if (coupon.validFrom && now < coupon.validFrom) {
    return reject("not_started", `${code} can be used from ${coupon.validFrom.toISOString()}`);
  }
  if (coupon.validUntil && now > coupon.validUntil) {
    return reject("expired", `${code} expired at ${coupon.validUntil.toISOString()}`);
  }
  if (coupon.usageLimit !== null && check.used >= coupon.usageLimit) {
    return reject("exhausted", `${code} has been used up`);
  }
  if (coupon.perUserLimit !== null && check.usedByUser >= coupon.perUserLimit) {
    return reject("per_user_limit", `${code} can be used ${times(coupon.perUserLimit)} per customer`);
  }
  if (subtotal.currency !== currency) {
    return reject("currency", `${code} applies to baskets in ${currency}, not ${subtotal.currency}`);
  }
  if (coupon.minTotal !== null && subtotal.amount < coupon.minTotal) {
    return reject(
      "below_minimum",
      `${code} needs a subtotal of at least ${formatMoney({ amount: coupon.minTotal, currency })}`,
    );
  }
  return {
    valid: true,
    code,
    type: coupon.type,
    value: coupon.value,
    discount: { amount: discountAmount(coupon, subtotal.amount), currency },
  };
}

const times = (count: number) => count === 1 ? "once" : `${count} times`;

/** For people: 5000 USD minor units reads "$50.00". */
export function formatMoney(money: Money): string {
  const format = new Intl.NumberFormat("en-US", { style: "currency", currency: money.currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(money.amount / 10 ** digits);
}

/** Where a checkout's use of a coupon stands. A rejected reservation holds no use. */
export type RedemptionStatus = "reserved" | "committed" | "released" | "rejected" | "returned";

/** One order's use of a coupon; the order id is the key that makes every step idempotent. */
export interface Redemption {
  orderId: string;
  code: string;
  userId: string;
  subtotal: Money;
  status: RedemptionStatus;
  /** What the reservation answered; repeating it answers this again. */
  result: CouponValidationResult;
  createdAt: Date;
  updatedAt: Date;
}

export interface ReservationRequest {
  orderId: string;
  code: string;
  userId: string;
  subtotal: Money;
}

/** A step the redemption's state does not allow; the checkout has a bug or a stale message. */
export class RedemptionError extends Error {
  constructor(
    readonly kind: "not_found" | "mismatch" | "not_reserved" | "committed",
    message: string,
  ) {
    super(message);
    this.name = "RedemptionError";
  }
}

/** A repeated reservation must be the same request, or its recorded answer would be about another basket. */
export function sameReservation(redemption: Redemption, request: ReservationRequest): boolean {
  return redemption.code === normalizeCode(request.code) &&
    redemption.userId === request.userId &&
    redemption.subtotal.amount === request.subtotal.amount &&
    redemption.subtotal.currency === request.subtotal.currency;
}

/** The status `commit` moves a redemption to, or why it cannot. */
export function statusAfterCommit(redemption: Redemption): RedemptionStatus {
  if (redemption.status === "reserved" || redemption.status === "committed") return "committed";
  throw new RedemptionError(
    "not_reserved",
    `order ${redemption.orderId}'s coupon is ${redemption.status}, so it cannot be committed`,
  );
}

/** The status `release` moves a redemption to: a committed use belongs to a confirmed order and stays. */
export function statusAfterRelease(redemption: Redemption): RedemptionStatus {
  if (redemption.status === "committed") {
    throw new RedemptionError(
      "committed",
      `order ${redemption.orderId}'s coupon is committed; a confirmed order keeps its use`,
    );
  }
  // A rejected reservation held nothing and stays rejected; releasing twice changes nothing.
  return redemption.status === "reserved" ? "released" : redemption.status;
}

/**
 * The status `return` moves a redemption to: a confirmed order cancelled before shipping gives its
 * use back. One not committed yet (the commit is still on its way) is released, so the use is free
 * either way and the late commit is refused; one that holds nothing stays as it is.
 */
export function statusAfterReturn(redemption: Redemption): RedemptionStatus {
  if (redemption.status === "committed") return "returned";
  return redemption.status === "reserved" ? "released" : redemption.status;
}
