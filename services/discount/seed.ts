/** Demo data: coupons that show each rule at the storefront. */
import { type CouponFields, couponFields, type CouponInput } from "./domain.ts";
import { type DiscountStore, DuplicateCouponError } from "./store/postgres.ts";

const demoCoupons: CouponFields[] = ([
  { code: "WELCOME10", type: "percentage", value: 10, active: true },
  { code: "HOME15", type: "percentage", value: 15, minTotal: 5000, active: true },
  { code: "SAVE5", type: "fixed", value: 500, active: true },
  { code: "ONEUSE", type: "percentage", value: 20, usageLimit: 1, active: true },
  {
    code: "EXPIRED",
    type: "percentage",
    value: 25,
    validFrom: "2024-01-01T00:00:00Z",
    validUntil: "2024-12-31T23:59:59Z",
    active: true,
  },
] satisfies CouponInput[]).map((input) => couponFields(input));

/** Creates the demo coupons whose codes are free and returns their codes; coupons already there stay as they are. */
export async function seedCoupons(store: DiscountStore): Promise<string[]> {
  const created: string[] = [];
  for (const coupon of demoCoupons) {
    try {
      await store.insertCoupon(crypto.randomUUID(), coupon);
      created.push(coupon.code);
    } catch (error) {
      if (!(error instanceof DuplicateCouponError)) throw error;
    }
  }
  return created;
}
