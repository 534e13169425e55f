/**
 * The basket's use cases. The user is always the verified token's subject; prices come from the
 * catalog; totals and discounts are computed here.
 */
import type { CouponRejectionReason } from "@multishop/kit/contracts/discount";
import type { Money } from "@multishop/kit/contracts/money";
import type { Logger } from "@multishop/kit/log";
import { ProblemError } from "@multishop/kit/problem";
import { ServiceUnavailableError } from "@multishop/kit/service-client";
import type { Catalog, Discounts } from "./clients.ts";
import { type ProductSnapshot, refreshProduct, removeLine, setLine, totals, withCoupon } from "./domain.ts";
import type { Basket, BasketStore } from "./store/types.ts";

export interface BasketDeps {
  store: BasketStore;
  catalog: Catalog;
  discounts: Discounts;
  clock: () => Date;
  currency: string;
  logger: Logger;
}

export type CouponView =
  | { code: string; valid: true; discount: Money }
  | { code: string; valid: false; reason: CouponRejectionReason | "unavailable"; detail: string };

const unavailable = (what: string) =>
  new ProblemError({
    status: 503,
    kind: "dependency-unavailable",
    detail: `the ${what} cannot be reached; try again shortly`,
    headers: { "retry-after": "5" },
  });

export function createBasketService(deps: BasketDeps) {
  const { store, clock, currency } = deps;

  async function couponOf(basket: Basket): Promise<CouponView | null> {
    if (!basket.couponCode) return null;
    const { subtotal } = totals(basket, currency);
    try {
      const result = await deps.discounts.validate(basket.couponCode, basket.userId, subtotal);
      return result.valid
        ? { code: result.code, valid: true, discount: result.discount }
        : { code: result.code, valid: false, reason: result.reason, detail: result.detail };
    } catch (error) {
      if (!(error instanceof ServiceUnavailableError)) throw error;
      deps.logger.warn("coupon not checked", { error: error.message });
      return {
        code: basket.couponCode,
        valid: false,
        reason: "unavailable",
        detail: "the coupon cannot be checked right now",
      };
    }
  }

  async function view(userId: string) {
    const basket = await store.get(userId);
    const coupon = basket ? await couponOf(basket) : null;
    return {
      lines: (basket?.lines ?? []).map(({ catalogAsOf: _, ...line }) => ({
        ...line,
        lineTotal: { amount: line.available ? line.unitPrice.amount * line.quantity : 0, currency },
      })),
      coupon,
      totals: totals(basket, currency, coupon?.valid ? coupon.discount.amount : 0),
      updatedAt: basket?.updatedAt ?? null,
    };
  }

  async function productOnSale(productId: string) {
    let product: ProductSnapshot | undefined;
    try {
      product = await deps.catalog.product(productId);
    } catch (error) {
      if (error instanceof ServiceUnavailableError) throw unavailable("catalog");
      throw error;
    }
    if (!product?.available) {
      throw new ProblemError({
        status: 422,
        kind: "product-unavailable",
        detail: "the product is unknown or not on sale",
        errors: [{ field: "path.productId", reason: "is not a product on sale" }],
      });
    }
    return product;
  }

  return {
    view,

    async setItem(userId: string, productId: string, quantity: number) {
      if (quantity === 0) {
        await store.update(userId, (current) => removeLine(current, productId, clock()));
      } else {
        const product = await productOnSale(productId);
        await store.update(userId, (current) => setLine(current, userId, product, quantity, clock()));
      }
      return await view(userId);
    },

    async removeItem(userId: string, productId: string) {
      const current = await store.get(userId);
      if (!current?.lines.some((line) => line.productId === productId)) {
        throw new ProblemError({ status: 404, detail: "the basket has no line for this product" });
      }
      await store.update(userId, (latest) => removeLine(latest, productId, clock()));
      return await view(userId);
    },

    async clear(userId: string) {
      await store.delete(userId);
    },

    async applyCoupon(userId: string, code: string) {
      const { subtotal } = totals(await store.get(userId), currency);
      let result;
      try {
        result = await deps.discounts.validate(code, userId, subtotal);
      } catch (error) {
        if (error instanceof ServiceUnavailableError) throw unavailable("discount service");
        throw error;
      }
      if (!result.valid) {
        throw new ProblemError({
          status: 422,
          kind: "coupon-rejected",
          detail: result.detail,
          errors: [{ field: "code", reason: result.detail }],
          extensions: { reason: result.reason },
        });
      }
      await store.update(userId, (current) => withCoupon(current, userId, result.code, clock()));
      return await view(userId);
    },

    async removeCoupon(userId: string) {
      await store.update(
        userId,
        (current) => (current?.couponCode ? withCoupon(current, userId, null, clock()) : undefined),
      );
      return await view(userId);
    },

    /** After a catalog event: every basket holding the product sees its new price, name or status. */
    async refreshProduct(update: Parameters<typeof refreshProduct>[1]) {
      for (const userId of await store.basketsWithProduct(update.productId)) {
        await store.update(userId, (current) => refreshProduct(current, update, clock()));
      }
    },
  };
}

export type BasketService = ReturnType<typeof createBasketService>;
