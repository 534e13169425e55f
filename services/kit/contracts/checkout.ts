/**
 * The checkout's messages. The order service sends commands (routing key = type) to the service that
 * owns each step and waits for its reply event; every message carries the order id as its
 * correlation id. Producers and consumers both validate against these schemas.
 */
import { z } from "zod";
import { money } from "./money.ts";

const orderId = z.string().min(1);
const line = z.object({ productId: z.string().min(1), quantity: z.number().int().positive() });

export const inventoryMessages = {
  /** Reserve every line or none. */
  "inventory.reserve": z.object({ orderId, lines: z.array(line).min(1) }),
  "inventory.reserved": z.object({ orderId }),
  "inventory.reservation_failed": z.object({
    orderId,
    reason: z.literal("out_of_stock"),
    productIds: z.array(z.string()),
  }),
  /**
   * The order is paid for: the reserved stock leaves the shelf. A reservation that expired meanwhile
   * takes the stock again when it is all still there; otherwise the commit fails.
   */
  "inventory.commit": z.object({ orderId }),
  "inventory.committed": z.object({ orderId }),
  "inventory.commit_failed": z.object({ orderId, reason: z.literal("out_of_stock") }),
  /** The order failed or was cancelled: the reserved stock is available again. */
  "inventory.release": z.object({ orderId }),
  "inventory.released": z.object({ orderId }),
  /** A confirmed order was cancelled before shipping: its committed stock goes back on the shelf. */
  "inventory.return": z.object({ orderId }),
  "inventory.returned": z.object({ orderId }),
} as const;

export const paymentMessages = {
  /** Authorise and capture the amount with a payment method stored earlier; once per order. */
  "payment.charge": z.object({ orderId, paymentMethodId: z.string().min(1), amount: money }),
  "payment.charged": z.object({ orderId, paymentId: z.string(), amount: money }),
  "payment.failed": z.object({
    orderId,
    reason: z.enum(["declined", "insufficient_funds", "processing_error"]),
    detail: z.string(),
  }),
  /** A captured payment is returned (the order was cancelled after payment). */
  "payment.refund": z.object({ orderId }),
  "payment.refunded": z.object({ orderId, amount: money }),
} as const;

export const discountMessages = {
  "discount.reserve": z.object({ orderId, code: z.string(), userId: z.string(), subtotal: money }),
  "discount.reserved": z.object({ orderId, discount: money }),
  "discount.rejected": z.object({ orderId, reason: z.string(), detail: z.string() }),
  "discount.commit": z.object({ orderId }),
  "discount.release": z.object({ orderId }),
  /** A confirmed order was cancelled before shipping: its committed coupon use no longer counts. */
  "discount.return": z.object({ orderId }),
} as const;
