/**
 * The discount service's use cases: coupon administration, the basket's check, and the checkout's
 * reserve, commit, release and return. The rules come from domain.ts, the queries from store/; this
 * file puts them in order. The checkout's steps run in the caller's transaction when given one (the
 * inbox's, which also writes the reply: see events.ts), else in one of their own.
 */
import type { Money } from "@multishop/kit/contracts/money";
import type { CouponValidationResult } from "@multishop/kit/contracts/discount";
import type { TransactionSql } from "@multishop/kit/postgres";
import { ProblemError } from "@multishop/kit/problem";
import {
  type Coupon,
  couponFields,
  type CouponInput,
  evaluateCoupon,
  type Redemption,
  RedemptionError,
  type ReservationRequest,
  sameReservation,
  statusAfterCommit,
  statusAfterRelease,
  statusAfterReturn,
} from "./domain.ts";
import { type CouponWithUsage, type DiscountStore, DuplicateCouponError } from "./store/postgres.ts";

export interface DiscountDeps {
  store: DiscountStore;
  /** The shop's currency (ISO 4217): fixed values and minimum totals are in it. */
  currency: string;
  clock: () => Date;
}

const notFound = () => new ProblemError({ status: 404, detail: "no such coupon" });

export function createDiscount(deps: DiscountDeps) {
  const { store, currency, clock } = deps;

  /** Answers 409 naming the code when another coupon has it. */
  async function withUniqueCode<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof DuplicateCouponError)) throw error;
      const reason = `${error.code} is taken (codes are unique regardless of case)`;
      throw new ProblemError({
        status: 409,
        kind: "conflict",
        detail: reason,
        errors: [{ field: "code", reason }],
      });
    }
  }

  /** The rules, at the service's time and in the shop's currency, for a coupon looked up by `code`. */
  const judge = (code: string, subtotal: Money) => (found: CouponWithUsage): CouponValidationResult =>
    evaluateCoupon({ code, subtotal, ...found, now: clock(), currency });

  return {
    async coupon(id: string): Promise<Coupon> {
      const coupon = await store.findCoupon(id);
      if (!coupon) throw notFound();
      return coupon;
    },

    createCoupon(input: CouponInput): Promise<Coupon> {
      return withUniqueCode(() => store.insertCoupon(crypto.randomUUID(), couponFields(input)));
    },

    async replaceCoupon(id: string, input: CouponInput): Promise<Coupon> {
      const coupon = await withUniqueCode(() => store.replaceCoupon(id, couponFields(input)));
      if (!coupon) throw notFound();
      return coupon;
    },

    async deleteCoupon(id: string): Promise<void> {
      const outcome = await store.deleteCoupon(id);
      if (outcome === "not_found") throw notFound();
      if (outcome === "committed") {
        throw new ProblemError({
          status: 409,
          kind: "coupon-redeemed",
          detail: "confirmed orders used this coupon, so it stays on record; deactivate it instead",
        });
      }
    },

    /** The basket's check: whether the code applies to this subtotal now. Reserves nothing. */
    async validate(
      request: { code: string; userId: string; subtotal: Money },
    ): Promise<CouponValidationResult> {
      return judge(request.code, request.subtotal)(await store.couponForCheck(request.code, request.userId));
    },

    /**
     * Takes one use of the coupon for the order, or records why not. Repeating it for the order
     * answers the recorded redemption and takes nothing more; its `status` says where it stands now.
     */
    async reserve(request: ReservationRequest, transaction?: TransactionSql): Promise<Redemption> {
      const redemption = await store.reserve(request, judge(request.code, request.subtotal), transaction);
      if (!sameReservation(redemption, request)) {
        throw new RedemptionError(
          "mismatch",
          `order ${request.orderId} already reserved ${redemption.code} for user ${redemption.userId} ` +
            `and a subtotal of ${redemption.subtotal.amount} ${redemption.subtotal.currency}`,
        );
      }
      return redemption;
    },

    /** The order is confirmed: its use is final. Committing again changes nothing. */
    async commit(orderId: string, transaction?: TransactionSql): Promise<Redemption> {
      const redemption = await store.transition(orderId, statusAfterCommit, transaction);
      if (!redemption) throw new RedemptionError("not_found", `order ${orderId} reserved no coupon`);
      return redemption;
    },

    /**
     * The checkout failed: the use is free again. Undefined when the order reserved nothing, so that a
     * compensation may always run; releasing again changes nothing; a committed use is refused.
     */
    release: (orderId: string, transaction?: TransactionSql): Promise<Redemption | undefined> =>
      store.transition(orderId, statusAfterRelease, transaction),

    /**
     * A confirmed order was cancelled before shipping: its use no longer counts against the coupon's
     * limits. Undefined when the order reserved nothing; returning again changes nothing.
     */
    return: (orderId: string, transaction?: TransactionSql): Promise<Redemption | undefined> =>
      store.transition(orderId, statusAfterReturn, transaction),
  };
}

export type Discount = ReturnType<typeof createDiscount>;
