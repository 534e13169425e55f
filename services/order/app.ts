/** The order service's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import { type App, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import {
  bearerSecurity,
  principalOf,
  requireStatsReader,
  requireUser,
  statsReadScope,
} from "@multishop/kit/auth";
import { address, addressInput } from "@multishop/kit/contracts/addresses";
import { listSchema, pageSchema } from "@multishop/kit/contracts/lists";
import { money } from "@multishop/kit/contracts/money";
import { orderCounts, orderedLine } from "@multishop/kit/contracts/orders";
import { jsonBody, jsonResponse, problems } from "@multishop/kit/openapi";
import { createdPosition, decodeCursor, pageOf, pagingQuery } from "@multishop/kit/paging";
import { ProblemError } from "@multishop/kit/problem";
import { shuttingDown } from "@multishop/kit/serve";
import { uuidId } from "@multishop/kit/formats";
import {
  createStreamSlots,
  defaultStreamsPerUser,
  eventStreamResponse,
  tooManyStreamsResponse,
  userEventStream,
} from "@multishop/kit/streams";
import { cancellationReasons, type Order, orderStatuses, placeOrderInput } from "./domain.ts";
import type { Orders } from "./orders.ts";
import type { StoredAddress } from "./store/postgres.ts";

export interface OrderAppDeps extends ServiceAppDeps {
  orders: Orders;
  /** How many order event streams one user may hold open at once. */
  eventStreamsPerUser?: number;
}

export const orderDocument = {
  title: "MultiShop Order",
  version: "1.0.0",
  description: "Delivery addresses, orders placed from the basket, and their checkout's progress.",
};

/** An address in the customer's address book: one to choose when placing an order. */
const savedAddressSchema = address.extend({
  id: z.uuid(),
  createdAt: z.string().datetime(),
  updatedAt: z.string().datetime(),
}).openapi("SavedAddress");

const orderSchema = z.object({
  id: z.uuid(),
  status: z.enum(orderStatuses),
  cancellationReason: z.enum(cancellationReasons).nullable(),
  lines: z.array(orderedLine.extend({ lineTotal: money }).openapi("OrderLine")),
  totals: z.object({ subtotal: money, discount: money, total: money }).openapi("OrderTotals"),
  couponCode: z.string().nullable(),
  // The address chosen, as it was when the order was placed.
  address,
  trackingCode: z.string().nullable().openapi({ description: "the shipment's, once there is one" }),
  createdAt: z.string().datetime(),
  updatedAt: z.string().datetime(),
}).openapi("Order");

/** What an order's event stream says at each change: the order's public status and what goes with it. */
const orderStatusEventSchema = z.object({
  status: z.enum(orderStatuses),
  cancellationReason: z.enum(cancellationReasons).nullable(),
  trackingCode: z.string().nullable().openapi({ description: "the shipment's, once there is one" }),
}).openapi("OrderStatusEvent");

const orderPage = pageSchema("Order", orderSchema);
const orderCursor = z.object({ createdAt: z.string().datetime(), id: z.uuid() });
const idParam = z.object({ id: uuidId("must be an id") });
const user = { security: bearerSecurity, middleware: [requireUser] };

const toAddressJson = (address: StoredAddress) => ({
  ...address,
  createdAt: address.createdAt.toISOString(),
  updatedAt: address.updatedAt.toISOString(),
});

