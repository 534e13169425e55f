/**
 * The discount service's internal coupon check, as the basket calls it: the request, the answer and
 * every reason a coupon can be refused. Both sides validate against these schemas. The basket answers
 * a refused coupon with `CouponRejected`, which names the same reasons.
 */
import { z } from "@hono/zod-openapi";
import { money } from "./money.ts";
import { problemSchema } from "./problems.ts";

export const couponValidationPath = "/v1/internal/coupons/validate";
/** The scope a service token needs to call it. */
export const couponValidationScope = "discount:validate";

export const couponValidationRequest = z.object({
  code: z.string().trim().min(1).max(64),
  userId: z.string().min(1),
  subtotal: money,
}).openapi("CouponValidationRequest");

export const couponRejectionReasons = [
  "unknown",
  "inactive",
  "not_started",
  "expired",
  "exhausted",
  "per_user_limit",
  "below_minimum",
  "currency",
] as const;
export type CouponRejectionReason = (typeof couponRejectionReasons)[number];

export const couponRejectionReason = z.enum(couponRejectionReasons).openapi("CouponRejectionReason", {
  description: "Why a coupon does not apply to the basket",
});

export const couponValidationResult = z.discriminatedUnion("valid", [
  z.object({
    valid: z.literal(true),
    code: z.string(),
    type: z.enum(["percentage", "fixed"]),
    value: z.number().int().positive(),
    discount: money,
  }).openapi("ValidCoupon"),
  z.object({
    valid: z.literal(false),
    code: z.string(),
    reason: couponRejectionReason,
    detail: z.string(),
  }).openapi("InvalidCoupon"),
]).openapi("CouponValidationResult", {
  // `valid` is a boolean: left to itself, the mapping would be empty and a client would take the
  // schemas' names for its values.
  discriminator: {
    propertyName: "valid",
    mapping: { true: "#/components/schemas/ValidCoupon", false: "#/components/schemas/InvalidCoupon" },
  },
});
export type CouponValidationResult = z.infer<typeof couponValidationResult>;

/** The problem document of a coupon that does not apply: `reason` says why, for a client to act on. */
export const couponRejectedProblem = problemSchema.extend({ reason: couponRejectionReason }).openapi(
  "CouponRejected",
  { description: "A problem document for a coupon that does not apply, with the reason" },
);
