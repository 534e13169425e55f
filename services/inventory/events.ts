/**
 * What the inventory consumes and publishes.
 *
 * Consumed, on the `inventory` queue: the order service's checkout commands (reserve, commit,
 * release, return) and the catalog's product events, which create stock records, keep the product's
 * status (public availability hides drafts) and retire them. Each
 * message is handled once: inventory.ts records it in the inbox in the transaction of its effects.
 *
 * Published through the outbox, in the transaction of the change: each command's reply, with the
 * order id as correlation id and the command's id as causation id, and `inventory.released` when the
 * expiry sweep releases a reservation nobody confirmed.
 */
import { describeError, type Logger } from "@multishop/kit/log";
import type { MessageBus } from "@multishop/kit/messaging";
import { ReservationError } from "./domain.ts";
import { type Inventory, inventoryQueue } from "./inventory.ts";

const consumedTypes = [
  "inventory.reserve",
  "inventory.commit",
  "inventory.release",
  "inventory.return",
  "catalog.product.created",
  "catalog.product.updated",
  "catalog.product.deleted",
] as const;

export async function consumeInventoryMessages(
  bus: MessageBus,
  inventory: Inventory,
  logger: Logger,
): Promise<void> {
  await bus.subscribe(inventoryQueue, [...consumedTypes], async (envelope) => {
    const fields = { type: envelope.type, messageId: envelope.id, correlationId: envelope.correlationId };
    try {
      const handled = await inventory.handle(envelope);
      logger.debug(handled ? "message handled" : "message handled before; skipped", fields);
    } catch (error) {
      if (!(error instanceof ReservationError)) throw error;
      // The reservation's state refuses the step (a stale or buggy command). Trying again cannot
      // change that, so the message is not retried; its transaction rolled back, so no reply is
      // sent. A refused reserve leaves the order to its step deadline, which compensates it; a
      // refused commit (the reservation expired while the order service was down for longer than
      // its lifetime) leaves a confirmed order whose units stay on the shelf: this line is the
      // signal to act on.
      logger.error("checkout command refused; no reply sent", {
        ...fields,
        kind: error.kind,
        ...describeError(error),
      });
    }
  });
}