function toOrderJson(order: Order) {
  const money = (amount: number) => ({ amount, currency: order.currency });
  return {
    id: order.id,
    status: order.status,
    cancellationReason: order.cancellationReason,
    lines: order.lines.map((line) => ({
      ...line,
      lineTotal: { amount: line.unitPrice.amount * line.quantity, currency: line.unitPrice.currency },
    })),
    totals: { subtotal: money(order.subtotal), discount: money(order.discount), total: money(order.total) },
    couponCode: order.couponCode,
    address: order.address,
    trackingCode: order.trackingCode,
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}

/** How often an event stream looks for a status change. */
const streamPollMs = 250;

/** Statuses an order never leaves; its event stream closes there (see the route). */
const streamEnds = new Set<Order["status"]>(["cancelled", "delivered"]);

export function createOrderApp(deps: OrderAppDeps): App {
  const { orders } = deps;
  const app = createApp({
    ...orderDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
  });
  // Every route answers the caller's own data, or an admin's view.
  const streams = createStreamSlots(deps.eventStreamsPerUser ?? defaultStreamsPerUser);

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/addresses",
      operationId: "listAddresses",
      tags: ["addresses"],
      ...user,
      summary: "The caller's addresses, oldest first",
      description: "All of them in one answer, not paged; an order names one by its `addressId`.",
      responses: {
        200: jsonResponse(listSchema("SavedAddress", savedAddressSchema), "The addresses"),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const addresses = await orders.listAddresses(principalOf(c).subject);
      return c.json({ items: addresses.map(toAddressJson) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/addresses",
      operationId: "createAddress",
      tags: ["addresses"],
      ...user,
      summary: "Add an address",
      description: "`Location` names the new address; pass its `id` as `addressId` to place an order.",
      request: { body: jsonBody(addressInput) },
      responses: {
        201: jsonResponse(savedAddressSchema, "The new address"),
        ...problems(400, 401, 403, 413, 415),
      },
    }),
    async (c) => {
      const address = await orders.createAddress(principalOf(c).subject, c.req.valid("json"));
      c.header("location", `/v1/addresses/${address.id}`);
      return c.json(toAddressJson(address), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/addresses/{id}",
      operationId: "getAddress",
      tags: ["addresses"],
      ...user,
      summary: "One of the caller's addresses",
      description: "Another customer's address answers 404, like a missing one.",
      request: { params: idParam },
      responses: { 200: jsonResponse(savedAddressSchema, "The address"), ...problems(400, 401, 403, 404) },
    }),
    async (c) =>
      c.json(toAddressJson(await orders.address(principalOf(c).subject, c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/addresses/{id}",
      operationId: "updateAddress",
      tags: ["addresses"],
      ...user,
      summary: "Replace one of the caller's addresses",
      description: "Orders placed earlier keep the address as it was when they were placed.",
      request: { params: idParam, body: jsonBody(addressInput) },
      responses: {
        200: jsonResponse(savedAddressSchema, "The address"),
        ...problems(400, 401, 403, 404, 413, 415),
      },
    }),
    async (c) => {
      const address = await orders.replaceAddress(
        principalOf(c).subject,
        c.req.valid("param").id,
        c.req.valid("json"),
      );
      return c.json(toAddressJson(address), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/addresses/{id}",
      operationId: "deleteAddress",
      tags: ["addresses"],
      ...user,
      summary: "Delete one of the caller's addresses",
      description: "Orders placed with it keep their copy; another customer's address answers 404, like a " +
        "missing one.",
      request: { params: idParam },
      responses: { 204: { description: "Deleted" }, ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      await orders.deleteAddress(principalOf(c).subject, c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/orders",
      operationId: "placeOrder",
      tags: ["orders"],
      ...user,
      summary: "Order the caller's basket",
      description: "Answers at once with the order `pending`; its checkout (stock, coupon, payment) runs " +
        "behind it and ends `confirmed` or `cancelled` with a reason. Watch it on `/v1/orders/{id}/events`. " +
        "Repeating a request with its `Idempotency-Key` answers the same order; the key with a different " +
        "request is refused with 422. The card goes to the payment service and is not kept here.",
      request: {
        headers: z.object({
          "idempotency-key": z.string().trim().min(8).max(200).openapi({
            description: "a fresh random value (a UUID) per order the customer means to place",
          }),
        }),
        body: jsonBody(placeOrderInput),
      },
      responses: {
        202: jsonResponse(orderSchema, "The order, pending (or as it stands, for a repeated request)"),
        ...problems(400, 401, 403, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      const { order } = await orders.place({
        userId: principalOf(c).subject,
        // requireUser let the request in, so it carries a Bearer token; the basket service checks it again.
        bearerToken: c.req.header("authorization")!.replace(/^Bearer\s+/i, ""),
        idempotencyKey: c.req.valid("header")["idempotency-key"],
        input: c.req.valid("json"),
      });
      c.header("location", `/v1/orders/${order.id}`);
      return c.json(toOrderJson(order), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/orders",
      operationId: "listOrders",
      tags: ["orders"],
      ...user,
      summary: "The caller's orders, newest first; with all=true, everyone's (admin)",
      description: "Pages with `limit` and `cursor`, optionally only one `status`; `all=true` needs the " +
        "admin role (403 without it).",
      request: {
        query: z.object({
          ...pagingQuery,
          status: z.enum(orderStatuses).optional(),
          all: z.enum(["true", "false"]).optional().openapi({
            description: "admins: every customer's orders",
          }),
        }),
      },
      responses: { 200: jsonResponse(orderPage, "A page of orders"), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const { limit, cursor, status, all } = c.req.valid("query");
      const principal = principalOf(c);
      if (all === "true" && !principal.roles.includes("admin")) {
        throw new ProblemError({ status: 403, kind: "forbidden", detail: "all=true needs the admin role" });
      }
      const after = cursor ? decodeCursor(cursor, orderCursor) : undefined;
      const found = await orders.listOrders(
        { userId: all === "true" ? undefined : principal.subject, status },
        { after, limit: limit + 1 },
      );
      const page = pageOf(found, limit, createdPosition);
      return c.json({ items: page.items.map(toOrderJson), nextCursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/orders/stats",
      operationId: "getOrderStats",
      tags: ["admin"],
      summary: "How many orders stand in each status (admin dashboard)",
      description: `Needs the admin role, or a client token with the \`${statsReadScope}\` scope ` +
        "(the dashboard service).",
      security: bearerSecurity,
      middleware: [requireStatsReader()],
      responses: {
        200: jsonResponse(orderCounts, "Orders per status"),
        ...problems(401, 403),
      },
    }),
    async (c) => c.json(await orders.countByStatus(), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/orders/{id}",
      operationId: "getOrder",
      tags: ["orders"],
      ...user,
      summary: "One of the caller's orders (admins: any order)",
      description: "Another customer's order answers 404, like a missing one.",
      request: { params: idParam },
      responses: { 200: jsonResponse(orderSchema, "The order"), ...problems(400, 401, 403, 404) },
    }),
    async (c) => c.json(toOrderJson(await orders.order(principalOf(c), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/orders/{id}/cancel",
      operationId: "cancelOrder",
      tags: ["orders"],
      ...user,
      summary: "Cancel an order that has not shipped",
      description: "A pending order's checkout is stopped and undone (stock and coupon released, payment " +
        "refunded if taken). A confirmed order is refunded.",
      request: { params: idParam },
      responses: {
        200: jsonResponse(orderSchema, "The order, cancelled"),
        ...problems(400, 401, 403, 404, 409),
      },
    }),
    async (c) => c.json(toOrderJson(await orders.cancel(principalOf(c), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/orders/{id}/events",
      operationId: "streamOrderStatus",
      tags: ["orders"],
      ...user,
      summary: "Watch an order's status (server-sent events)",
      description: "A `status` event now, then at each change: the checkout (`confirmed` or " +
        "`cancelled`), then shipping (`shipped`, `delivered`). The stream ends once the order is " +
        "`delivered` or `cancelled`. A user holds at most `EVENT_STREAMS_PER_USER` streams open at once " +
        `(${defaultStreamsPerUser} unless configured); one more answers 429 until one of them is closed.`,
      request: { params: idParam },
      responses: {
        200: eventStreamResponse("The order's event stream", [{
          name: "status",
          data: orderStatusEventSchema,
          id: "when the order last changed (RFC 3339)",
        }]),
        ...problems(400, 401, 403, 404),
        ...tooManyStreamsResponse,
      },
    }),
    async (c) => {
      const principal = principalOf(c);
      const { id } = c.req.valid("param");
      let order = await orders.order(principal, id);
      return userEventStream(c, streams, async (stream) => {
        let sent: string | undefined;
        // Polling the order's row sees changes made by any instance of the service, and costs one
        // indexed read per stream per interval.
        for (;;) {
          const status: z.infer<typeof orderStatusEventSchema> = {
            status: order.status,
            cancellationReason: order.cancellationReason,
            trackingCode: order.trackingCode,
          };
          const data = JSON.stringify(status);
          if (data !== sent) {
            await stream.writeSSE({ event: "status", data, id: order.updatedAt.toISOString() });
            sent = data;
          }
          if (streamEnds.has(order.status)) return;
          await stream.sleep(streamPollMs);
          // The client may have gone, or the service begun to shut down, while this slept.
          if (stream.aborted || shuttingDown.aborted) return;
          order = await orders.order(principal, id);
        }
      });
    },
  );

  return app;
}
