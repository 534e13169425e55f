/** The message service's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import { type App, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import {
  bearerSecurity,
  principalOf,
  requireStatsReader,
  requireUser,
  statsReadScope,
} from "@multishop/kit/auth";
import { pageSchema } from "@multishop/kit/contracts/lists";
import { jsonBody, jsonResponse, problems } from "@multishop/kit/openapi";
import { createdPosition, decodeCursor, pageOf, pagingQuery } from "@multishop/kit/paging";
import { type Caller, isUnread, type Message, messageInput, supportReceiver } from "./domain.ts";
import type { Messages } from "./messages.ts";
import type { MessagePage } from "./store/postgres.ts";

export interface MessageAppDeps extends ServiceAppDeps {
  messages: Messages;
}

export const messageDocument = {
  title: "MultiShop Message",
  version: "1.0.0",
  description: "Messages between customers and the shop: to admins, or to support, which every admin reads.",
};

const messageSchema = z.object({
  id: z.uuid(),
  senderId: z.string(),
  receiverId: z.string().openapi({ description: `a user id, or \`${supportReceiver}\`` }),
  subject: z.string(),
  body: z.string().openapi({ description: "plain text" }),
  unread: z.boolean().openapi({ description: "the receiver (for support, any admin) has not read it yet" }),
  readAt: z.string().datetime().nullable(),
  createdAt: z.string().datetime(),
}).openapi("UserMessage");

const messagePage = pageSchema(
  "UserMessage",
  messageSchema,
  "the messages of the list the caller has not removed",
);

const unreadCountSchema = z.object({
  count: z.number().int().openapi({ description: "unread messages to the caller" }),
  support: z.number().int().optional().openapi({
    description: `admins only: unread messages to ${supportReceiver}`,
  }),
}).openapi("UnreadMessageCount");

const messageCountsSchema = z.object({
  unreadSupport: z.number().int().openapi({
    description: `messages to ${supportReceiver} no admin read`,
  }),
  total: z.number().int().openapi({ description: "every message ever sent" }),
}).openapi("MessageCounts");

const messageCursor = z.object({ createdAt: z.string().datetime(), id: z.uuid() });
const idParam = z.object({ id: z.uuid("must be a message id") });
const user = { tags: ["messages"], security: bearerSecurity, middleware: [requireUser] };

const toMessageJson = (message: Message) => ({
  id: message.id,
  senderId: message.senderId,
  receiverId: message.receiverId,
  subject: message.subject,
  body: message.body,
  unread: isUnread(message),
  readAt: message.readAt?.toISOString() ?? null,
  createdAt: message.createdAt.toISOString(),
});

/** The caller as the verified token names them; nothing in the request can change who that is. */
function callerOf(c: Parameters<typeof principalOf>[0]): Caller {
  const principal = principalOf(c);
  return { id: principal.subject, isAdmin: principal.roles.includes("admin") };
}

/** The page the `limit` and `cursor` query parameters ask for; one more is fetched to tell whether another follows. */
function pageQuery(query: { limit: number; cursor?: string }): MessagePage {
  const after = query.cursor ? decodeCursor(query.cursor, messageCursor) : undefined;
  return {
    limit: query.limit + 1,
    after: after && { createdAt: new Date(after.createdAt), id: after.id },
  };
}

function toMessagePage(found: { messages: Message[]; total: number }, limit: number) {
  const page = pageOf(found.messages, limit, createdPosition);
  return { items: page.items.map(toMessageJson), nextCursor: page.nextCursor, total: found.total };
}

export function createMessageApp(deps: MessageAppDeps): App {
  const { messages } = deps;
  const app = createApp({
    ...messageDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
  });

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/messages",
      operationId: "sendMessage",
      ...user,
      summary: "Send a message",
      description:
        `The sender is the caller. Customers write to an admin or to \`${supportReceiver}\` (the ` +
        "shop's support, which every admin reads); admins write to any user, and answer a support message " +
        "by messaging its sender. A receiver who is the caller, unknown, or (for a customer) another " +
        "customer answers 422 naming `receiverId`.",
      request: { body: jsonBody(messageInput) },
      responses: {
        201: jsonResponse(messageSchema, "The message, sent"),
        ...problems(400, 401, 403, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      const message = await messages.send(callerOf(c), c.req.valid("json"));
      c.header("location", `/v1/messages/${message.id}`);
      return c.json(toMessageJson(message), 201);
    },
  );

  // The fixed paths come before /v1/messages/{id}, which would otherwise take them for ids.
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/messages/inbox",
      operationId: "listInboxMessages",
      ...user,
      summary: "Messages to the caller, newest first (admins: and those to support)",
      description: "Pages with `limit` and `cursor`; messages the caller removed are left out.",
      request: { query: z.object(pagingQuery) },
      responses: { 200: jsonResponse(messagePage, "A page of messages"), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const query = c.req.valid("query");
      return c.json(toMessagePage(await messages.inbox(callerOf(c), pageQuery(query)), query.limit), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/messages/sent",
      operationId: "listSentMessages",
      ...user,
      summary: "Messages the caller sent, newest first",
      description: "Pages with `limit` and `cursor`; messages the caller removed are left out.",
      request: { query: z.object(pagingQuery) },
      responses: { 200: jsonResponse(messagePage, "A page of messages"), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const query = c.req.valid("query");
      return c.json(toMessagePage(await messages.sent(callerOf(c), pageQuery(query)), query.limit), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/messages/unread-count",
      operationId: "getUnreadMessageCount",
      ...user,
      summary: "How many messages to the caller are unread",
      description: "Messages the caller removed are not counted; `support` is there for admins only.",
      responses: {
        200: jsonResponse(unreadCountSchema, "The unread counts"),
        ...problems(401, 403),
      },
    }),
    async (c) => c.json(await messages.unreadCount(callerOf(c)), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/messages/stats",
      operationId: "getMessageStats",
      tags: ["messages"],
      security: bearerSecurity,
      middleware: [requireStatsReader()],
      summary: "Support's unread messages and all messages (admin dashboard)",
      description: `Needs the admin role, or a client token with the \`${statsReadScope}\` scope ` +
        "(the dashboard service).",
      responses: {
        200: jsonResponse(messageCountsSchema, "The message counts"),
        ...problems(401, 403),
      },
    }),
    async (c) => c.json(await messages.stats(), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/messages/{id}",
      operationId: "getMessage",
      ...user,
      summary: "Read one of the caller's messages",
      description: "Only its sender and receiver see a message (support's: every admin); to anyone else it " +
        "answers 404. The receiver's first read marks it read.",
      request: { params: idParam },
      responses: { 200: jsonResponse(messageSchema, "The message"), ...problems(400, 401, 403, 404) },
    }),
    async (c) => c.json(toMessageJson(await messages.read(callerOf(c), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/messages/{id}",
      operationId: "hideMessage",
      ...user,
      summary: "Remove a message from the caller's view",
      description: "The message leaves the caller's inbox or sent list; the other side still sees it.",
      request: { params: idParam },
      responses: { 204: { description: "Removed" }, ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      await messages.hide(callerOf(c), c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  return app;
}
