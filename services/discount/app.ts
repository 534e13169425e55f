/** The discount service's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import { type App, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import { bearerSecurity, requireRole, requireScope } from "@multishop/kit/auth";
import {
  couponValidationPath,
  couponValidationRequest,
  couponValidationResult,
  couponValidationScope,
} from "@multishop/kit/contracts/discount";
import { pageSchema } from "@multishop/kit/contracts/lists";
import { jsonBody, jsonResponse, problems } from "@multishop/kit/openapi";
import { createdPosition, decodeCursor, pageOf, pagingQuery } from "@multishop/kit/paging";
import type { Discount } from "./discount.ts";
import { type Coupon, couponInput, couponTypes } from "./domain.ts";
import type { DiscountStore } from "./store/postgres.ts";

export interface DiscountAppDeps extends ServiceAppDeps {
  discount: Discount;
  store: DiscountStore;
  /** The shop's currency, shown on every coupon: fixed values and minimum totals are in it. */
  currency: string;
}

export const discountDocument = {
  title: "MultiShop Discount",
  version: "1.0.0",
  description: "Coupons, the basket's coupon check, and the uses checkouts make of them.",
};

const couponSchema = z.object({
  id: z.string().uuid(),
  code: z.string().openapi({ example: "WELCOME10" }),
  type: z.enum(couponTypes),
  value: z.number().int().openapi({ description: "percentage: percent off; fixed: minor units off" }),
  currency: z.string().openapi({ description: "the shop's currency, of value (fixed) and minTotal" }),
  minTotal: z.number().int().nullable(),
  validFrom: z.string().datetime().nullable(),
  validUntil: z.string().datetime().nullable(),
  usageLimit: z.number().int().nullable(),
  perUserLimit: z.number().int().nullable(),
  active: z.boolean(),
  used: z.number().int().openapi({ description: "uses by orders in checkout (reserved) or confirmed" }),
  createdAt: z.string().datetime(),
  updatedAt: z.string().datetime(),
}).openapi("Coupon");

const couponCountsSchema = z.object({
  total: z.number().int(),
  active: z.number().int().openapi({ description: "coupons with active set, as ?active=true" }),
}).openapi("CouponCounts");

const idParam = z.object({ id: z.uuid("must be a coupon id") });
const couponCursor = z.object({ createdAt: z.string().datetime(), id: z.string().uuid() });
const adminOnly = { tags: ["coupons"], security: bearerSecurity, middleware: [requireRole("admin")] };

export function createDiscountApp(deps: DiscountAppDeps): App {
  const { discount, store } = deps;
  const app = createApp({
    ...discountDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
  });
  const toCouponJson = (coupon: Coupon) => ({
    ...coupon,
    currency: deps.currency,
    validFrom: coupon.validFrom?.toISOString() ?? null,
    validUntil: coupon.validUntil?.toISOString() ?? null,
    createdAt: coupon.createdAt.toISOString(),
    updatedAt: coupon.updatedAt.toISOString(),
  });

  // Before /v1/coupons/{id}, which would otherwise take "count" for an id.
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/coupons/count",
      operationId: "getCouponCounts",
      ...adminOnly,
      summary: "How many coupons there are, and how many are switched on (admin dashboard)",
      description: "Needs the admin role. Expired and used-up coupons count too.",
      responses: {
        200: jsonResponse(couponCountsSchema, "The coupon counts"),
        ...problems(401, 403),
      },
    }),
    async (c) => c.json(await store.countCoupons(), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/coupons",
      operationId: "createCoupon",
      ...adminOnly,
      summary: "Create a coupon",
      description: "Needs the admin role. Codes are unique regardless of case: a code in use answers 409.",
      request: { body: jsonBody(couponInput) },
      responses: {
        201: jsonResponse(couponSchema, "The new coupon"),
        ...problems(400, 401, 403, 409, 413, 415),
      },
    }),
    async (c) => {
      const coupon = await discount.createCoupon(c.req.valid("json"));
      c.header("location", `/v1/coupons/${coupon.id}`);
      return c.json(toCouponJson(coupon), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/coupons",
      operationId: "listCoupons",
      ...adminOnly,
      summary: "List and search coupons, oldest first",
      description: "Needs the admin role. Paged with `limit` and `cursor`; `total` counts every coupon " +
        "matching `q` and `active`, on all pages.",
      request: {
        query: z.object({
          ...pagingQuery,
          q: z.string().trim().max(32).optional().openapi({ description: "part of a code, any case" }),
          active: z.enum(["true", "false"]).optional().openapi({
            description: "only coupons switched on or off",
          }),
        }),
      },
      responses: {
        200: jsonResponse(
          pageSchema("Coupon", couponSchema, "the coupons matching `q` and `active`"),
          "A page of coupons, and how many match",
        ),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => {
      const { limit, cursor, q, active } = c.req.valid("query");
      const after = cursor ? decodeCursor(cursor, couponCursor) : undefined;
      const { coupons, total } = await store.listCoupons({
        limit: limit + 1,
        query: q || undefined,
        active: active === undefined ? undefined : active === "true",
        after: after && { createdAt: new Date(after.createdAt), id: after.id },
      });
      const page = pageOf(coupons, limit, createdPosition);
      return c.json({ items: page.items.map(toCouponJson), nextCursor: page.nextCursor, total }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/coupons/{id}",
      operationId: "getCoupon",
      ...adminOnly,
      summary: "One coupon",
      description: "Needs the admin role. `used` counts orders in checkout as well as confirmed ones.",
      request: { params: idParam },
      responses: { 200: jsonResponse(couponSchema, "The coupon"), ...problems(400, 401, 403, 404) },
    }),
    async (c) => c.json(toCouponJson(await discount.coupon(c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/coupons/{id}",
      operationId: "updateCoupon",
      ...adminOnly,
      summary: "Replace a coupon's fields",
      description: "Every field is set from the body: a limit or date left out is removed.",
      request: { params: idParam, body: jsonBody(couponInput) },
      responses: {
        200: jsonResponse(couponSchema, "The coupon"),
        ...problems(400, 401, 403, 404, 409, 413, 415),
      },
    }),
    async (c) =>
      c.json(toCouponJson(await discount.replaceCoupon(c.req.valid("param").id, c.req.valid("json"))), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/coupons/{id}",
      operationId: "deleteCoupon",
      ...adminOnly,
      summary: "Delete a coupon that no confirmed order used",
      description: "A coupon used by a confirmed order answers 409: set `active` to false instead.",
      request: { params: idParam },
      responses: { 204: { description: "Deleted" }, ...problems(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      await discount.deleteCoupon(c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: couponValidationPath,
      operationId: "validateCoupon",
      tags: ["internal"],
      summary: "Check a coupon against a basket (for the basket service)",
      description: `Needs a client token with the \`${couponValidationScope}\` scope. Every coupon outcome ` +
        "answers 200: the discount, or the reason the coupon does not apply. Nothing is reserved.",
      security: bearerSecurity,
      middleware: [requireScope(couponValidationScope)],
      request: { body: jsonBody(couponValidationRequest) },
      responses: {
        200: jsonResponse(couponValidationResult, "The discount, or why the coupon does not apply"),
        ...problems(400, 401, 403, 413, 415),
      },
    }),
    async (c) => c.json(await discount.validate(c.req.valid("json")), 200),
  );

  return app;
}
