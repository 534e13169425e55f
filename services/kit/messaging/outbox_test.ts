import assert from "node:assert/strict";
import { z } from "zod";
import { memoryLogger } from "../log.ts";
import { traceIdOf } from "../trace.ts";
import { inSpan } from "../trace_context.ts";
import { migrate } from "../migrate.ts";
import { connectPostgres, type Sql } from "../postgres.ts";
import { type CuttableBus, cuttableBusTargets, postgresTargets, waitFor } from "../testing.ts";
import {
  createInProcessBus,
  enqueue,
  type Envelope,
  inboxMigration,
  outboxMigrations,
  type OutboxRelay,
  type OutboxRelayOptions,
  startOutboxRelay,
} from "./mod.ts";

const stepTaken = z.object({ orderId: z.string().min(1), step: z.number().int() });
/** Quick retries and reconnects, so the outage cases take milliseconds rather than seconds. */
const retryDelayMs = { initial: 20, max: 100 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Commits one transaction that enqueues a `test.order.step` event per step of `orderId`. */
async function commitSteps(sql: Sql, orderId: string, steps: number[]): Promise<Envelope[]> {
  return await sql.begin(async (tx) => {
    const envelopes = [];
    for (const step of steps) {
      envelopes.push(
        await enqueue(tx, "test.order.step", stepTaken, { orderId, step }, { aggregate: orderId }),
      );
    }
    return envelopes;
  });
}

/** A handler that keeps what it is given. */
function recorder() {
  const received: Envelope[] = [];
  return {
    received,
    handler: (envelope: Envelope) => {
      received.push(envelope);
      return Promise.resolve();
    },
    /** The steps received for `orderId`, in arrival order. */
    steps: (orderId: string) =>
      received.map((envelope) => envelope.payload as z.infer<typeof stepTaken>)
        .filter((payload) => payload.orderId === orderId).map((payload) => payload.step),
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

interface OutboxRow {
  id: string;
  published_at: Date | null;
  attempts: number;
  last_error: string | null;
}

for (const pgTarget of await postgresTargets()) {
  for (const busTarget of await cuttableBusTargets(memoryLogger())) {
    Deno.test({
      name: `outbox relay: ${pgTarget.name} PostgreSQL, ${busTarget.name}`,
      ignore: Boolean(pgTarget.skip || busTarget.skip),
    }, async (t) => {
      const database = await pgTarget.open();
      const sql = connectPostgres(database.url, {
        max: database.maxConnections,
        applicationName: "outbox-test",
      });
      await migrate(sql, [...outboxMigrations], memoryLogger());
      const rows = () =>
        sql<OutboxRow[]>`select id, published_at, attempts, last_error from outbox order by seq`;
      // Consumers may get an event before the relay's transaction that marks it published commits.
      const markedPublished = () =>
        waitFor(
          "the relay to mark the events published",
          async () => (await rows()).every((row) => row.published_at !== null),
        );

      /** Each case gets its own bus and relays, and an empty outbox. */
      const withRelay = (
        name: string,
        run: (
          context: { bus: CuttableBus; start(options?: Partial<OutboxRelayOptions>): OutboxRelay },
        ) => Promise<void>,
        ignore?: string,
      ) =>
        t.step({
          name: ignore ? `${name} (skipped: ${ignore})` : name,
          ignore: Boolean(ignore),
          async fn() {
            await sql`truncate outbox`;
            const bus = await busTarget.open();
            const relays: OutboxRelay[] = [];
            const start = (options: Partial<OutboxRelayOptions> = {}) => {
              const relay = startOutboxRelay({
                sql,
                publisher: bus.publisher,
                logger: memoryLogger(),
                intervalMs: 20,
                retryDelayMs,
                ...options,
              });
              relays.push(relay);
              return relay;
            };
            try {
              await run({ bus, start });
            } finally {
              await Promise.all(relays.map((relay) => relay.stop()));
              await bus.cleanUp();
            }
          },
        });

      try {
        await withRelay(
          "an event enqueued in a committed transaction is published once",
          async ({ bus, start }) => {
            const orders = recorder();
            await bus.subscriber.subscribe(bus.queue("orders"), "test.#", orders.handler);
            start();

            const [enqueued] = await commitSteps(sql, "order-1", [1]);
            await waitFor("the event", () => orders.received.length === 1);
            await markedPublished();
            await sleep(200); // ten more relay intervals, in which nothing more may arrive

            assert.deepEqual(
              orders.received,
              [enqueued],
              "the envelope, its occurredAt included, as enqueued",
            );
            const [row] = await rows();
            assert.equal(row.attempts, 1);
          },
        );

        await withRelay(
          "an event keeps the trace it was written in, though the relay publishes it later",
          async ({ bus, start }) => {
            const orders = recorder();
            await bus.subscriber.subscribe(bus.queue("traced"), "test.#", orders.handler);
            start();
            const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
            const [enqueued] = await inSpan(
              `00-${traceId}-00f067aa0ba902b7-01`,
              () => commitSteps(sql, "order-traced", [1]),
            );
            await waitFor("the event", () => orders.received.length === 1);
            assert.equal(traceIdOf(orders.received[0].traceparent!), traceId);
            assert.equal(orders.received[0].traceparent, enqueued.traceparent);
          },
        );

        await withRelay("a rolled-back transaction publishes nothing", async ({ bus, start }) => {
          const orders = recorder();
          await bus.subscriber.subscribe(bus.queue("orders"), "test.#", orders.handler);
          start();

          await assert.rejects(
            sql.begin(async (tx) => {
              await enqueue(tx, "test.order.step", stepTaken, { orderId: "order-1", step: 1 });
              throw new Error("the state change failed");
            }),
            /the state change failed/,
          );
          await assert.rejects(
            sql.begin((tx) => enqueue(tx, "test.order.step", stepTaken, { orderId: "", step: 1 })),
            /invalid payload for test.order.step/,
          );
          await assert.rejects(
            sql.begin((tx) =>
              enqueue(tx, "test.order.step", stepTaken, { orderId: "order-1", step: 1 }, {
                id: "order-1-step-1",
              })
            ),
            /an outbox event id must be a UUID; got "order-1-step-1"/,
          );
          const [marker] = await commitSteps(sql, "order-2", [1]);
          await waitFor("the committed event", () => orders.received.length === 1);
          await sleep(100);

          assert.deepEqual(orders.received.map((envelope) => envelope.id), [marker.id]);
          assert.equal((await rows()).length, 1);
        });

        await withRelay(
          "an aggregate's events arrive in the order they were enqueued",
          async ({ bus, start }) => {
            const orders = recorder();
            await bus.subscriber.subscribe(bus.queue("orders"), "test.#", orders.handler);
            // A batch smaller than a transaction's events, so batches end inside an aggregate's run.
            start({ batchSize: 7 });

            for (const steps of [range(0, 5), range(5, 10), range(10, 15), range(15, 20)]) {
              await commitSteps(sql, "order-a", steps);
              await commitSteps(sql, "order-b", steps.slice(0, 2));
            }
            await waitFor("28 events", () => orders.received.length === 28);

            assert.deepEqual(orders.steps("order-a"), range(0, 20));
            assert.deepEqual(orders.steps("order-b"), [0, 1, 5, 6, 10, 11, 15, 16]);
          },
        );

        await withRelay(
          "while the broker is away events stay pending, then go out in order",
          async ({ bus, start }) => {
            const orders = recorder();
            await bus.subscriber.subscribe(bus.queue("orders"), "test.#", orders.handler);
            const logger = memoryLogger();
            start({ logger, publishTimeoutMs: 2000 });

            bus.cut();
            const enqueued = await commitSteps(sql, "order-1", [1, 2, 3]);
            await waitFor("the relay to fail three times", async () => (await rows())[0].attempts >= 3);

            const pending = await rows();
            assert.ok(pending.every((row) => row.published_at === null), "nothing marked published");
            assert.match(pending[0].last_error ?? "", /.+/);
            assert.deepEqual(
              pending.slice(1).map((row) => row.attempts),
              [0, 0],
              "the rest wait behind the head",
            );
            assert.equal(orders.received.length, 0);
            assert.ok(logger.lines.some((line) => /could not publish/.test(String(line.message))));

            bus.restore();
            await waitFor("the three events", () => orders.received.length === 3);
            await sleep(100);
            assert.deepEqual(
              orders.received.map((envelope) => envelope.id),
              enqueued.map((envelope) => envelope.id),
            );
            await markedPublished();
          },
        );

        await withRelay(
          "a publish the broker never confirms times out and is retried",
          async ({ bus, start }) => {
            const orders = recorder();
            await bus.subscriber.subscribe(bus.queue("orders"), "test.#", orders.handler);
            let publishes = 0;
            start({
              publishTimeoutMs: 50,
              publisher: {
                ...bus.publisher,
                publish(type, schema, payload, options) {
                  // The first publish hangs, as one to a broker that went silent would.
                  if (publishes++ === 0) return new Promise(() => {});
                  return bus.publisher.publish(type, schema, payload, options);
                },
              },
            });

            const [enqueued] = await commitSteps(sql, "order-1", [1]);
            await waitFor("the event", () => orders.received.length === 1);
            assert.deepEqual(orders.received.map((envelope) => envelope.id), [enqueued.id]);
            await markedPublished();
            const [row] = await rows();
            assert.equal(row.attempts, 2);
            assert.match(row.last_error ?? "", /did not confirm within 50 ms/);
          },
        );

        await withRelay("notify() wakes an idle relay at once", async ({ bus, start }) => {
          const orders = recorder();
          await bus.subscriber.subscribe(bus.queue("orders"), "test.#", orders.handler);
          await commitSteps(sql, "order-1", [1]);
          // Counts the relay's batches, to know when it has gone to sleep.
          let batches = 0;
          const counted = new Proxy(sql, {
            get: (target, key) =>
              key === "begin"
                ? (...args: Parameters<Sql["begin"]>) => target.begin(...args).finally(() => batches++)
                : Reflect.get(target, key),
          });
          const relay = start({ sql: counted, intervalMs: 60_000 });
          // The first batch publishes the event; the second finds nothing, and the relay sleeps a minute.
          await waitFor("the first event", () => orders.received.length === 1);
          await waitFor("the relay to go to sleep", () => batches === 2);

          await commitSteps(sql, "order-1", [2]);
          await sleep(300);
          assert.equal(orders.received.length, 1, "not published before notify()");
          relay.notify();
          await waitFor("the second event", () => orders.received.length === 2, 10_000);
        });

        await withRelay(
          "two relays on one database publish each event once, in order per aggregate",
          async ({ bus, start }) => {
            const orders = recorder();
            await bus.subscriber.subscribe(bus.queue("orders"), "test.#", orders.handler);
            const aggregates = range(0, 6).map((i) => `order-${i}`);
            const enqueued: Envelope[] = [];
            // Each transaction takes one step of every order, so an order's events lie spread over
            // the batches of both relays: relays that claimed rows rather than orders would mix steps up.
            const enqueueStep = (step: number) =>
              sql.begin(async (tx) => {
                for (const orderId of aggregates) {
                  enqueued.push(
                    await enqueue(tx, "test.order.step", stepTaken, { orderId, step }, {
                      aggregate: orderId,
                    }),
                  );
                }
              });
            for (const step of range(0, 10)) await enqueueStep(step);
            // Two pools, as two instances have, and publishes of uneven speed, so the batches overlap.
            const pools = [0, 1].map(() =>
              connectPostgres(database.url, { max: 2, applicationName: "relay" })
            );
            const publishedBy = [0, 0];
            const relays: OutboxRelay[] = [];
            try {
              pools.forEach((pool, i) =>
                relays.push(start({
                  sql: pool,
                  batchSize: 5,
                  publisher: {
                    ...bus.publisher,
                    async publish(type, schema, payload, options) {
                      await sleep(Math.random() * 4);
                      const envelope = await bus.publisher.publish(type, schema, payload, options);
                      publishedBy[i]++;
                      return envelope;
                    },
                  },
                }))
              );
              // The other half arrives while the relays run.
              for (const step of range(10, 20)) await enqueueStep(step);
              await waitFor("120 events", () => orders.received.length >= 120, 15_000);
              await sleep(200);

              const ids = orders.received.map((envelope) => envelope.id);
              assert.equal(new Set(ids).size, 120, "no event twice");
              assert.deepEqual(new Set(ids), new Set(enqueued.map((envelope) => envelope.id)));
              for (const orderId of aggregates) {
                assert.deepEqual(orders.steps(orderId), range(0, 20), orderId);
              }
              assert.ok(publishedBy.every((count) => count > 0), `both relays published: ${publishedBy}`);
            } finally {
              // Stopped here too (stop is idempotent), so no relay is left on a pool that ended.
              await Promise.all(relays.map((relay) => relay.stop()));
              await Promise.all(pools.map((pool) => pool.end()));
            }
          },
          pgTarget.name === "embedded" ? "PGlite serves one connection, so relays take turns" : undefined,
        );
      } finally {
        await sql.end();
        await database.close();
      }
    });
  }
}

for (const pgTarget of await postgresTargets()) {
  Deno.test({
    name:
      `outbox relay: old published events and handled-message records go, the rest stay (${pgTarget.name} PostgreSQL)`,
    ignore: Boolean(pgTarget.skip),
  }, async () => {
    const database = await pgTarget.open();
    const sql = connectPostgres(database.url, {
      max: database.maxConnections,
      applicationName: "outbox-purge-test",
    });
    try {
      await migrate(sql, [...outboxMigrations, inboxMigration], memoryLogger());
      const [oldPublished, recentPublished, oldPending] = await commitSteps(sql, "order-purge", [1, 2, 3]);
      await sql`update outbox set published_at = now() - interval '8 days' where id = ${oldPublished.id}`;
      await sql`update outbox set published_at = now() - interval '1 day' where id = ${recentPublished.id}`;
      // Never published (the broker refused it for a week): it stays until it is.
      await sql`
        update outbox set occurred_at = now() - interval '8 days', next_attempt_at = now() + interval '1 hour'
        where id = ${oldPending.id}`;
      await sql`
        insert into inbox (message_id, queue, handled_at)
        values ('handled-long-ago', 'orders', now() - interval '31 days'), ('handled-today', 'orders', now())`;
      const bus = createInProcessBus({ logger: memoryLogger() });
      const relay = startOutboxRelay({ sql, publisher: bus, logger: memoryLogger(), intervalMs: 20 });
      await waitFor(
        "the purge",
        async () => (await sql`select 1 from outbox where id = ${oldPublished.id}`).length === 0,
      );
      await relay.stop();
      await bus.close();
      const kept = await sql<{ id: string }[]>`select id from outbox order by seq`;
      assert.deepEqual(kept.map((row) => row.id), [recentPublished.id, oldPending.id]);
      const handled = await sql<{ message_id: string }[]>`select message_id from inbox`;
      assert.deepEqual(handled.map((row) => row.message_id), ["handled-today"]);
    } finally {
      await sql.end();
      await database.close();
    }
  });
}
