/**
 * What the order service shares: its events, as their consumers (basket, cargo, comment, dashboard) read
 * them, its lines as shipments carry them, and its order counts, as the dashboard reads and shows them.
 */
import { z } from "@hono/zod-openapi";
import { address } from "./addresses.ts";
import { money } from "./money.ts";

const orderId = z.string().min(1);
const userId = z.string().min(1);

export const orderStatus = z.enum(["pending", "confirmed", "shipped", "delivered", "cancelled"]);

/** A line of an order as it was placed, as the order's shipment carries it too. */
export const orderedLine = z.object({
  productId: z.string().min(1),
  name: z.string(),
  unitPrice: money,
  quantity: z.number().int().positive(),
}).openapi("OrderedLine");

const count = z.number().int().nonnegative();

/** How many orders stand in each public status, as the order service counts them for the dashboard. */
export const orderCounts = z.object(
  {
    pending: count,
    confirmed: count,
    shipped: count,
    delivered: count,
    cancelled: count,
  } satisfies Record<z.infer<typeof orderStatus>, z.ZodType>,
).openapi("OrderCounts", { description: "Orders per public status" });

export const orderEvents = {
  /** Checkout succeeded: stock, coupon and payment are taken. Carries what shipping and reviews need. */
  "order.confirmed": z.object({
    orderId,
    userId,
    lines: z.array(orderedLine).min(1),
    /** Where it goes: the address the customer chose, as it was when they ordered. */
    address,
    total: money,
  }),
  /** Every change of an order's public status, its placing (previousStatus null) included. */
  "order.status_changed": z.object({
    orderId,
    userId,
    status: orderStatus,
    previousStatus: orderStatus.nullable(),
    cancellationReason: z.string().nullable(),
  }),
} as const;
