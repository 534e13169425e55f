/**
 * What the order service consumes: the replies to its checkout commands. Each is handled once
 * (orders.ts records it in the inbox) and matched to its order by the order id it carries.
 */
import type { MessageBus } from "@multishop/kit/messaging";
import { replyTypes } from "./domain.ts";
import { orderQueue, type Orders } from "./orders.ts";

export async function consumeOrderReplies(bus: MessageBus, orders: Orders): Promise<void> {
  await bus.subscribe(orderQueue, [...replyTypes], (envelope) => orders.handleReply(envelope));
}
