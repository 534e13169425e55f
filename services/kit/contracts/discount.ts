/**
 * The discount service's internal coupon check, as the basket calls it: the request, the answer and
 * every reason a coupon can be refused. Both sides validate against these schemas.
 */
import { z } from "zod";
import { money } from "./catalog.ts";

export const couponValidationPath = "/v1/internal/coupons/validate";
/** The scope a service token needs to call it. */
export const couponValidationScope = "discount:validate";

export const couponValidationRequest = z.object({
  code: z.string().trim().min(1).max(64),
  userId: z.string().min(1),
  subtotal: money,
});

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

export const couponValidationResult = z.discriminatedUnion("valid", [
  z.object({
    valid: z.literal(true),
    code: z.string(),
    type: z.enum(["percentage", "fixed"]),
    value: z.number().int().positive(),
    discount: money,
  }),
  z.object({
    valid: z.literal(false),
    code: z.string(),
    reason: z.enum(couponRejectionReasons),
    detail: z.string(),
  }),
]);
export type CouponValidationResult = z.infer<typeof couponValidationResult>;
