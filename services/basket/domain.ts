/** The basket's rules: limits, lines, and totals computed on the server. No I/O. */
import { z } from "@hono/zod-openapi";
import { ProblemError } from "@multishop/kit/problem";
import type { Money } from "@multishop/kit/contracts/money";
import type { Basket, BasketLine } from "./store/types.ts";

export const maxQuantity = 99;
export const maxLines = 100;

/** A product as the catalog describes it now; the basket keeps this snapshot, never the client's. */
export interface ProductSnapshot {
  productId: string;
  name: string;
  unitPrice: Money;
  image: string | null;
  available: boolean;
  /** RFC 3339: when the catalog's product was in this state. */
  catalogAsOf: string;
}

// Only the quantity is read: a price or name in the body is ignored, as the catalog is the one source.
export const quantityInput = z.object({
  quantity: z.number().int("must be a whole number").min(0).max(
    maxQuantity,
    `must be at most ${maxQuantity}`,
  ),
}).openapi("QuantityInput", { description: "0 removes the line" });

export const couponInput = z.strictObject({ code: z.string().trim().min(1).max(64) }).openapi(
  "BasketCouponInput",
);

function emptyBasket(userId: string, now: Date): Basket {
  return { userId, lines: [], couponCode: null, updatedAt: now.toISOString() };
}

/** Sets a line's quantity (0 removes it) with the product as the catalog describes it now. */
export function setLine(
  current: Basket | undefined,
  userId: string,
  product: ProductSnapshot,
  quantity: number,
  now: Date,
): Basket {
  const basket = current ?? emptyBasket(userId, now);
  const others = basket.lines.filter((line) => line.productId !== product.productId);
  if (quantity === 0) return { ...basket, lines: others, updatedAt: now.toISOString() };
  const existing = basket.lines.find((line) => line.productId === product.productId);
  if (!existing && basket.lines.length >= maxLines) {
    throw new ProblemError({
      status: 422,
      kind: "basket-full",
      detail: `a basket holds at most ${maxLines} different products`,
    });
  }
  const line: BasketLine = { ...product, quantity };
  const lines = existing
    ? basket.lines.map((item) => (item.productId === product.productId ? line : item))
    : [...basket.lines, line];
  return { ...basket, lines, updatedAt: now.toISOString() };
}

export function removeLine(current: Basket | undefined, productId: string, now: Date): Basket | undefined {
  if (!current?.lines.some((line) => line.productId === productId)) return undefined;
  return {
    ...current,
    lines: current.lines.filter((line) => line.productId !== productId),
    updatedAt: now.toISOString(),
  };
}

export function withCoupon(
  current: Basket | undefined,
  userId: string,
  code: string | null,
  now: Date,
): Basket {
  return { ...(current ?? emptyBasket(userId, now)), couponCode: code, updatedAt: now.toISOString() };
}

/**
 * Brings one product's line up to date with the catalog (price, name, image, whether it is sold),
 * unless the line already shows a newer state of the product: events may arrive late or twice.
 */
export function refreshProduct(
  current: Basket | undefined,
  update: Partial<ProductSnapshot> & Pick<ProductSnapshot, "productId" | "catalogAsOf">,
  now: Date,
): Basket | undefined {
  const asOf = Date.parse(update.catalogAsOf);
  const outdated = (line: BasketLine) =>
    line.productId === update.productId && !(line.catalogAsOf && Date.parse(line.catalogAsOf) > asOf);
  if (!current?.lines.some(outdated)) return undefined;
  const lines = current.lines.map((line) => (outdated(line) ? { ...line, ...update } : line));
  return { ...current, lines, updatedAt: now.toISOString() };
}

export interface Totals {
  subtotal: Money;
  discount: Money;
  total: Money;
  itemCount: number;
}

/** Unavailable lines are shown but not charged; the discount never exceeds the subtotal. */
export function totals(basket: Basket | undefined, currency: string, discountAmount = 0): Totals {
  const charged = (basket?.lines ?? []).filter((line) => line.available);
  const subtotal = charged.reduce((sum, line) => sum + line.unitPrice.amount * line.quantity, 0);
  const discount = Math.min(discountAmount, subtotal);
  return {
    subtotal: { amount: subtotal, currency },
    discount: { amount: discount, currency },
    total: { amount: subtotal - discount, currency },
    itemCount: charged.reduce((sum, line) => sum + line.quantity, 0),
  };
}
