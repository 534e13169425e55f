/** Events of the order service (published from the checkout issue on), as their consumers read them. */
import { z } from "zod";

export const orderEvents = {
  "order.confirmed": z.object({ orderId: z.string().min(1), userId: z.string().min(1) }),
} as const;
