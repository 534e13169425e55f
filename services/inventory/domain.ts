/**
 * Stock and reservations: what a product has available, whether an order's lines can be reserved, and
 * how a reservation moves on to committed, released or expired. No I/O: stock levels and the time come
 * in as values.
 */
import { z } from "@hono/zod-openapi";
import { productSnapshot } from "@multishop/kit/contracts/catalog";
import { uuidId, uuidListPattern } from "@multishop/kit/formats";

/** A product's status in the catalog: only active products are sold and known to the public. */
export const catalogStatuses = productSnapshot.shape.status.options;
export type CatalogStatus = (typeof catalogStatuses)[number];

/** One product's stock, as stored. */
export interface StockLevel {
  productId: string;
  onHand: number;
  /** Held by reservations of orders not yet confirmed; never more than onHand. */
  reserved: number;
  /** The product left the catalog: nothing more of it can be reserved. */
  retired: boolean;
  /** The product's status as the catalog last said; null when it has not said. */
  catalogStatus: CatalogStatus | null;
  updatedAt: Date;
}

/** What customers can still order: nothing of a product without stock or retired, else what is not held. */
export function available(stock: Pick<StockLevel, "onHand" | "reserved" | "retired"> | undefined): number {
  if (!stock || stock.retired) return 0;
  return stock.onHand - stock.reserved;
}

/**
 * Whether the public may see the product's availability: not while the catalog keeps the product
 * from the public (a draft, an archived product), since availability would reveal that it exists. A
 * product the catalog has not said anything about is shown.
 */
export const shownToPublic = (stock: Pick<StockLevel, "catalogStatus">): boolean =>
  stock.catalogStatus === null || stock.catalogStatus === "active";

/** Why an admin cannot set the count on hand to `onHand`, or undefined when they can. */
export function onHandProblem(stock: Pick<StockLevel, "reserved">, onHand: number): string | undefined {
  if (onHand >= stock.reserved) return undefined;
  return `${stock.reserved} units are reserved by orders in checkout, so at least ${stock.reserved} ` +
    "must stay on hand; try again once they are confirmed or released";
}

export interface ReservationLine {
  productId: string;
  quantity: number;
}

/**
 * One line per product, the quantities of a repeated product added up, sorted by product id: the
 * canonical form of a request, so that the same lines sent in another order are the same request.
 */
export function normalizeLines(lines: readonly ReservationLine[]): ReservationLine[] {
  const quantities = new Map<string, number>();
  for (const line of lines) {
    quantities.set(line.productId, (quantities.get(line.productId) ?? 0) + line.quantity);
  }
  return [...quantities]
    .map(([productId, quantity]) => ({ productId, quantity }))
    .sort((a, b) => a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0);
}

const sameLines = (a: readonly ReservationLine[], b: readonly ReservationLine[]) =>
  a.length === b.length &&
  a.every((line, i) => line.productId === b[i].productId && line.quantity === b[i].quantity);

/**
 * The products whose available stock cannot cover their line, in line order; none means that every
 * line can be reserved. A product without a stock row has nothing available.
 */
export function shortages(
  lines: readonly ReservationLine[],
  stock: ReadonlyMap<string, Pick<StockLevel, "onHand" | "reserved" | "retired">>,
): string[] {
  return lines.filter((line) => available(stock.get(line.productId)) < line.quantity).map((l) => l.productId);
}

/**
 * Where an order's reservation stands. `failed`: the reserve found products out of stock and holds
 * nothing; it stays failed, and repeating the reserve answers the same. `expired`: nobody confirmed it
 * before its deadline, so it holds nothing, but the order may still be paid for and commit it (see
 * statusAfterCommit); `released` is final.
 */
export type ReservationStatus = "reserved" | "committed" | "expired" | "released" | "returned" | "failed";

export interface Reservation {
  orderId: string;
  /** As asked, normalised (see normalizeLines). */
  lines: ReservationLine[];
  status: ReservationStatus;
  /** The products that lacked stock when the reservation failed; empty otherwise. */
  outOfStock: string[];
  /** When held stock is released unless the order is confirmed first; null when the reserve failed. */
  expiresAt: Date | null;
}

/** A step the reservation's state does not allow; the checkout has a bug or sent a stale message. */
export class ReservationError extends Error {
  constructor(
    readonly kind: "not_found" | "mismatch" | "not_reserved" | "committed",
    message: string,
  ) {
    super(message);
    this.name = "ReservationError";
  }
}

