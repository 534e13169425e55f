/**
 * The transactional outbox for services on PostgreSQL. A service writes its events to the `outbox`
 * table in the transaction that changes its state, so an event exists exactly when the change does;
 * a relay publishes them afterwards, at least once, in order per aggregate, and marks each one
 * published only once the broker has confirmed it.
 *
 * Several relays may run on one database (one per service instance). A relay publishes an
 * aggregate's events only while it holds the row lock of that aggregate's oldest unpublished event,
 * the head; the events behind a head are not heads, so no other relay takes them before the holder
 * has committed them as published. Hence one relay at a time per aggregate, in order. And a relay
 * locks every row it publishes, so no row goes out from two relays.
 */
import type postgres from "postgres";
import { z } from "zod";
import { describeError, type Logger } from "../log.ts";
import type { Migration } from "../migrate.ts";
import type { Sql, TransactionSql } from "../postgres.ts";
import { withTimeout } from "../schedule.ts";
import { createEnvelope, validatePayload } from "./envelope.ts";
import type { Envelope, EventPublisher, PublishOptions } from "./types.ts";

/**
 * Append to the service's own migrations (`extra: [...outboxMigrations]` in openMigratedPostgres).
 * The versions sit far above any service's own, so the two never collide. Applied migrations must
 * not change: a later change to the table comes as a new migration with its own version.
 *
 * `seq` orders an aggregate's events: it follows insertion, which is the order of the state changes
 * when the service serialises the changes of one aggregate (it locks the aggregate's row), while
 * `occurred_at` ties within a millisecond and follows the clocks of several instances.
 */
const createOutbox: Migration = {
  version: 9001,
  name: "kit_outbox",
  sql: `
create table outbox (
  seq bigint generated always as identity,
  id uuid primary key,
  type text not null,
  payload jsonb not null,
  correlation_id text not null,
  causation_id text,
  aggregate text not null,
  occurred_at timestamptz not null,
  published_at timestamptz,
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error text
);
-- Only unpublished rows are indexed, so published history does not slow the relay down.
create index outbox_pending on outbox (seq) where published_at is null;
create index outbox_pending_by_aggregate on outbox (aggregate, seq) where published_at is null;
`,
};

/** The trace each event was written in, so that its consumers carry the trace on. */
const addTraceparent: Migration = {
  version: 9003,
  name: "kit_outbox_traceparent",
  sql: "alter table outbox add column traceparent text;",
};

export const outboxMigrations: readonly Migration[] = [createOutbox, addTraceparent];

export interface EnqueueOptions extends PublishOptions {
  /**
   * What the event is about (an order id, a product id): the relay keeps the order of an
   * aggregate's events. Defaults to the correlation id, so the events of one flow stay in order.
   */
  aggregate?: string;
}

const uuid = z.uuid();

/**
 * Validates the payload against the event's contract and writes the event in the caller's
 * transaction. Returns the envelope the relay will publish (its payload as the schema outputs it).
 */
export async function enqueue<S extends z.ZodType>(
  tx: TransactionSql,
  type: string,
  schema: S,
  payload: z.input<S>,
  options: EnqueueOptions = {},
): Promise<Envelope<z.output<S>>> {
  const envelope = createEnvelope(type, validatePayload(type, schema, payload), options);
  if (!uuid.safeParse(envelope.id).success) {
    throw new Error(`an outbox event id must be a UUID; got ${JSON.stringify(envelope.id)} for ${type}`);
  }
  await tx`
    insert into outbox (id, type, payload, correlation_id, causation_id, aggregate, occurred_at, traceparent)
    values (${envelope.id}, ${type}, ${tx.json(envelope.payload as postgres.JSONValue)},
            ${envelope.correlationId}, ${envelope.causationId ?? null},
            ${options.aggregate ?? envelope.correlationId}, ${envelope.occurredAt},
            ${envelope.traceparent ?? null})`;
  return envelope;
}

