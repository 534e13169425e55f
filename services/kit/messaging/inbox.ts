/**
 * The inbox for idempotent consumers on PostgreSQL. Brokers deliver at least once (a redelivery
 * after a lost acknowledgement, a relay that publishes again after a crash), so a consumer records
 * each message it handled in the transaction that applies the message's effects: a message seen
 * again is skipped, and one whose handling failed left no trace and is handled on its next delivery.
 */
import type { Migration } from "../migrate.ts";
import type { Sql, TransactionSql } from "../postgres.ts";
import type { Envelope } from "./types.ts";

/**
 * Append to the service's own migrations, like `outboxMigrations`. A message is handled once per
 * queue: a service that subscribes two queues to one event handles it in each.
 */
export const inboxMigration: Migration = {
  version: 9002,
  name: "kit_inbox",
  sql: `
create table inbox (
  message_id text not null,
  queue text not null,
  handled_at timestamptz not null default now(),
  primary key (message_id, queue)
);
`,
};

/**
 * Runs `work` and records the message as handled by `queue`, in one transaction; returns false,
 * without running `work`, when the message was handled before. The record is written first: a
 * second delivery handled at the same moment waits on it, then skips once the first commits, or
 * does the work itself if the first rolled back.
 */
export async function handleOnce(
  sql: Sql,
  queue: string,
  envelope: Envelope,
  work: (tx: TransactionSql) => Promise<void>,
): Promise<boolean> {
  return await sql.begin(async (tx) => {
    const recorded = await tx`
      insert into inbox (message_id, queue) values (${envelope.id}, ${queue})
      on conflict do nothing
      returning message_id`;
    if (recorded.length === 0) return false;
    await work(tx);
    return true;
  });
}

/**
 * Whether `queue` has handled the message: a cheap look before slow work (a card payment) that a
 * redelivery need not start. `handleOnce` stays the authority for deliveries at the same moment.
 */
export async function wasHandled(sql: Sql, queue: string, messageId: string): Promise<boolean> {
  const [handled] = await sql`select 1 from inbox where message_id = ${messageId} and queue = ${queue}`;
  return Boolean(handled);
}
