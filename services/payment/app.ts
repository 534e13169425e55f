/** The payment service's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import { type App, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import { bearerSecurity, requireRole, requireScope } from "@multishop/kit/auth";
import { pageSchema } from "@multishop/kit/contracts/lists";
import { money } from "@multishop/kit/contracts/money";
import { jsonBody, jsonResponse, orNull, problems } from "@multishop/kit/openapi";
import { decodeCursor, pageOf, pagingQuery } from "@multishop/kit/paging";
import {
  cardBrands,
  cardInput,
  paymentMethodSchema,
  paymentMethodsPath,
  tokenizeScope,
} from "@multishop/kit/contracts/payment-methods";
import { failureReasons, type Payment, paymentStatuses } from "./domain.ts";
import type { Payments } from "./payments.ts";
import type { PaymentStore } from "./store/postgres.ts";

export interface PaymentAppDeps extends ServiceAppDeps {
  payments: Payments;
  store: PaymentStore;
}

export const paymentDocument = {
  title: "MultiShop Payment",
  version: "1.0.0",
  description:
    "Cards handed over at checkout, and the payments and refunds of orders (simulated card processor).",
};

const paymentSchema = z.object({
  id: z.string().uuid(),
  orderId: z.string(),
  status: z.enum(paymentStatuses),
  amount: money,
  card: z.object({ brand: z.enum(cardBrands), last4: z.string() }).openapi("PaymentCard", {
    description: "all the shop keeps of the card besides its expiry and holder",
  }),
  paymentMethodId: z.string(),
  failure: orNull(z.object({ reason: z.enum(failureReasons), detail: z.string() }).openapi("PaymentFailure")),
  processorReference: z.string().nullable().openapi({ description: "the processor's id for the payment" }),
  refund: orNull(
    z.object({
      amount: money,
      processorReference: z.string(),
      createdAt: z.string().datetime(),
    }).openapi("Refund"),
  ),
  createdAt: z.string().datetime(),
  updatedAt: z.string().datetime(),
}).openapi("Payment");

const orderIdParam = z.object({ orderId: z.string().min(1).max(200) });
const paymentCursor = z.object({ createdAt: z.string().datetime(), orderId: z.string() });
const adminOnly = { tags: ["payments"], security: bearerSecurity, middleware: [requireRole("admin")] };

const toPaymentJson = (payment: Payment) => ({
  ...payment,
  refund: payment.refund && { ...payment.refund, createdAt: payment.refund.createdAt.toISOString() },
  createdAt: payment.createdAt.toISOString(),
  updatedAt: payment.updatedAt.toISOString(),
});

export function createPaymentApp(deps: PaymentAppDeps): App {
  const { payments, store } = deps;
  const app = createApp({
    ...paymentDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
  });

  app.openapi(
    createRoute({
      method: "post",
      path: paymentMethodsPath,
      operationId: "createPaymentMethod",
      tags: ["internal"],
      summary: "Hand over a card at checkout (for the order service)",
      description:
        `Needs a client token with the \`${tokenizeScope}\` scope. The card number and CVC go to ` +
        "the card processor and are never stored or logged; the answer names the card for `payment.charge`.",
      security: bearerSecurity,
      middleware: [requireScope(tokenizeScope)],
      request: { body: jsonBody(cardInput) },
      responses: {
        201: jsonResponse(paymentMethodSchema, "The stored card: brand, last four digits and expiry"),
        ...problems(400, 401, 403, 413, 415),
      },
    }),
    async (c) => {
      const method = await payments.tokenize(c.req.valid("json"));
      return c.json({
        paymentMethodId: method.id,
        brand: method.brand,
        last4: method.last4,
        expMonth: method.expMonth,
        expYear: method.expYear,
      }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/payments",
      operationId: "listPayments",
      ...adminOnly,
      summary: "List payments, newest first",
      description: "Pages with `limit` and `cursor`; `total` counts the payments that match `status`.",
      request: {
        query: z.object({
          ...pagingQuery,
          status: z.enum(paymentStatuses).optional().openapi({ description: "only payments in this status" }),
        }),
      },
      responses: {
        200: jsonResponse(
          pageSchema("Payment", paymentSchema, "the payments matching `status`"),
          "A page of payments, and how many match",
        ),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => {
      const { limit, cursor, status } = c.req.valid("query");
      const after = cursor ? decodeCursor(cursor, paymentCursor) : undefined;
      const { payments: found, total } = await store.list({
        limit: limit + 1,
        status,
        after: after && { createdAt: new Date(after.createdAt), orderId: after.orderId },
      });
      const page = pageOf(
        found,
        limit,
        (last) => ({ createdAt: last.createdAt.toISOString(), orderId: last.orderId }),
      );
      return c.json({ items: page.items.map(toPaymentJson), nextCursor: page.nextCursor, total }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/payments/{orderId}",
      operationId: "getPayment",
      ...adminOnly,
      summary: "An order's payment",
      description: "A payment is named by its order's id; an order without one answers 404.",
      request: { params: orderIdParam },
      responses: { 200: jsonResponse(paymentSchema, "The payment"), ...problems(400, 401, 403, 404) },
    }),
    async (c) => c.json(toPaymentJson(await payments.payment(c.req.valid("param").orderId)), 200),
  );

  return app;
}
