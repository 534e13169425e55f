import assert from "node:assert/strict";
import { z } from "zod";
import { memoryLogger } from "../log.ts";
import { migrate } from "../migrate.ts";
import { connectPostgres, type TransactionSql } from "../postgres.ts";
import { postgresTargets } from "../testing.ts";
import { createEnvelope, enqueue, handleOnce, inboxMigration, outboxMigrations } from "./mod.ts";

const effectsTable = {
  version: 1,
  name: "effects",
  sql: "create table effects (id serial primary key, message_id text not null);",
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const target of await postgresTargets()) {
  Deno.test({ name: `inbox on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) }, async (t) => {
    const database = await target.open();
    const sql = connectPostgres(database.url, {
      max: database.maxConnections,
      applicationName: "inbox-test",
    });
    await migrate(sql, [effectsTable, ...outboxMigrations, inboxMigration], memoryLogger());
    const effects = async () => (await sql`select count(*)::int as count from effects`)[0].count;
    const recorded = async () =>
      (await sql`select message_id, queue from inbox order by queue`).map((row) => ({ ...row }));
    /** The message's effect: a row in another table, written in the inbox's transaction. */
    const applyEffect = (envelope: { id: string }) => async (tx: TransactionSql) => {
      await tx`insert into effects (message_id) values (${envelope.id})`;
    };
    const step = (name: string, run: () => Promise<void>) =>
      t.step(name, async () => {
        await sql`truncate effects, inbox, outbox`;
        await run();
      });

    try {
      await step("the same message handled twice has one effect", async () => {
        const envelope = createEnvelope("test.order.placed", { orderId: "order-1" });
        assert.equal(await handleOnce(sql, "orders", envelope, applyEffect(envelope)), true);
        assert.equal(await handleOnce(sql, "orders", envelope, applyEffect(envelope)), false, "skipped");

        assert.equal(await effects(), 1);
        assert.deepEqual(await recorded(), [{ message_id: envelope.id, queue: "orders" }]);
      });

      await step("a failing handler records nothing, and the next delivery does the work", async () => {
        const envelope = createEnvelope("test.order.placed", { orderId: "order-1" });
        await assert.rejects(
          handleOnce(sql, "orders", envelope, async (tx) => {
            await applyEffect(envelope)(tx);
            throw new Error("the handler failed after its first write");
          }),
          /the handler failed/,
        );
        assert.equal(await effects(), 0, "the effect rolled back");
        assert.deepEqual(await recorded(), [], "not recorded as handled");

        assert.equal(await handleOnce(sql, "orders", envelope, applyEffect(envelope)), true);
        assert.equal(await effects(), 1);
      });

      await step("two deliveries of one message at once have one effect", async () => {
        const envelope = createEnvelope("test.order.placed", { orderId: "order-1" });
        const slowEffect = async (tx: TransactionSql) => {
          await sleep(50); // the other delivery arrives meanwhile, and waits on the inbox row
          await applyEffect(envelope)(tx);
        };
        const outcomes = await Promise.all([
          handleOnce(sql, "orders", envelope, slowEffect),
          handleOnce(sql, "orders", envelope, slowEffect),
        ]);
        assert.deepEqual(outcomes.sort(), [false, true]);
        assert.equal(await effects(), 1);
      });

      await step("each queue handles a message once", async () => {
        const envelope = createEnvelope("test.order.placed", { orderId: "order-1" });
        assert.equal(await handleOnce(sql, "orders", envelope, applyEffect(envelope)), true);
        assert.equal(await handleOnce(sql, "analytics", envelope, applyEffect(envelope)), true);
        assert.equal(await effects(), 2);
      });

      await step("a handler's reply, enqueued in the same transaction, is written once", async () => {
        const command = createEnvelope("test.order.reserve", { orderId: "order-1" });
        const reply = z.object({ orderId: z.string() });
        for (let delivery = 0; delivery < 2; delivery++) {
          await handleOnce(sql, "inventory", command, async (tx) => {
            await enqueue(tx, "test.order.reserved", reply, { orderId: "order-1" }, {
              correlationId: command.correlationId,
              causationId: command.id,
            });
          });
        }
        const rows = await sql`select type, correlation_id, causation_id from outbox`;
        assert.deepEqual(rows.map((row) => ({ ...row })), [
          { type: "test.order.reserved", correlation_id: command.id, causation_id: command.id },
        ]);
      });
    } finally {
      await sql.end();
      await database.close();
    }
  });
}
