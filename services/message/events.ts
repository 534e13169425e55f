/**
 * What the message service publishes (it consumes nothing): `message.sent` when a message is sent and
 * `message.read` when its receiver first reads it. Both are written to the outbox in the transaction
 * that makes the change, and the relay publishes them; the message id is their correlation id, so a
 * message's events go out in order.
 */
import { messageEvents } from "@multishop/kit/contracts/messages";
import { enqueue } from "@multishop/kit/messaging";
import type { TransactionSql } from "@multishop/kit/postgres";
import type { Message } from "./domain.ts";

export function announceSent(tx: TransactionSql, message: Message) {
  return enqueue(tx, "message.sent", messageEvents["message.sent"], {
    messageId: message.id,
    senderId: message.senderId,
    receiverId: message.receiverId,
  }, { correlationId: message.id });
}

/** `message` as marked read: its `readBy` is the reader. */
export function announceRead(tx: TransactionSql, message: Message & { readBy: string }) {
  return enqueue(tx, "message.read", messageEvents["message.read"], {
    messageId: message.id,
    senderId: message.senderId,
    receiverId: message.receiverId,
    readerId: message.readBy,
  }, { correlationId: message.id });
}
