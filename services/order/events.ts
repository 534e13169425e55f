/**
 * What the order service consumes: the replies to its checkout commands, and its shipments'
 * progress from the cargo service. Each is handled once (orders.ts records it in the inbox) and
 * matched to its order by the order id it carries.
 */
import type { MessageBus } from "@multishop/kit/messaging";
import { replyTypes } from "./domain.ts";
import { orderQueue, type Orders } from "./orders.ts";

const shipmentTypes = ["cargo.shipment.created", "cargo.shipment.status_changed"];

export async function consumeOrderMessages(bus: MessageBus, orders: Orders): Promise<void> {
  await bus.subscribe(
    orderQueue,
    [...replyTypes, ...shipmentTypes],
    (envelope) =>
      shipmentTypes.includes(envelope.type) ? orders.handleShipment(envelope) : orders.handleReply(envelope),
  );
}