export interface OutboxRelayOptions {
  sql: Sql;
  publisher: EventPublisher;
  logger: Logger;
  /** How often the relay looks for due events when nothing wakes it. */
  intervalMs?: number;
  /** The most events one transaction claims and publishes. */
  batchSize?: number;
  /** The wait before retrying an event the broker did not take: `initial`, doubling up to `max`. */
  retryDelayMs?: { initial: number; max: number };
  /** A publish the broker has not confirmed after this long counts as failed; the event is retried. */
  publishTimeoutMs?: number;
  /**
   * What the relay deletes, and how often it looks: published events after `publishedMs`, and the
   * inbox's handled-message records (where the service has an inbox) after `handledMs`, which must
   * outlast any redelivery or replay of a dead letter, or that message would be handled again.
   */
  retention?: { publishedMs: number; handledMs: number; everyMs: number };
}

export interface OutboxRelay {
  /** Looks for events now instead of at the next interval: call it after committing an enqueue. */
  notify(): void;
  /**
   * Lets the batch in flight finish (a publish waits `publishTimeoutMs` at most), then stops. The
   * pool and the publisher stay open: they belong to the service.
   */
  stop(): Promise<void>;
}

interface OutboxRow {
  id: string;
  type: string;
  payload: unknown;
  correlation_id: string;
  causation_id: string | null;
  aggregate: string;
  occurred_at: Date;
  traceparent: string | null;
  attempts: number;
}

/** What a batch did with one aggregate's events: the ids the broker confirmed, then the first failure. */
interface AggregateOutcome {
  published: string[];
  failure?: { row: OutboxRow; error: unknown };
}

const hour = 60 * 60 * 1000;
const day = 24 * hour;

/** The payload was validated against its contract when enqueued; the relay passes it on as stored. */
const storedPayload = z.unknown();

