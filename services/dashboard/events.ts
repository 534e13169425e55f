/**
 * What the dashboard consumes: the events after which a figure may have changed. Each makes the
 * dashboard read the affected source again; the event itself carries no counts, so handling one
 * twice, or missing one (the scheduled refresh heals it), changes nothing that stays wrong.
 */
import type { Envelope, EventSubscriber } from "@multishop/kit/messaging";
import type { Dashboard } from "./dashboard.ts";
import { affectedSource, consumedContracts, type ConsumedEvent } from "./domain.ts";

export const dashboardQueue = "dashboard";

/** The event with its payload checked against its contract; a payload that breaks it throws. */
function parseEvent(envelope: Envelope): ConsumedEvent {
  const type = envelope.type as ConsumedEvent["type"];
  return { type, payload: consumedContracts[type].parse(envelope.payload) } as ConsumedEvent;
}

export async function consumeDashboardEvents(bus: EventSubscriber, dashboard: Dashboard): Promise<void> {
  await bus.subscribe(dashboardQueue, Object.keys(consumedContracts), (envelope) =>
    Promise.try(() => {
      const source = affectedSource(parseEvent(envelope));
      // Only an open stream shows a change; a request reads every source anew anyway. Not awaited:
      // the read runs behind the acknowledgement and marks its source unavailable rather than fail,
      // so a source that is down never sends its events to be retried or dead-lettered.
      if (source && dashboard.watching() > 0) void dashboard.refresh(source);
    }));
}
