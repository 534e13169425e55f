/**
 * Messages between users and to the shop's support, and who may send, see and read them. No I/O: the
 * receiver's account comes in as a value, looked up by the caller.
 */
import { z } from "@hono/zod-openapi";
import { supportReceiver } from "@multishop/kit/contracts/messages";
import { plainText } from "@multishop/kit/openapi";

export { supportReceiver };

/** The request body of `POST /v1/messages`. The sender is the caller, never a field. */
export const messageInput = z.strictObject({
  receiverId: z.string().trim().min(1).max(100).openapi({
    description: `a user id, or \`${supportReceiver}\` for the shop's support, which every admin reads`,
    example: supportReceiver,
  }),
  // Control characters can rewrite a terminal or an admin tool's screen and hide what a message says.
  subject: plainText({ max: 200, multiline: false }).openapi({ example: "Where is my order?" }),
  body: plainText({ max: 5000, multiline: true }).openapi({
    description: "plain text; line breaks and tabs are kept",
    example: "It has not arrived yet.",
  }),
}).openapi("UserMessageInput");

export type MessageInput = z.infer<typeof messageInput>;

export interface Message {
  id: string;
  senderId: string;
  /** A user id, or `support`. */
  receiverId: string;
  subject: string;
  body: string;
  /** When the receiver (for `support`, an admin) first read it; null while unread. */
  readAt: Date | null;
  /** Who that first reader was. */
  readBy: string | null;
  createdAt: Date;
}

/** The signed-in user a request comes from, as the verified token says. */
export interface Caller {
  id: string;
  isAdmin: boolean;
}

/** A user as identity describes them. */
export interface Account {
  id: string;
  roles: string[];
}

/** The receiver ids whose messages are the caller's to read: every admin shares support's. */
export function mailboxesOf(caller: Caller): string[] {
  return caller.isAdmin ? [caller.id, supportReceiver] : [caller.id];
}

/** Whether the caller reads the message as its receiver, which marks it read. */
export function isReceiver(caller: Caller, message: Pick<Message, "receiverId">): boolean {
  return mailboxesOf(caller).includes(message.receiverId);
}

/** Only a message's sender and receiver may see it; to anyone else it does not exist. */
export function isParticipant(caller: Caller, message: Pick<Message, "senderId" | "receiverId">): boolean {
  return message.senderId === caller.id || isReceiver(caller, message);
}

export const isUnread = (message: Pick<Message, "readAt">) => message.readAt === null;

/** Whether sending to `receiverId` needs identity to say who that is. */
export const needsAccount = (receiverId: string) => receiverId !== supportReceiver;

/**
 * Why the caller may not message `receiverId`, as far as the id alone tells; undefined when it may,
 * or when that depends on the receiver's account (see accountRefusal).
 */
export function receiverRefusal(sender: Caller, receiverId: string): string | undefined {
  if (receiverId === sender.id) return "is you; a message needs another receiver";
  if (receiverId === supportReceiver && sender.isAdmin) {
    return `is ${supportReceiver}, which admins read; answer a support message by messaging its sender`;
  }
  return undefined;
}

/**
 * Why the caller may not message this account (undefined: no such user). Customers write to the
 * shop, not to each other: to admins, or to support.
 */
export function accountRefusal(sender: Caller, account: Account | undefined): string | undefined {
  if (!account) return "is not a user";
  if (!sender.isAdmin && !account.roles.includes("admin")) {
    return `is a customer; customers may message admins or ${supportReceiver}`;
  }
  return undefined;
}
