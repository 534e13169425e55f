/**
 * The outbox for document stores without multi-document transactions (the catalog on MongoDB, which
 * must also run on FerretDB 1.x). A change writes its events into the changed document itself, in
 * the same single-document write, so an event exists exactly when the change does; a relay
 * publishes them afterwards, at least once, with publisher confirms, in the order they were
 * written, and only then removes them from the document.
 *
 * The store decides where the pending events live (an `outbox` array on each document); the relay
 * needs only `DocumentOutbox`: claim one document's pending events under a lease, and settle what
 * was published. Several relays (one per service instance) may run on one store: a lease lets one
 * relay at a time publish a document's events, and a relay starts a publish only while its lease
 * has time left for the broker to confirm, so no two relays publish one document's events side by
 * side, out of order.
 */
import { z } from "zod";
import { describeError, type Logger } from "../log.ts";
import { withTimeout } from "../schedule.ts";
import { createEnvelope, validatePayload } from "./envelope.ts";
import type { EventPublisher, PublishOptions } from "./types.ts";

/** An event written with a change and not yet published; its id stays the same across retries. */
export interface PendingEvent {
  id: string;
  type: string;
  payload: unknown;
  correlationId: string;
  causationId?: string;
  occurredAt: Date;
  traceparent?: string;
}

/** One document's pending events, oldest first, claimed by one relay until `leaseUntil`. */
export interface ClaimedEvents {
  /** The document's id: what the events are about. */
  key: string;
  events: PendingEvent[];
  leaseUntil: Date;
  /** Publishes of this document's events that failed in a row, for the retry delay. */
  failures: number;
}

export interface DocumentOutbox {
  /** Leases one document with pending events whose lease is free (or over) to `owner`; undefined when none is due. */
  claim(owner: string, leaseMs: number): Promise<ClaimedEvents | undefined>;
  /**
   * Removes exactly `published` (as claimed) from the document's pending events, also when the lease
   * was lost meanwhile, for the broker has them. Without `retryAt` the lease is released; with it, the
   * document is left alone until then and its failures count one more. A deleted document whose
   * events are all published goes away.
   */
  settle(
    key: string,
    owner: string,
    outcome: { published: readonly PendingEvent[]; retryAt?: Date },
  ): Promise<void>;
}

/**
 * Validates the payload against the event's contract and makes the event to store with the change.
 * `occurredAt` defaults to now; pass the change's own time so that consumers can order by it.
 */
export function pendingEvent<S extends z.ZodType>(
  type: string,
  schema: S,
  payload: z.input<S>,
  options: PublishOptions = {},
): PendingEvent {
  const envelope = createEnvelope(type, validatePayload(type, schema, payload), options);
  // Only the fields that are set: a store compares events by value when it removes them.
  return {
    id: envelope.id,
    type,
    payload: envelope.payload,
    correlationId: envelope.correlationId,
    ...(envelope.causationId ? { causationId: envelope.causationId } : {}),
    occurredAt: new Date(envelope.occurredAt),
    ...(envelope.traceparent ? { traceparent: envelope.traceparent } : {}),
  };
}

export interface DocumentOutboxRelayOptions {
  outbox: DocumentOutbox;
  publisher: EventPublisher;
  logger: Logger;
  /** How often the relay looks for pending events when nothing wakes it. */
  intervalMs?: number;
  /** The wait after a failed publish: `initial`, doubling with each failure in a row up to `max`. */
  retryDelayMs?: { initial: number; max: number };
  /** A publish the broker has not confirmed after this long counts as failed; the event is retried. */
  publishTimeoutMs?: number;
  /** How long a claim holds a document; a relay that died holding one gives it up after this. */
  leaseMs?: number;
  /** How far apart the instances' clocks may be: a lease is not used in its last `clockSkewMs`. */
  clockSkewMs?: number;
}

export interface DocumentOutboxRelay {
  /** Looks for events now instead of at the next interval: call it after a write with events. */
  notify(): void;
  /** Lets the publish in flight finish (at most `publishTimeoutMs`), then stops; the publisher stays open. */
  stop(): Promise<void>;
}

