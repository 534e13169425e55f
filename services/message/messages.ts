/**
 * The message service's use cases: sending, the caller's inbox and sent messages, reading (which marks
 * a message read for its receiver), hiding, and the counts. The rules come from domain.ts, the queries
 * from store/; events are written to the outbox in the transaction of the change they announce.
 */
import { describeError, type Logger } from "@multishop/kit/log";
import type { Sql } from "@multishop/kit/postgres";
import { ProblemError } from "@multishop/kit/problem";
import { ServiceUnavailableError } from "@multishop/kit/service-client";
import type { Users } from "./clients.ts";
import {
  accountRefusal,
  type Caller,
  isParticipant,
  isReceiver,
  mailboxesOf,
  type Message,
  type MessageInput,
  needsAccount,
  receiverRefusal,
  supportReceiver,
} from "./domain.ts";
import { announceRead, announceSent } from "./events.ts";
import type { MessagePage, MessageStore } from "./store/postgres.ts";

export interface MessagesDeps {
  sql: Sql;
  store: MessageStore;
  users: Users;
  /** Told after each commit that wrote to the outbox, so events go out without waiting for its poll. */
  outbox: { notify(): void };
  logger: Logger;
}

/** Unread messages for the caller; for admins, support's unread ones beside their own. */
export type UnreadCount = { count: number; support?: number };

const notFound = () => new ProblemError({ status: 404, detail: "no such message" });

function refused(reason: string): ProblemError {
  return new ProblemError({
    status: 422,
    kind: "receiver-refused",
    detail: `receiverId ${reason}`,
    errors: [{ field: "receiverId", reason }],
  });
}

export function createMessages(deps: MessagesDeps) {
  const { sql, store, users, outbox, logger } = deps;

  async function accountOf(receiverId: string) {
    try {
      return await users.find(receiverId);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableError)) throw error;
      logger.warn("receiver check failed: identity is unavailable", describeError(error));
      throw new ProblemError({
        status: 503,
        kind: "dependency-unavailable",
        detail: "the identity service, which checks receivers, cannot be reached; try again shortly",
        headers: { "retry-after": "5" },
      });
    }
  }

  /** The message, when the caller is its sender or receiver and has not hidden it; 404 otherwise. */
  async function visible(caller: Caller, id: string): Promise<Message> {
    const message = await store.findMessage(id, caller.id);
    if (!message || !isParticipant(caller, message)) throw notFound();
    return message;
  }

  return {
    async send(sender: Caller, input: MessageInput): Promise<Message> {
      const refusal = receiverRefusal(sender, input.receiverId) ??
        (needsAccount(input.receiverId)
          ? accountRefusal(sender, await accountOf(input.receiverId))
          : undefined);
      if (refusal) throw refused(refusal);
      const message = await sql.begin(async (tx) => {
        const sent = await store.insertMessage(tx, {
          id: crypto.randomUUID(),
          senderId: sender.id,
          ...input,
        });
        await announceSent(tx, sent);
        return sent;
      });
      outbox.notify();
      return message;
    },

    /** Reads one message; the receiver's first read marks it read and announces it. */
    async read(caller: Caller, id: string): Promise<Message> {
      const message = await visible(caller, id);
      if (!isReceiver(caller, message) || message.readAt) return message;
      const marked = await sql.begin(async (tx) => {
        const read = await store.markRead(tx, id, caller.id);
        if (read) await announceRead(tx, read);
        return read;
      });
      if (!marked) return await visible(caller, id); // another admin read this support message first
      outbox.notify();
      return marked;
    },

    /** Removes the message from the caller's view only; the other side keeps it. */
    async hide(caller: Caller, id: string): Promise<void> {
      await visible(caller, id);
      await store.hide(id, caller.id);
    },

    inbox: (caller: Caller, page: MessagePage) =>
      store.listMessages({ receiverIds: mailboxesOf(caller) }, caller.id, page),

    sent: (caller: Caller, page: MessagePage) => store.listMessages({ senderId: caller.id }, caller.id, page),

    async unreadCount(caller: Caller): Promise<UnreadCount> {
      const counts = await store.unreadCounts(mailboxesOf(caller), caller.id);
      const count = counts.get(caller.id) ?? 0;
      return caller.isAdmin ? { count, support: counts.get(supportReceiver) ?? 0 } : { count };
    },

    stats: () => store.stats(),
  };
}

export type Messages = ReturnType<typeof createMessages>;
