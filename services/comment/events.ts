/**
 * What the comment service consumes and publishes. It consumes the order service's
 * `order.confirmed` (the customer bought the order's products) and `order.status_changed` (a
 * cancellation takes those purchases back), each handled once through the inbox (reviews.ts). It
 * publishes `comment.review.status_changed` through the outbox when a review is submitted (previous
 * status null) and when a moderator changes its status; a deletion publishes nothing, since the
 * event's contract has no status for a review that is gone.
 */
import type { Logger } from "@multishop/kit/log";
import type { EventSubscriber } from "@multishop/kit/messaging";
import { commentQueue, type Reviews } from "./reviews.ts";

export const consumedTypes = ["order.confirmed", "order.status_changed"] as const;

export async function consumeCommentEvents(bus: EventSubscriber, reviews: Reviews, logger: Logger) {
  await bus.subscribe(commentQueue, [...consumedTypes], async (envelope) => {
    switch (envelope.type) {
      case "order.confirmed":
        await reviews.orderConfirmed(envelope);
        break;
      case "order.status_changed":
        await reviews.orderStatusChanged(envelope);
        break;
    }
    logger.debug("message handled", { type: envelope.type, messageId: envelope.id });
  });
}