export function startOutboxRelay({
  sql,
  publisher,
  logger,
  intervalMs = 1000,
  batchSize = 100,
  retryDelayMs = { initial: 1000, max: 60_000 },
  publishTimeoutMs = 10_000,
  retention = { publishedMs: 7 * day, handledMs: 30 * day, everyMs: hour },
}: OutboxRelayOptions): OutboxRelay {
  let stopping = false;
  let woken = false;
  let wake: (() => void) | undefined;

  /** One transaction: claim the heads of due aggregates, publish, record what the broker confirmed. */
  function relayBatch(): Promise<{ claimed: number; failed: number }> {
    return sql.begin(async (tx) => {
      // A row is a head when no earlier row of its aggregate is unpublished; a head waiting for its
      // retry keeps the whole aggregate waiting. SKIP LOCKED passes over heads another relay holds,
      // and the rows behind those are not heads, so this relay leaves that aggregate alone.
      const heads = await tx<{ aggregate: string }[]>`
        select aggregate from outbox pending
        where published_at is null and next_attempt_at <= now()
          and not exists (
            select 1 from outbox earlier
            where earlier.aggregate = pending.aggregate and earlier.published_at is null
              and earlier.seq < pending.seq)
        order by seq
        limit ${batchSize}
        for update of pending skip locked`;
      if (heads.length === 0) return { claimed: 0, failed: 0 };
      // Ordered by seq and cut at the limit, each aggregate's rows here are a prefix of its queue,
      // starting at the head this transaction holds. They are locked too: should a service write
      // one aggregate's events in concurrent transactions, one that commits late can put an earlier
      // row in front of a head, where another relay may claim it; it then publishes that row, and
      // this relay skips it, rather than both.
      const rows = await tx<OutboxRow[]>`
        select id, type, payload, correlation_id, causation_id, aggregate, occurred_at, traceparent, attempts
        from outbox
        where published_at is null and aggregate = any(${heads.map((head) => head.aggregate)}::text[])
        order by seq
        limit ${batchSize}
        for update skip locked`;
      // Aggregates go out side by side; within one, each event waits for the previous one's confirm.
      const outcomes = await Promise.all(
        Map.groupBy(rows, (row) => row.aggregate).values().map(publishInOrder),
      );
      const published = outcomes.flatMap((outcome) => outcome.published);
      if (published.length > 0) {
        await tx`
          update outbox set published_at = clock_timestamp(), attempts = attempts + 1
          where id = any(${published}::uuid[])`;
      }
      const failures = outcomes.flatMap((outcome) => outcome.failure ?? []);
      for (const { row, error } of failures) {
        const retryInMs = retryDelay(row.attempts + 1);
        await tx`
          update outbox
          set attempts = attempts + 1, last_error = ${String(describeError(error).error)},
              next_attempt_at = clock_timestamp() + make_interval(secs => ${retryInMs / 1000})
          where id = ${row.id}`;
      }
      if (failures.length > 0) {
        const [first] = failures;
        logger.warn("outbox relay could not publish; the events stay pending and are retried", {
          published: published.length,
          failed: failures.length,
          messageId: first.row.id,
          type: first.row.type,
          attempts: first.row.attempts + 1,
          retryInMs: retryDelay(first.row.attempts + 1),
          ...describeError(first.error),
        });
      }
      return { claimed: rows.length, failed: failures.length };
    });
  }

  async function publishInOrder(rows: OutboxRow[]): Promise<AggregateOutcome> {
    const published: string[] = [];
    for (const row of rows) {
      try {
        await withTimeout(
          publisher.publish(row.type, storedPayload, row.payload, {
            id: row.id,
            correlationId: row.correlation_id,
            causationId: row.causation_id ?? undefined,
            occurredAt: row.occurred_at.toISOString(),
            traceparent: row.traceparent ?? undefined,
          }),
          publishTimeoutMs,
          "the broker did not confirm",
        );
      } catch (error) {
        // The rest of this aggregate waits behind the failed event, or it would overtake it.
        return { published, failure: { row, error } };
      }
      published.push(row.id);
    }
    return { published };
  }

  /** After the n-th failed try of an event. */
  function retryDelay(failedTries: number) {
    return Math.min(retryDelayMs.initial * 2 ** (failedTries - 1), retryDelayMs.max);
  }

  function pause(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, intervalMs);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });
  }

  /** Deletes what the retention no longer keeps, so the tables do not grow for ever. */
  async function purge() {
    const published = await sql`
      delete from outbox
      where published_at < now() - make_interval(secs => ${retention.publishedMs / 1000})`;
    const [{ inbox }] = await sql<{ inbox: boolean }[]>`select to_regclass('inbox') is not null as inbox`;
    const handled = inbox
      ? await sql`delete from inbox where handled_at < now() - make_interval(secs => ${
        retention.handledMs / 1000
      })`
      : { count: 0 };
    if (published.count + handled.count > 0) {
      logger.info("outbox relay purged old messaging records", {
        publishedEvents: published.count,
        handledMessages: handled.count,
      });
    }
  }

  let purgedAt = -Infinity;
  const running = (async () => {
    while (!stopping) {
      woken = false;
      if (performance.now() - purgedAt >= retention.everyMs) {
        purgedAt = performance.now();
        await purge().catch((error) =>
          logger.error("outbox relay could not purge old records; trying again later", describeError(error))
        );
      }
      let batch = { claimed: 0, failed: 0 };
      try {
        batch = await relayBatch();
      } catch (error) {
        // The database is away or refused the batch; nothing was marked, so the next try redoes it.
        logger.error("outbox relay failed; trying again", { retryInMs: intervalMs, ...describeError(error) });
      }
      // A batch that published all it claimed may have left more behind: go on without waiting.
      if (batch.claimed > 0 && batch.failed === 0) continue;
      if (!woken && !stopping) await pause();
    }
  })();
  logger.info("outbox relay started", { intervalMs, batchSize });

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
