/**
 * Money, as every service carries it: in its HTTP answers and requests, between services and in events.
 * One schema, so that a generated client has one `Money` type.
 */
import { z } from "@hono/zod-openapi";

/**
 * An amount in minor units (cents) of an ISO 4217 currency, and nothing else: a price or total with any
 * other member is refused where money comes in. Never negative: a discount is an amount taken off.
 */
export const money = z.strictObject({
  amount: z.number().int("is in minor units (cents)").min(0).openapi({ description: "minor units (cents)" }),
  currency: z.string().regex(/^[A-Z]{3}$/, "is an ISO 4217 code like USD").openapi({ example: "USD" }),
}).openapi("Money", { description: "An amount in minor units (cents) of an ISO 4217 currency" });

export type Money = z.infer<typeof money>;
