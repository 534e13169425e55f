/**
 * The inventory service's use cases: availability, stock administration, the checkout's reserve,
 * commit, release and return, the expiry of reservations nobody confirmed, and products coming,
 * changing status and going with the catalog. The rules come from domain.ts, the queries from store/; this file puts them
 * in order. A consumed message is applied in one transaction with its inbox record and, for a
 * checkout command, its reply in the outbox; an expiry writes `inventory.released` in its own.
 */
import { inventoryMessages } from "@multishop/kit/contracts/checkout";
import { catalogEvents } from "@multishop/kit/contracts/catalog";
import { stableUuid } from "@multishop/kit/digest";
import { enqueue, type Envelope, handleOnce } from "@multishop/kit/messaging";
import type { Sql, TransactionSql } from "@multishop/kit/postgres";
import { ProblemError } from "@multishop/kit/problem";
import type { z } from "zod";
import {
  available,
  checkSameRequest,
  normalizeLines,
  type Reservation,
  reservationDeadline,
  ReservationError,
  type ReservationLine,
  shownToPublic,
  statusAfterCommit,
  statusAfterExpiry,
  statusAfterRelease,
  statusAfterReturn,
  type StockLevel,
} from "./domain.ts";
import type { InventoryStore } from "./store/postgres.ts";

export interface InventoryDeps {
  sql: Sql;
  store: InventoryStore;
  /** Told after each commit that wrote to the outbox, so events go out without waiting for its poll. */
  outbox: { notify(): void };
  /** The time reservations' deadlines are set and judged by. */
  clock: () => Date;
  reservationTtlSeconds: number;
}

/**
 * The queue the checkout's commands and the catalog's product events arrive on; the inbox records
 * handled messages per this name.
 */
export const inventoryQueue = "inventory";

type Reply =
  | "inventory.reserved"
  | "inventory.reservation_failed"
  | "inventory.committed"
  | "inventory.commit_failed"
  | "inventory.released"
  | "inventory.returned";

/**
 * A reply's id is derived from its command's, so a command is answered under one id however often it
 * is handled: should its inbox record be gone (purged) when it comes again, the order service's inbox
 * still drops the second reply.
 */
const replyId = (command: Envelope) => stableUuid(`inventory:reply:${command.id}`);

/** An order's reservation expires once, so the event that says so has an id derived from the order's. */
const expiryId = (orderId: string) => stableUuid(`inventory:expired:${orderId}`);

export interface Availability {
  productId: string;
  available: number;
  inStock: boolean;
}

