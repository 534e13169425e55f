/**
 * What the dashboard consumes: the events after which a figure may have changed. Each makes the
 * dashboard read the affected source again; the event itself carries no counts, so handling one
 * twice, or missing one (the scheduled refresh heals it), changes nothing that stays wrong.
 */
import { catalogEvents } from "@multishop/kit/contracts/catalog";
import { messageEvents } from "@multishop/kit/contracts/messages";
import { orderEvents } from "@multishop/kit/contracts/orders";
import { reviewEvents } from "@multishop/kit/contracts/reviews";
import type { Envelope, EventSubscriber } from "@multishop/kit/messaging";
import type { Dashboard } from "./dashboard.ts";
import { affectedSource, type ConsumedEvent, consumedEventTypes } from "./domain.ts";

export const dashboardQueue = "dashboard";

const contracts = {
  "catalog.product.created": catalogEvents["catalog.product.created"],
  "catalog.product.deleted": catalogEvents["catalog.product.deleted"],
  "order.status_changed": orderEvents["order.status_changed"],
  "comment.review.status_changed": reviewEvents["comment.review.status_changed"],
  "message.sent": messageEvents["message.sent"],
  "message.read": messageEvents["message.read"],
} satisfies Record<ConsumedEvent["type"], unknown>;

/** The event with its payload checked against its contract; a payload that breaks it throws. */
function parseEvent(envelope: Envelope): ConsumedEvent {
  const type = envelope.type as ConsumedEvent["type"];
  return { type, payload: contracts[type].parse(envelope.payload) } as ConsumedEvent;
}

export async function consumeDashboardEvents(bus: EventSubscriber, dashboard: Dashboard): Promise<void> {
  await bus.subscribe(dashboardQueue, [...consumedEventTypes], (envelope) =>
    Promise.try(() => {
      const source = affectedSource(parseEvent(envelope));
      // Only an open stream shows a change; a request reads every source anew anyway. Not awaited:
      // the read runs behind the acknowledgement and marks its source unavailable rather than fail,
      // so a source that is down never sends its events to be retried or dead-lettered.
      if (source && dashboard.watching() > 0) void dashboard.refresh(source);
    }));
}
