/**
 * The order service's calls to other services: the caller's basket (with the caller's own token, so
 * the basket service enforces that it is theirs) and the payment service's card tokenisation (with
 * the order service's client token).
 */
import { z } from "zod";
import { money } from "@multishop/kit/contracts/money";
import { ProblemError } from "@multishop/kit/problem";
import { type ServiceClient, ServiceUnavailableError } from "@multishop/kit/service-client";
import {
  type CardInput,
  paymentMethodSchema,
  paymentMethodsPath,
} from "@multishop/kit/contracts/payment-methods";

/** The part of `GET /v1/basket` an order is made from; prices are the basket's server-side snapshot. */
const basketSchema = z.object({
  lines: z.array(z.object({
    productId: z.string(),
    name: z.string(),
    unitPrice: money,
    quantity: z.number().int().positive(),
    available: z.boolean(),
  })),
  coupon: z.union([
    z.object({ code: z.string(), valid: z.literal(true), discount: money }),
    z.object({ code: z.string(), valid: z.literal(false) }),
  ]).nullable(),
  totals: z.object({ subtotal: money, discount: money, total: money }),
});

export type BasketSnapshot = z.infer<typeof basketSchema>;

export interface Baskets {
  /** The basket of the caller whose bearer token this is. */
  basketOf(bearerToken: string): Promise<BasketSnapshot>;
}

export interface PaymentMethods {
  /** Hands the card to the payment service; answers the id `payment.charge` names it by. */
  tokenize(card: CardInput): Promise<string>;
}

export function basketClient(baseUrl: string, timeoutMs = 5_000): Baskets {
  return {
    async basketOf(bearerToken) {
      let response: Response;
      try {
        response = await fetch(`${baseUrl}/v1/basket`, {
          headers: { authorization: `Bearer ${bearerToken}` },
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new ServiceUnavailableError("basket", (error as Error).message);
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new ServiceUnavailableError("basket", `answered ${response.status}`);
      }
      return basketSchema.parse(await response.json());
    },
  };
}

const paymentProblem = z.object({
  errors: z.array(z.object({ field: z.string(), reason: z.string() })).optional(),
  detail: z.string().optional(),
});

export function paymentClient(service: ServiceClient, baseUrl: string): PaymentMethods {
  return {
    async tokenize(card) {
      const response = await service.request(`${baseUrl}${paymentMethodsPath}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(card),
      });
      if (response.status === 400) {
        // The card rules are the payment service's; its field names are relative to the card.
        const problem = paymentProblem.parse(await response.json());
        throw new ProblemError({
          status: 400,
          kind: "validation",
          title: "Invalid request",
          detail: problem.detail ?? "the card was refused",
          errors: (problem.errors ?? []).map(({ field, reason }) => ({
            field: `payment.${field.replace(/^json\./, "")}`,
            reason,
          })),
        });
      }
      if (response.status !== 201) {
        await response.body?.cancel();
        throw new ServiceUnavailableError("payment", `answered ${response.status}`);
      }
      return paymentMethodSchema.parse(await response.json()).paymentMethodId;
    },
  };
}
