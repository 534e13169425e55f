/** The inventory service's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import { type App, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import { bearerSecurity, requireRole } from "@multishop/kit/auth";
import { listSchema } from "@multishop/kit/contracts/lists";
import { jsonBody, jsonResponse, problems } from "@multishop/kit/openapi";
import {
  available,
  catalogStatuses,
  maxProductIdsPerQuery,
  productId,
  productIdList,
  stockInput,
  type StockLevel,
} from "./domain.ts";
import type { Inventory } from "./inventory.ts";

export interface InventoryAppDeps extends ServiceAppDeps {
  inventory: Inventory;
}

export const inventoryDocument = {
  title: "MultiShop Inventory",
  version: "1.0.0",
  description: "Stock on hand per product, its availability, and the reservations checkouts hold.",
};

const availabilitySchema = z.object({
  productId: z.uuid(),
  available: z.number().int().openapi({ description: "units that can be ordered now" }),
  inStock: z.boolean(),
}).openapi("Availability");

const stockSchema = z.object({
  productId: z.uuid(),
  onHand: z.number().int().openapi({ description: "units on the shelf, reserved ones included" }),
  reserved: z.number().int().openapi({ description: "units held by orders in checkout" }),
  available: z.number().int().openapi({ description: "units that can be ordered now" }),
  retired: z.boolean().openapi({ description: "the product left the catalog: nothing can be reserved" }),
  catalogStatus: z.enum(catalogStatuses).nullable().openapi({
    description: "the product's status in the catalog, as it last said; null until it has. Public " +
      "availability shows drafts and archived products as unknown",
  }),
  updatedAt: z.string().datetime(),
}).openapi("Stock");

const productParam = z.object({ productId });
const adminOnly = { tags: ["inventory"], security: bearerSecurity, middleware: [requireRole("admin")] };

const toStockJson = (stock: StockLevel) => ({
  productId: stock.productId,
  onHand: stock.onHand,
  reserved: stock.reserved,
  available: available(stock),
  retired: stock.retired,
  catalogStatus: stock.catalogStatus,
  updatedAt: stock.updatedAt.toISOString(),
});

export function createInventoryApp(deps: InventoryAppDeps): App {
  const { inventory } = deps;
  const app = createApp({
    ...inventoryDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
  });
  // The admin routes' answers are for admins only; the public availability is answered to anyone.

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/inventory",
      operationId: "listProductAvailability",
      tags: ["inventory"],
      summary: "Availability of products",
      description: "Each product once, in the order asked. A product the inventory does not know has 0 " +
        "available, and so has one the public may not know of (a draft or archived product).",
      request: {
        query: z.object({
          productIds: productIdList.openapi({
            description: `1 to ${maxProductIdsPerQuery} product ids (UUIDs), separated by commas`,
            example: "0b6f2a4e-3c1d-8e5f-9a7b-1c2d3e4f5a6b,5d1c9e2f-7a3b-8c4d-9e5f-6a7b8c9d0e1f",
          }),
        }),
      },
      responses: {
        200: jsonResponse(listSchema("Availability", availabilitySchema), "The products' availability"),
        ...problems(400),
      },
    }),
    async (c) => c.json({ items: await inventory.availability(c.req.valid("query").productIds) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/inventory/{productId}",
      operationId: "getStockLevel",
      ...adminOnly,
      summary: "A product's stock: on hand, reserved and available",
      description: "Needs the admin role. A product without a stock record answers 404.",
      request: { params: productParam },
      responses: {
        200: jsonResponse(stockSchema, "The product's stock"),
        ...problems(400, 401, 403, 404),
      },
    }),
    async (c) => c.json(toStockJson(await inventory.stockLevel(c.req.valid("param").productId)), 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/inventory/{productId}",
      operationId: "updateStockLevel",
      ...adminOnly,
      summary: "Set a product's units on hand",
      description: "Creates the product's stock record (201) or changes it (200). Units reserved by orders " +
        "in checkout must stay on hand: a smaller count answers 409.",
      request: { params: productParam, body: jsonBody(stockInput) },
      responses: {
        200: jsonResponse(stockSchema, "The product's stock, changed"),
        201: jsonResponse(stockSchema, "The product's stock, created"),
        ...problems(400, 401, 403, 409, 413, 415),
      },
    }),
    async (c) => {
      const { productId } = c.req.valid("param");
      const { stock, created } = await inventory.setOnHand(productId, c.req.valid("json").onHand);
      if (!created) return c.json(toStockJson(stock), 200);
      c.header("location", `/v1/inventory/${productId}`);
      return c.json(toStockJson(stock), 201);
    },
  );

  return app;
}
