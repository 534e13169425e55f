/**
 * The card processor: the interface a real provider (Stripe, Adyen, ...) implements, and the simulated
 * processor the shop runs with, which answers by test card numbers the way providers' test modes do.
 */
import type { Money } from "@multishop/kit/contracts/money";
import type { Card } from "./domain.ts";

/** A definitive answer to an authorisation: the amount is held, or the bank said no. */
export type Authorization =
  | { status: "authorized"; reference: string }
  | { status: "refused"; reason: "declined" | "insufficient_funds"; detail: string };

/**
 * The processor could not answer this time (its own processing error, a timeout, an outage); the same
 * request may succeed later. Any other error is a bug that retrying cannot fix.
 */
export class TransientProcessorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TransientProcessorError";
  }
}

/**
 * What the payment service needs from a provider. Amounts are in minor units. A request repeated with
 * the same idempotency key answers what the first answered and has no other effect, so a caller that
 * does not know whether a request went through (it crashed, the answer was lost) may send it again; a
 * transient failure is not remembered, so repeating it tries again.
 */
export interface CardProcessor {
  /**
   * Hands the card to the processor, which keeps it, and answers the processor's reference to it. The
   * one call that sees the card number and CVC: the shop stores the reference, never the card.
   */
  tokenize(card: Card): Promise<string>;
  /** Holds the amount on the card; the reference names the payment in capture and refund. */
  authorize(request: { cardToken: string; amount: Money; idempotencyKey: string }): Promise<Authorization>;
  /** Takes the held amount. */
  capture(request: { reference: string; amount: Money; idempotencyKey: string }): Promise<void>;
  /** Returns a captured amount to the card; answers the refund's own reference. */
  refund(request: { reference: string; amount: Money; idempotencyKey: string }): Promise<string>;
}

/**
 * How the simulated processor treats a card, decided by its number at tokenisation and kept as the
 * card's token (the only thing it needs later).
 */
const simulatedBehaviours = [
  "approve",
  "decline",
  "insufficient_funds",
  /** Every authorisation fails transiently, however often it is retried. */
  "processing_error",
  /** The first two authorisation attempts of each payment fail transiently, the third is approved. */
  "processing_error_twice",
] as const;
export type SimulatedBehaviour = (typeof simulatedBehaviours)[number];

/**
 * The test cards, as digits, after the well-known ones of real providers' test modes. Any other valid
 * card number is approved, so a demo shopper may type any card.
 */
export const testCards: Record<string, SimulatedBehaviour> = {
  "4242424242424242": "approve", // Visa
  "5555555555554444": "approve", // Mastercard
  "378282246310005": "approve", // American Express
  "6011111111111117": "approve", // Discover
  "4000000000000002": "decline",
  "4000000000009995": "insufficient_funds",
  "4000000000000119": "processing_error",
  "4000000000000135": "processing_error_twice",
};

/** How many attempts of a `processing_error_twice` authorisation fail before one is approved. */
const failingAttempts = 2;

/** One thing the simulated processor did; answers replayed for a repeated idempotency key are not in it. */
export interface SimulatedOperation {
  kind: "authorize" | "capture" | "refund";
  idempotencyKey: string;
  /** The payment's reference; for a refund, the payment refunded. */
  reference: string;
  amount: Money;
}

export interface SimulatedProcessor extends CardProcessor {
  /** What it did, oldest first, like a provider's dashboard; the tests count captures with it. */
  operations(): SimulatedOperation[];
}

/**
 * A processor in memory. It keeps no card data and needs no record of its own payments beyond the
 * answers to idempotency keys, so a payment it authorised before a restart can still be captured and
 * refunded after one. The answers are kept for the process's life (a real provider keeps them a day or
 * so); each is a few hundred bytes.
 */
export function simulatedProcessor(): SimulatedProcessor {
  const answers = new Map<string, { request: string; operation?: SimulatedOperation; answer: unknown }>();
  const attempts = new Map<string, number>();

  /**
   * Runs `act` once per idempotency key and answers its result again for a repeat. Reusing a key for a
   * different request is refused, as real providers do. A transient failure is thrown before anything
   * is kept, so a repeat tries again.
   */
  function once<T>(
    idempotencyKey: string,
    request: Record<string, unknown>,
    act: () => { answer: T; operation?: SimulatedOperation },
  ): T {
    const fingerprint = JSON.stringify(request);
    const previous = answers.get(idempotencyKey);
    if (previous) {
      if (previous.request !== fingerprint) {
        throw new Error(`idempotency key ${idempotencyKey} was used for a different request`);
      }
      return previous.answer as T;
    }
    const { answer, operation } = act();
    answers.set(idempotencyKey, { request: fingerprint, operation, answer });
    return answer;
  }

  const paymentReference = (reference: string) => {
    if (!reference.startsWith("sim_pay_")) throw new Error(`${reference} is not a simulated payment`);
    return reference;
  };

  return {
    tokenize(card) {
      return Promise.resolve(testCards[card.number] ?? "approve");
    },

    authorize({ cardToken, amount, idempotencyKey }) {
      return Promise.try(() =>
        once<Authorization>(idempotencyKey, { kind: "authorize", cardToken, amount }, () => {
          const behaviour = simulatedBehaviours.find((each) => each === cardToken);
          if (!behaviour) throw new Error(`${cardToken} is not a card token of the simulated processor`);
          const attempt = (attempts.get(idempotencyKey) ?? 0) + 1;
          attempts.set(idempotencyKey, attempt);
          if (
            behaviour === "processing_error" ||
            (behaviour === "processing_error_twice" && attempt <= failingAttempts)
          ) {
            throw new TransientProcessorError("the processor could not process the card; try again");
          }
          if (behaviour === "decline") {
            return { answer: { status: "refused", reason: "declined", detail: "the card was declined" } };
          }
          if (behaviour === "insufficient_funds") {
            return {
              answer: {
                status: "refused",
                reason: "insufficient_funds",
                detail: "the card has insufficient funds",
              },
            };
          }
          const reference = `sim_pay_${crypto.randomUUID()}`;
          return {
            answer: { status: "authorized", reference },
            operation: { kind: "authorize", idempotencyKey, reference, amount },
          };
        })
      );
    },

    capture({ reference, amount, idempotencyKey }) {
      return Promise.try(() =>
        once<void>(idempotencyKey, { kind: "capture", reference, amount }, () => ({
          answer: undefined,
          operation: { kind: "capture", idempotencyKey, reference: paymentReference(reference), amount },
        }))
      );
    },

    refund({ reference, amount, idempotencyKey }) {
      return Promise.try(() =>
        once<string>(idempotencyKey, { kind: "refund", reference, amount }, () => ({
          answer: `sim_re_${crypto.randomUUID()}`,
          operation: { kind: "refund", idempotencyKey, reference: paymentReference(reference), amount },
        }))
      );
    },

    operations: () => [...answers.values()].flatMap(({ operation }) => operation ? [operation] : []),
  };
}