export function createInventory(deps: InventoryDeps) {
  const { sql, store, outbox, clock } = deps;

  async function reserve(
    tx: TransactionSql,
    orderId: string,
    lines: readonly ReservationLine[],
  ): Promise<Reservation> {
    const normalized = normalizeLines(lines);
    const deadline = reservationDeadline(clock(), deps.reservationTtlSeconds);
    const reservation = await store.reserve(tx, orderId, normalized, deadline);
    checkSameRequest(reservation, normalized);
    return reservation;
  }

  async function commit(tx: TransactionSql, orderId: string): Promise<Reservation> {
    const moved = await store.transition(tx, orderId, statusAfterCommit);
    if (!moved) throw new ReservationError("not_found", `order ${orderId} reserved nothing`);
    return moved.reservation;
  }

  const release = async (tx: TransactionSql, orderId: string): Promise<Reservation | undefined> =>
    (await store.transition(tx, orderId, statusAfterRelease))?.reservation;

  const giveBack = async (tx: TransactionSql, orderId: string): Promise<Reservation | undefined> =>
    (await store.transition(tx, orderId, statusAfterReturn))?.reservation;

  /** Writes the command's reply to the outbox in the caller's transaction. */
  async function reply<T extends Reply>(
    tx: TransactionSql,
    command: Envelope,
    type: T,
    payload: z.input<(typeof inventoryMessages)[T]>,
  ): Promise<void> {
    await enqueue(tx, type, inventoryMessages[type], payload, {
      id: await replyId(command),
      correlationId: payload.orderId,
      causationId: command.id,
    });
  }

  /**
   * Applies the message in the caller's transaction; answers whether it wrote a reply. A command
   * repeated under a new id (the order service repeats a step after a restart) gets the answer the
   * first one got, since every step is idempotent per order.
   */
  async function apply(tx: TransactionSql, envelope: Envelope): Promise<boolean> {
    switch (envelope.type) {
      case "inventory.reserve": {
        const { orderId, lines } = inventoryMessages["inventory.reserve"].parse(envelope.payload);
        const reservation = await reserve(tx, orderId, lines);
        if (reservation.status === "failed") {
          await reply(tx, envelope, "inventory.reservation_failed", {
            orderId,
            reason: "out_of_stock",
            productIds: reservation.outOfStock,
          });
        } else {
          await reply(tx, envelope, "inventory.reserved", { orderId });
        }
        return true;
      }
      case "inventory.commit": {
        const { orderId } = inventoryMessages["inventory.commit"].parse(envelope.payload);
        const reservation = await commit(tx, orderId);
        if (reservation.status === "expired") {
          await reply(tx, envelope, "inventory.commit_failed", { orderId, reason: "out_of_stock" });
        } else {
          await reply(tx, envelope, "inventory.committed", { orderId });
        }
        return true;
      }
      case "inventory.release": {
        // An order that reserved nothing, or whose reservation failed, holds nothing: released too.
        const { orderId } = inventoryMessages["inventory.release"].parse(envelope.payload);
        await release(tx, orderId);
        await reply(tx, envelope, "inventory.released", { orderId });
        return true;
      }
      case "inventory.return": {
        const { orderId } = inventoryMessages["inventory.return"].parse(envelope.payload);
        await giveBack(tx, orderId);
        await reply(tx, envelope, "inventory.returned", { orderId });
        return true;
      }
      case "catalog.product.created":
      case "catalog.product.updated": {
        const { productId, status } = catalogEvents[envelope.type].parse(envelope.payload);
        await store.recordCatalogStatus(tx, productId, status, new Date(envelope.occurredAt));
        return false;
      }
      case "catalog.product.deleted": {
        const { productId } = catalogEvents["catalog.product.deleted"].parse(envelope.payload);
        await store.retire(tx, productId);
        return false;
      }
      default:
        throw new Error(`the inventory does not handle ${envelope.type} messages`);
    }
  }

  return {
    /**
     * Handles one message of the inventory's queue, once: false, changing and writing nothing, when
     * a message with its id was handled before. A checkout command the reservation refuses throws a
     * ReservationError and leaves no trace.
     */
    async handle(envelope: Envelope): Promise<boolean> {
      let replied = false;
      const handled = await handleOnce(sql, inventoryQueue, envelope, async (tx) => {
        replied = await apply(tx, envelope);
      });
      if (replied) outbox.notify();
      return handled;
    },

    /**
     * Each product once, in the order asked; a product without stock has 0 available, and so has one
     * the public may not know of (a draft), exactly as if the inventory did not know it either.
     */
    async availability(productIds: readonly string[]): Promise<Availability[]> {
      const unique = [...new Set(productIds)];
      const stock = await store.stockLevels(unique);
      return unique.map((productId) => {
        const level = stock.get(productId);
        const units = level && shownToPublic(level) ? available(level) : 0;
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
    reserve: (orderId: string, lines: readonly ReservationLine[]): Promise<Reservation> =>
      sql.begin((tx) => reserve(tx, orderId, lines)),

    /**
     * The order is paid for: its units leave the shelf. Committing again changes nothing. A
     * reservation that expired takes its units again if they are all still there, and otherwise
     * stays `expired`.
     */
    commit: (orderId: string): Promise<Reservation> => sql.begin((tx) => commit(tx, orderId)),

    /**
     * The checkout failed or the order was cancelled: its units are available again. Undefined when
     * the order reserved nothing, so that a compensation may always run; releasing again changes
     * nothing; a committed reservation is refused.
     */
    release: (orderId: string): Promise<Reservation | undefined> => sql.begin((tx) => release(tx, orderId)),

    /**
     * A confirmed order was cancelled before shipping: its committed units are back on the shelf. A
     * reservation not committed yet is released instead. Undefined when the order reserved nothing;
     * returning again changes nothing.
     */
    return: (orderId: string): Promise<Reservation | undefined> => sql.begin((tx) => giveBack(tx, orderId)),

    /**
     * Expires the reservations past their deadline now, freeing their units, and returns them. Each
     * expires in a transaction of its own that also writes `inventory.released` (no causation: no
     * command asked for it), so an expiry is announced exactly when it happened.
     */
    async expire(): Promise<Reservation[]> {
      const now = clock();
      const released: Reservation[] = [];
      for (const orderId of await store.dueOrders(now)) {
        const expired = await sql.begin(async (tx) => {
          // Judged again under the order's lock: it may have been committed or released meanwhile.
          const moved = await store.transition(tx, orderId, statusAfterExpiry(now));
          if (!moved?.changed) return undefined;
          await enqueue(tx, "inventory.released", inventoryMessages["inventory.released"], { orderId }, {
            id: await expiryId(orderId),
            correlationId: orderId,
          });
          return moved.reservation;
        });
        if (!expired) continue;
        outbox.notify();
        released.push(expired);
      }
      return released;
    },

    /** A product left the catalog: what is held stays held, but nothing more can be reserved. */
    retireProduct: (productId: string): Promise<void> => sql.begin((tx) => store.retire(tx, productId)),
  };
}

export type Inventory = ReturnType<typeof createInventory>;