/** The payload was validated against its contract when written; the relay passes it on as stored. */
const storedPayload = z.unknown();

export function startDocumentOutboxRelay({
  outbox,
  publisher,
  logger,
  intervalMs = 1000,
  retryDelayMs = { initial: 1000, max: 60_000 },
  publishTimeoutMs = 10_000,
  leaseMs = 60_000,
  clockSkewMs = 5_000,
}: DocumentOutboxRelayOptions): DocumentOutboxRelay {
  if (leaseMs <= publishTimeoutMs + clockSkewMs) {
    throw new Error("leaseMs must exceed publishTimeoutMs + clockSkewMs, or no publish could start");
  }
  const owner = crypto.randomUUID();
  let stopping = false;
  let woken = false;
  let wake: (() => void) | undefined;

  const retryDelay = (failures: number) =>
    Math.min(retryDelayMs.initial * 2 ** (failures - 1), retryDelayMs.max);

  /**
   * Publishes one claimed document's events in order, each after the previous one's confirm, and
   * settles; answers the retry delay when a publish failed.
   */
  async function relayClaimed(claimed: ClaimedEvents): Promise<number | undefined> {
    const published: PendingEvent[] = [];
    let failure: { event: PendingEvent; error: unknown } | undefined;
    for (const event of claimed.events) {
      // Past this point the lease could end before the broker confirms, and another relay could
      // publish the next events first; what is left waits for the next claim.
      if (Date.now() + publishTimeoutMs + clockSkewMs >= claimed.leaseUntil.getTime()) break;
      try {
        await withTimeout(
          publisher.publish(event.type, storedPayload, event.payload, {
            id: event.id,
            correlationId: event.correlationId,
            causationId: event.causationId,
            occurredAt: event.occurredAt.toISOString(),
            traceparent: event.traceparent,
          }),
          publishTimeoutMs,
          "the broker did not confirm",
        );
      } catch (error) {
        // The rest of this document's events wait behind the failed one, or they would overtake it.
        failure = { event, error };
        break;
      }
      published.push(event);
    }
    if (!failure) {
      await outbox.settle(claimed.key, owner, { published });
      return undefined;
    }
    const delayMs = retryDelay(claimed.failures + 1);
    await outbox.settle(claimed.key, owner, { published, retryAt: new Date(Date.now() + delayMs) });
    logger.warn("outbox relay could not publish; the events stay pending and are retried", {
      key: claimed.key,
      published: published.length,
      messageId: failure.event.id,
      type: failure.event.type,
      failures: claimed.failures + 1,
      retryInMs: delayMs,
      ...describeError(failure.error),
    });
    return delayMs;
  }

  /** Claims and publishes until nothing is due; answers the retry delay when a publish failed. */
  async function relayDue(): Promise<number | undefined> {
    while (!stopping) {
      const claimed = await outbox.claim(owner, leaseMs);
      if (!claimed) return undefined;
      const retryInMs = await relayClaimed(claimed);
      // The broker is most likely away for every document: wait rather than fail each in turn.
      if (retryInMs !== undefined) return retryInMs;
    }
  }

  function pause(ms: number, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = wakeable ? done : () => stopping && done();
    });
  }

  const running = (async () => {
    while (!stopping) {
      woken = false;
      let retryInMs: number | undefined;
      try {
        retryInMs = await relayDue();
      } catch (error) {
        // The store is away; nothing was removed, so the next pass publishes those events again.
        logger.error("outbox relay failed; trying again", { retryInMs: intervalMs, ...describeError(error) });
      }
      if (stopping) break;
      // While the broker is away, a write's notify does not cut the backoff short.
      if (retryInMs !== undefined) await pause(retryInMs, false);
      else if (!woken) await pause(intervalMs, true);
    }
  })();
  logger.info("outbox relay started", { intervalMs, leaseMs });

  return {
    notify() {
      woken = true;
      wake?.();
    },
    async stop() {
      stopping = true;
      wake?.();
      await running;
    },
  };
}
