/** Events of the message service, as the dashboard reads them. */
import { z } from "zod";

/** The receiver of a message to the shop's support: every admin sees it. */
export const supportReceiver = "support";

const message = {
  messageId: z.string().min(1),
  senderId: z.string().min(1),
  /** A user id, or `support`. */
  receiverId: z.string().min(1),
};

export const messageEvents = {
  "message.sent": z.object(message),
  /** The receiver (for `support`, an admin) opened the message for the first time. */
  "message.read": z.object({ ...message, readerId: z.string().min(1) }),
} as const;
