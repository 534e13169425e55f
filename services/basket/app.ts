/** The basket's HTTP routes: every one acts on the signed-in user's own basket. */
import { createRoute, z } from "@hono/zod-openapi";
import { type App, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import { bearerSecurity, principalOf, requireUser } from "@multishop/kit/auth";
import { couponRejectedProblem, couponRejectionReasons } from "@multishop/kit/contracts/discount";
import { money } from "@multishop/kit/contracts/money";
import { jsonBody, jsonResponse, problems, problemsOf } from "@multishop/kit/openapi";
import type { BasketService } from "./basket.ts";
import { couponInput, quantityInput } from "./domain.ts";

export interface BasketAppDeps extends ServiceAppDeps {
  basket: BasketService;
}

export const basketDocument = {
  title: "MultiShop Basket",
  version: "1.0.0",
  description:
    "The signed-in customer's basket: prices from the catalog, totals and coupons computed on the server.",
};

const basketLineSchema = z.object({
  productId: z.uuid(),
  name: z.string(),
  image: z.string().nullable(),
  unitPrice: money,
  quantity: z.number().int(),
  available: z.boolean().openapi({ description: "false once the product is no longer sold; not charged" }),
  lineTotal: money,
}).openapi("BasketLine");
const validCouponSchema = z.object({ code: z.string(), valid: z.literal(true), discount: money })
  .openapi("ValidBasketCoupon");
const invalidCouponSchema = z.object({
  code: z.string(),
  valid: z.literal(false),
  reason: z.enum([...couponRejectionReasons, "unavailable"]).openapi({
    description: "why it does not apply; `unavailable` while the coupon cannot be checked",
  }),
  detail: z.string(),
}).openapi("InvalidBasketCoupon");
const basketSchema = z.object({
  lines: z.array(basketLineSchema),
  coupon: z.union([validCouponSchema, invalidCouponSchema, z.null()]).openapi({
    description: "the coupon applied, checked again now; null without one",
  }),
  totals: z.object({
    subtotal: money,
    discount: money,
    total: money,
    itemCount: z.number().int(),
  }).openapi("BasketTotals"),
  updatedAt: z.string().datetime().nullable(),
}).openapi("Basket");

const productParam = z.object({ productId: z.uuid("must be a product id") });
const userOnly = { security: bearerSecurity, middleware: [requireUser] };

export function createBasketApp(deps: BasketAppDeps): App {
  const { basket } = deps;
  const app = createApp({
    ...basketDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
  });
  const user = (c: Parameters<typeof principalOf>[0]) => principalOf(c).subject;

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/basket",
      operationId: "getBasket",
      tags: ["basket"],
      summary: "The caller's basket with its totals",
      description: "Needs a signed-in user's token. A product no longer on sale stays in the basket, " +
        "marked unavailable and not charged.",
      ...userOnly,
      responses: {
        200: jsonResponse(basketSchema, "The basket (empty when there is none)"),
        ...problems(401, 403),
      },
    }),
    async (c) => c.json(await basket.view(user(c)), 200),
  );
  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/basket/items/{productId}",
      operationId: "setBasketItemQuantity",
      tags: ["basket"],
      summary: "Set a product's quantity (0 removes it)",
      description: "Only `quantity` is read; name and price come from the catalog.",
      ...userOnly,
      request: { params: productParam, body: jsonBody(quantityInput) },
      responses: {
        200: jsonResponse(basketSchema, "The basket"),
        ...problems(400, 401, 403, 415, 422, 503),
      },
    }),
    async (c) => {
      const { productId } = c.req.valid("param");
      return c.json(await basket.setItem(user(c), productId, c.req.valid("json").quantity), 200);
    },
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/basket/items/{productId}",
      operationId: "removeBasketItem",
      tags: ["basket"],
      summary: "Remove a product",
      description: "Needs a signed-in user's token. A product that is not in the basket answers 404.",
      ...userOnly,
      request: { params: productParam },
      responses: { 200: jsonResponse(basketSchema, "The basket"), ...problems(400, 401, 403, 404) },
    }),
    async (c) => c.json(await basket.removeItem(user(c), c.req.valid("param").productId), 200),
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/basket",
      operationId: "clearBasket",
      tags: ["basket"],
      summary: "Empty the basket",
      description: "Needs a signed-in user's token. Removes every line and the coupon.",
      ...userOnly,
      responses: { 204: { description: "Emptied" }, ...problems(401, 403) },
    }),
    async (c) => {
      await basket.clear(user(c));
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/basket/coupon",
      operationId: "applyCoupon",
      tags: ["basket"],
      summary: "Apply a coupon",
      description: "An unknown, inactive, expired or exhausted code answers 422 with its `reason`.",
      ...userOnly,
      request: { body: jsonBody(couponInput) },
      responses: {
        200: jsonResponse(basketSchema, "The basket with the discount"),
        ...problems(400, 401, 403, 415, 503),
        ...problemsOf(couponRejectedProblem, 422),
      },
    }),
    async (c) => c.json(await basket.applyCoupon(user(c), c.req.valid("json").code), 200),
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/basket/coupon",
      operationId: "removeBasketCoupon",
      tags: ["basket"],
      summary: "Remove the coupon",
      description: "Needs a signed-in user's token. Answers the basket even when it had no coupon.",
      ...userOnly,
      responses: { 200: jsonResponse(basketSchema, "The basket"), ...problems(401, 403) },
    }),
    async (c) => c.json(await basket.removeCoupon(user(c)), 200),
  );
  return app;
}
