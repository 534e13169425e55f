/**
 * The inventory service's use cases: availability, stock administration, the checkout's reserve,
 * commit and release, the expiry of reservations nobody confirmed, and products coming and going with
 * the catalog. The rules come from domain.ts, the queries from store/; this file puts them in order.
 */
import { ProblemError } from "@multishop/kit/problem";
import {
  available,
  checkSameRequest,
  normalizeLines,
  type Reservation,
  reservationDeadline,
  ReservationError,
  type ReservationLine,
  statusAfterCommit,
  statusAfterRelease,
  statusAfterReturn,
  type StockLevel,
} from "./domain.ts";
import type { InventoryStore } from "./store/postgres.ts";

export interface InventoryDeps {
  store: InventoryStore;
  /** The time reservations' deadlines are set and judged by. */
  clock: () => Date;
  reservationTtlSeconds: number;
}

export interface Availability {
  productId: string;
  available: number;
  inStock: boolean;
}

export function createInventory(deps: InventoryDeps) {
  const { store, clock } = deps;

  return {
    /** Each product once, in the order asked; a product without stock has 0 available. */
    async availability(productIds: readonly string[]): Promise<Availability[]> {
      const unique = [...new Set(productIds)];
      const stock = await store.stockLevels(unique);
      return unique.map((productId) => {
        const units = available(stock.get(productId));
        return { productId, available: units, inStock: units > 0 };
      });
    },

    async stockLevel(productId: string): Promise<StockLevel> {
      const stock = await store.stockLevel(productId);
      if (!stock) {
        throw new ProblemError({ status: 404, detail: `product ${productId} has no stock record` });
      }
      return stock;
    },

    /** Sets the units on hand; `created` when the product had no stock record. */
    async setOnHand(productId: string, onHand: number): Promise<{ stock: StockLevel; created: boolean }> {
      const result = await store.setOnHand(productId, onHand);
      if (result.outcome === "refused") {
        throw new ProblemError({
          status: 409,
          kind: "stock-reserved",
          detail: result.reason,
          errors: [{ field: "onHand", reason: result.reason }],
        });
      }
      return { stock: result.stock, created: result.outcome === "created" };
    },

    /**
     * Holds stock for every line of the order, or for none when any product lacks it, until the
     * reservation's deadline. Repeating it for the order answers the recorded reservation and holds
     * nothing more; its `status` says where it stands now.
     */
    async reserve(orderId: string, lines: readonly ReservationLine[]): Promise<Reservation> {
      const normalized = normalizeLines(lines);
      const deadline = reservationDeadline(clock(), deps.reservationTtlSeconds);
      const reservation = await store.reserve(orderId, normalized, deadline);
      checkSameRequest(reservation, normalized);
      return reservation;
    },

    /** The order is confirmed: its units leave the shelf. Committing again changes nothing. */
    async commit(orderId: string): Promise<Reservation> {
      const moved = await store.transition(orderId, statusAfterCommit);
      if (!moved) throw new ReservationError("not_found", `order ${orderId} reserved nothing`);
      return moved.reservation;
    },

    /**
     * The checkout failed or the order was cancelled: its units are available again. Undefined when
     * the order reserved nothing, so that a compensation may always run; releasing again changes
     * nothing; a committed reservation is refused.
     */
    release: async (orderId: string): Promise<Reservation | undefined> =>
      (await store.transition(orderId, statusAfterRelease))?.reservation,

    /**
     * A confirmed order was cancelled before shipping: its committed units are back on the shelf.
     * Undefined when the order reserved nothing; returning again changes nothing.
     */
    return: async (orderId: string): Promise<Reservation | undefined> =>
      (await store.transition(orderId, statusAfterReturn))?.reservation,

    /** Releases the reservations past their deadline now, and returns them. */
    expire: (): Promise<Reservation[]> => store.expire(clock()),

    /** A new catalog product gets a stock record with nothing on hand; true when it had none. */
    addProduct: async (productId: string): Promise<boolean> =>
      await store.addMissing([{ productId, onHand: 0 }]) === 1,

    /** A product left the catalog: what is held stays held, but nothing more can be reserved. */
    retireProduct: (productId: string): Promise<void> => store.retire(productId),
  };
}

export type Inventory = ReturnType<typeof createInventory>;