export const reservationDeadline = (now: Date, ttlSeconds: number) =>
  new Date(now.getTime() + ttlSeconds * 1000);

/** A repeated reserve must ask for the same lines, or the answer recorded for the order would be about another basket. */
export function checkSameRequest(reservation: Reservation, lines: readonly ReservationLine[]): void {
  if (sameLines(reservation.lines, lines)) return;
  throw new ReservationError(
    "mismatch",
    `order ${reservation.orderId} already asked to reserve ${describeLines(reservation.lines)}, ` +
      `not ${describeLines(lines)}`,
  );
}

const describeLines = (lines: readonly ReservationLine[]) =>
  lines.map((line) => `${line.quantity} × ${line.productId}`).join(", ");

/**
 * The status `commit` moves a reservation to, or why it cannot. A reservation past its deadline that
 * the sweep has not released yet still holds its stock, so committing it oversells nothing. An expired
 * one takes its units from the shelf again when `stock` still has them all (the order service was away
 * longer than the deadline, and the customer has paid); otherwise it stays expired, and the order is
 * cancelled out of stock.
 */
export function statusAfterCommit(
  reservation: Reservation,
  stock: ReadonlyMap<string, Pick<StockLevel, "onHand" | "reserved" | "retired">>,
): ReservationStatus {
  if (reservation.status === "reserved" || reservation.status === "committed") return "committed";
  if (reservation.status === "expired") {
    return shortages(reservation.lines, stock).length === 0 ? "committed" : "expired";
  }
  throw new ReservationError(
    "not_reserved",
    `order ${reservation.orderId}'s reservation is ${reservation.status}, so it cannot be committed`,
  );
}

/**
 * The status `release` moves a reservation to. Committed stock has left with a confirmed order, so
 * releasing it is refused; a released or failed reservation holds nothing and stays as it is. An
 * expired one becomes released, so that a commit arriving late cannot take its units again.
 */
export function statusAfterRelease(reservation: Reservation): ReservationStatus {
  if (reservation.status === "committed") {
    throw new ReservationError(
      "committed",
      `order ${reservation.orderId}'s reservation is committed; a confirmed order keeps its stock`,
    );
  }
  return reservation.status === "reserved" || reservation.status === "expired"
    ? "released"
    : reservation.status;
}

/**
 * The status `return` moves a reservation to: committed units come back on the shelf. A reservation
 * not committed yet (the commit is still on its way) is released instead, so the units are free
 * either way and the late commit is refused; one that holds nothing stays as it is.
 */
export function statusAfterReturn(reservation: Reservation): ReservationStatus {
  if (reservation.status === "committed") return "returned";
  return statusAfterRelease(reservation);
}

/** Whether the reservation still holds stock past its deadline at `now`. */
export const isDue = (reservation: Reservation, now: Date) =>
  reservation.status === "reserved" && reservation.expiresAt !== null && reservation.expiresAt <= now;

/** The status the expiry sweep moves a reservation to: expired when due, else where it stands. */
export const statusAfterExpiry = (now: Date) => (reservation: Reservation): ReservationStatus =>
  isDue(reservation, now) ? "expired" : reservation.status;

// PostgreSQL's integer column holds up to 2^31 - 1; a billion units is beyond any real shelf.
const maxOnHand = 1_000_000_000;
export const maxProductIdsPerQuery = 100;

/** Product ids are the catalog's: UUIDs. */
export const productId = uuidId("must be a product id");

/** The request body of PUT /v1/inventory/{productId}. */
export const stockInput = z.strictObject({
  onHand: z.number().int("must be a whole number of units").min(0).max(maxOnHand).openapi({
    description: "units on the shelf, reserved ones included",
    example: 120,
  }),
}).openapi("StockInput");

/** `?productIds=a,b`: 1 to 100 comma-separated product ids. */
export const productIdList = z.string()
  .openapi({ pattern: uuidListPattern(maxProductIdsPerQuery) })
  .transform((value) => value.split(",").map((id) => id.trim()))
  .pipe(
    z.array(productId)
      .min(1)
      .max(maxProductIdsPerQuery, `at most ${maxProductIdsPerQuery} product ids per request`),
  );
