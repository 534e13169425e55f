/** The message service's PostgreSQL adapter: every query the service makes, and nothing else. */
import type { Sql, TransactionSql } from "@multishop/kit/postgres";
import { type Message, supportReceiver } from "../domain.ts";

interface MessageRow {
  id: string;
  sender_id: string;
  receiver_id: string;
  subject: string;
  body: string;
  read_at: Date | null;
  read_by: string | null;
  created_at: Date;
}

export type NewMessage = Pick<Message, "id" | "senderId" | "receiverId" | "subject" | "body">;

/** Where a page starts: after this message, in the newest-first order of every list. */
export interface MessagePage {
  limit: number;
  after?: { createdAt: Date; id: string };
}

/** Which messages a list shows: those to any of `receiverIds`, or those from `senderId`. */
export type MessageFilter = { receiverIds: string[] } | { senderId: string };

const toMessage = (row: MessageRow): Message => ({
  id: row.id,
  senderId: row.sender_id,
  receiverId: row.receiver_id,
  subject: row.subject,
  body: row.body,
  readAt: row.read_at,
  readBy: row.read_by,
  createdAt: row.created_at,
});

export function createMessageStore(sql: Sql) {
  /** Leaves out, for the viewer, the messages they hid. */
  const notHiddenFrom = (viewerId: string) =>
    sql`not exists (
      select 1 from hidden_messages h where h.message_id = m.id and h.user_id = ${viewerId})`;

  const matching = (filter: MessageFilter) =>
    "senderId" in filter
      ? sql`m.sender_id = ${filter.senderId}`
      : sql`m.receiver_id = any(${filter.receiverIds}::text[])`;

  return {
    async insertMessage(tx: TransactionSql, message: NewMessage): Promise<Message> {
      const [row] = await tx<MessageRow[]>`
        insert into messages (id, sender_id, receiver_id, subject, body)
        values (${message.id}, ${message.senderId}, ${message.receiverId}, ${message.subject},
                ${message.body})
        returning *`;
      return toMessage(row);
    },

    /** The message, unless the viewer hid it: for them it is gone. */
    async findMessage(id: string, viewerId: string): Promise<Message | undefined> {
      const [row] = await sql<MessageRow[]>`
        select * from messages m where m.id = ${id} and ${notHiddenFrom(viewerId)}`;
      return row ? toMessage(row) : undefined;
    },

    /**
     * Marks the message read by `readerId` unless it was read already; answers it only when this call
     * marked it. Of concurrent first reads, the row lock lets one through: the others see it read.
     */
    async markRead(
      tx: TransactionSql,
      id: string,
      readerId: string,
    ): Promise<(Message & { readBy: string }) | undefined> {
      const [row] = await tx<MessageRow[]>`
        update messages set read_at = clock_timestamp(), read_by = ${readerId}
        where id = ${id} and read_at is null
        returning *`;
      return row ? { ...toMessage(row), readBy: readerId } : undefined;
    },

    async hide(id: string, userId: string): Promise<void> {
      await sql`
        insert into hidden_messages (message_id, user_id) values (${id}, ${userId})
        on conflict do nothing`;
    },

    /** A page of the messages the filter selects and the viewer has not hidden, newest first, and how many there are. */
    async listMessages(
      filter: MessageFilter,
      viewerId: string,
      page: MessagePage,
    ): Promise<{ messages: Message[]; total: number }> {
      const { after, limit } = page;
      const rows = await sql<MessageRow[]>`
        select * from messages m
        where ${matching(filter)} and ${notHiddenFrom(viewerId)}
          ${
        after ? sql`and (m.created_at, m.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``
      }
        order by m.created_at desc, m.id desc
        limit ${limit}`;
      const [{ total }] = await sql<{ total: number }[]>`
        select count(*)::int as total from messages m
        where ${matching(filter)} and ${notHiddenFrom(viewerId)}`;
      return { messages: rows.map(toMessage), total };
    },

    /** Unread messages to each of `receiverIds` that the viewer has not hidden; absent ones have none. */
    async unreadCounts(receiverIds: string[], viewerId: string): Promise<Map<string, number>> {
      const rows = await sql<{ receiver_id: string; unread: number }[]>`
        select m.receiver_id, count(*)::int as unread from messages m
        where m.receiver_id = any(${receiverIds}::text[]) and m.read_at is null and ${notHiddenFrom(viewerId)}
        group by m.receiver_id`;
      return new Map(rows.map((row) => [row.receiver_id, row.unread]));
    },

    /** For the admin dashboard: support's unread messages (whoever hid them), and all messages. */
    async stats(): Promise<{ unreadSupport: number; total: number }> {
      const [row] = await sql<{ unread_support: number; total: number }[]>`
        select count(*) filter (where receiver_id = ${supportReceiver} and read_at is null)::int
                 as unread_support,
               count(*)::int as total
        from messages`;
      return { unreadSupport: row.unread_support, total: row.total };
    },

    ping: () => sql`select 1`,
  };
}

export type MessageStore = ReturnType<typeof createMessageStore>;
