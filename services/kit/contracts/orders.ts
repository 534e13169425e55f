/** Events of the order service, as their consumers (basket, cargo, comment, dashboard) read them. */
import { z } from "zod";
import { money } from "./catalog.ts";

const orderId = z.string().min(1);
const userId = z.string().min(1);

export const orderStatus = z.enum(["pending", "confirmed", "shipped", "delivered", "cancelled"]);

/** Where a confirmed order goes: the address the customer chose, as it was when they ordered. */
export const shippingAddress = z.object({
  name: z.string(),
  surname: z.string(),
  email: z.string(),
  phone: z.string(),
  country: z.string(),
  city: z.string(),
  district: z.string(),
  line1: z.string(),
  line2: z.string().nullable(),
  zipCode: z.string(),
});

export const orderedLine = z.object({
  productId: z.string().min(1),
  name: z.string(),
  unitPrice: money,
  quantity: z.number().int().positive(),
});

export const orderEvents = {
  /** Checkout succeeded: stock, coupon and payment are taken. Carries what shipping and reviews need. */
  "order.confirmed": z.object({
    orderId,
    userId,
    lines: z.array(orderedLine).min(1),
    address: shippingAddress,
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
