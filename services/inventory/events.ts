/**
 * What the inventory consumes and publishes. The order service's checkout commands (reserve, commit,
 * release, return) each get a reply event carrying the order id as its correlation id and the command's id as
 * its causation id; the catalog's product events create and retire stock records.
 *
 * Replies are published once the transaction that made the change has committed. If publishing
 * fails, the handler fails and the bus delivers the command again: handling is idempotent, so the
 * redelivery changes nothing and publishes the same reply. The outbox (DESIGN.md, Messaging) will
 * take the place of the direct `publish` calls below: the store's reserve and transition will write
 * the reply into an outbox table in their own transaction, and its relay will publish it.
 */
import { catalogEvents } from "@multishop/kit/contracts/catalog";
import { inventoryMessages } from "@multishop/kit/contracts/checkout";
import { stableUuid } from "@multishop/kit/digest";
import { describeError, type Logger } from "@multishop/kit/log";
import type { Envelope, EventPublisher, MessageBus } from "@multishop/kit/messaging";
import type { z } from "zod";
import { type Reservation, ReservationError } from "./domain.ts";
import type { Inventory } from "./inventory.ts";

export const inventoryQueue = "inventory";

/** What the inventory listens to: the checkout's commands and the catalog's product lifecycle. */
const consumedTypes = [
  "inventory.reserve",
  "inventory.commit",
  "inventory.release",
  "inventory.return",
  "catalog.product.created",
  "catalog.product.deleted",
] as const;

type Reply =
  | "inventory.reserved"
  | "inventory.reservation_failed"
  | "inventory.committed"
  | "inventory.released"
  | "inventory.returned";

/**
 * The reply's id is derived from the command's, so a redelivered command's reply has the same id as
 * the first one and a consumer that remembers handled ids (an inbox) drops it.
 */
const replyId = (command: Envelope) => stableUuid(`inventory:reply:${command.id}`);

export async function consumeInventoryMessages(
  bus: MessageBus,
  inventory: Inventory,
  logger: Logger,
): Promise<void> {
  async function reply<T extends Reply>(
    command: Envelope,
    type: T,
    payload: z.input<(typeof inventoryMessages)[T]>,
  ) {
    await bus.publish(type, inventoryMessages[type], payload, {
      id: await replyId(command),
      correlationId: payload.orderId,
      causationId: command.id,
    });
  }

  /** The reply that says where a reservation stands after reserve: what the first reserve answered. */
  function reserveReply(command: Envelope, reservation: Reservation) {
    const { orderId, outOfStock } = reservation;
    if (reservation.status === "failed") {
      return reply(command, "inventory.reservation_failed", {
        orderId,
        reason: "out_of_stock",
        productIds: outOfStock,
      });
    }
    return reply(command, "inventory.reserved", { orderId });
  }

  async function handle(envelope: Envelope): Promise<void> {
    switch (envelope.type) {
      case "inventory.reserve": {
        const { orderId, lines } = inventoryMessages["inventory.reserve"].parse(envelope.payload);
        return await reserveReply(envelope, await inventory.reserve(orderId, lines));
      }
      case "inventory.commit": {
        const { orderId } = inventoryMessages["inventory.commit"].parse(envelope.payload);
        await inventory.commit(orderId);
        return await reply(envelope, "inventory.committed", { orderId });
      }
      case "inventory.release": {
        // An order that reserved nothing, or whose reservation failed, holds nothing: released too.
        const { orderId } = inventoryMessages["inventory.release"].parse(envelope.payload);
        await inventory.release(orderId);
        return await reply(envelope, "inventory.released", { orderId });
      }
      case "inventory.return": {
        const { orderId } = inventoryMessages["inventory.return"].parse(envelope.payload);
        await inventory.return(orderId);
        return await reply(envelope, "inventory.returned", { orderId });
      }
      case "catalog.product.created": {
        const { productId } = catalogEvents["catalog.product.created"].parse(envelope.payload);
        await inventory.addProduct(productId);
        return;
      }
      case "catalog.product.deleted": {
        const { productId } = catalogEvents["catalog.product.deleted"].parse(envelope.payload);
        await inventory.retireProduct(productId);
        return;
      }
    }
  }

  await bus.subscribe(inventoryQueue, [...consumedTypes], async (envelope) => {
    const fields = { type: envelope.type, messageId: envelope.id, correlationId: envelope.correlationId };
    try {
      await handle(envelope);
      logger.debug("message handled", fields);
    } catch (error) {
      if (!(error instanceof ReservationError)) throw error;
      // The reservation's state refuses the step (a stale or buggy command). Trying again cannot
      // change that, so the message is not retried; no reply is sent, and the order service's step
      // deadline fails and compensates the order.
      logger.error("checkout command refused; no reply sent", {
        ...fields,
        kind: error.kind,
        ...describeError(error),
      });
    }
  });
}

/**
 * Releases the reservations past their deadline and tells the order service, with `inventory.released`
 * (no causation: no command asked for it). An order's reservation expires once, so the event's id is
 * derived from the order id. Returns how many were released. A release whose event fails to publish
 * stays released, unannounced; with the outbox, the event will be written in the release's transaction.
 */
export async function releaseExpired(bus: EventPublisher, inventory: Inventory): Promise<number> {
  const released = await inventory.expire();
  for (const { orderId } of released) {
    await bus.publish("inventory.released", inventoryMessages["inventory.released"], { orderId }, {
      id: await stableUuid(`inventory:expired:${orderId}`),
      correlationId: orderId,
    });
  }
  return released.length;
}
