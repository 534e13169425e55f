/**
 * The payment service's internal tokenisation endpoint as the order service calls it: the path, the
 * scope, the card it takes and what it answers. Both sides validate against these schemas, and the
 * card is also what a customer sends the order service when placing an order (`PlaceOrderInput`).
 */
import { z } from "@hono/zod-openapi";

export const paymentMethodsPath = "/v1/internal/payment-methods";
/** The scope a service token needs to hand the payment service a card. */
export const tokenizeScope = "payment:tokenize";

export const cardBrands = ["visa", "mastercard", "amex", "discover"] as const;
export type CardBrand = (typeof cardBrands)[number];

/**
 * A card as the customer typed it. Only its shape is checked here; the card rules (brand, check digit,
 * expiry, the brand's CVC length) are the payment service's, which answers 400 naming the field.
 */
export const cardInput = z.strictObject({
  cardNumber: z.string().max(40).regex(
    /^[0-9][0-9 -]*$/,
    "must be digits, optionally grouped by spaces or '-'",
  )
    .openapi({ example: "4242 4242 4242 4242" }),
  expMonth: z.number().int("must be a whole number").min(1).max(12).openapi({ example: 12 }),
  expYear: z.number().int("must be a whole number").min(2000).max(2099).openapi({
    example: 2030,
    description: "four digits",
  }),
  cvc: z.string().regex(/^[0-9]{3,4}$/, "must be 3 or 4 digits").openapi({ example: "123" }),
  holder: z.string().trim().min(1).max(100).openapi({
    example: "Ada Lovelace",
    description: "the name on the card",
  }),
}).openapi("CardInput");

export type CardInput = z.infer<typeof cardInput>;

/** What the shop keeps of a card, and all the order service ever gets back. */
export const paymentMethodSchema = z.object({
  paymentMethodId: z.string().openapi({ description: "what `payment.charge` names the card by" }),
  brand: z.enum(cardBrands),
  last4: z.string().openapi({ example: "4242" }),
  expMonth: z.number().int(),
  expYear: z.number().int(),
}).openapi("PaymentMethod");

export type PaymentMethodJson = z.infer<typeof paymentMethodSchema>;
