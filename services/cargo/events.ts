/**
 * What the cargo service consumes and publishes.
 *
 * Consumed, on the `cargo` queue: `order.confirmed` creates the order's shipment, and
 * `order.status_changed` to `cancelled` cancels a shipment the carrier has not picked up yet. Each
 * message is handled once (cargo.ts records it in the inbox in the transaction of its effects).
 *
 * Published through the outbox, with the order id as correlation id and the consumed message's id
 * as causation id where a message caused it: `cargo.shipment.created`, and
 * `cargo.shipment.status_changed` at every change of a shipment's status.
 */
import type { MessageBus } from "@multishop/kit/messaging";
import { type Cargo, cargoQueue } from "./cargo.ts";

const consumedTypes = ["order.confirmed", "order.status_changed"] as const;

export async function consumeCargoMessages(bus: MessageBus, cargo: Cargo): Promise<void> {
  await bus.subscribe(cargoQueue, [...consumedTypes], (envelope) => cargo.handle(envelope));
}
