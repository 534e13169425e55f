/**
 * Cards and payments: whether a card may be taken (brand, check digit, expiry, CVC), and where a payment
 * stands. No I/O: the time comes in as a value.
 */
import { paymentMessages } from "@multishop/kit/contracts/checkout";
import type { FieldError } from "@multishop/kit/problem";
import type { CardBrand, CardInput } from "@multishop/kit/contracts/payment-methods";
import type { Money } from "@multishop/kit/contracts/money";

const brandRules: Record<CardBrand, { label: string; lengths: number[]; cvcLength: number }> = {
  visa: { label: "Visa", lengths: [13, 16, 19], cvcLength: 3 },
  mastercard: { label: "Mastercard", lengths: [16], cvcLength: 3 },
  amex: { label: "American Express", lengths: [15], cvcLength: 4 },
  discover: { label: "Discover", lengths: [16, 17, 18, 19], cvcLength: 3 },
};

/** How far ahead an expiry may be; cards are issued for a few years, so anything later is a typo. */
const maxYearsAhead = 20;

/** The digits of a card number typed with spaces or hyphens between groups. */
export const cardDigits = (cardNumber: string) => cardNumber.replace(/[ -]/g, "");

/** The Luhn check digit test every card number passes; it catches one wrong digit and most swaps. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** The brand a card number's leading digits (its issuer identification number) belong to. */
export function cardBrand(digits: string): CardBrand | undefined {
  if (/^3[47]/.test(digits)) return "amex";
  if (/^4/.test(digits)) return "visa";
  const two = Number(digits.slice(0, 2));
  const four = Number(digits.slice(0, 4));
  if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) return "mastercard";
  const three = Number(digits.slice(0, 3));
  if (/^6011/.test(digits) || /^65/.test(digits) || (three >= 644 && three <= 649)) return "discover";
  return undefined;
}

/** A card may be used through the last day of its expiry month (in UTC). */
export function isExpired(card: { expMonth: number; expYear: number }, now: Date): boolean {
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth() + 1;
  return card.expYear < year || (card.expYear === year && card.expMonth < month);
}

/** A card that passed every rule: the number as digits only, the holder trimmed. */
export interface Card {
  number: string;
  brand: CardBrand;
  last4: string;
  expMonth: number;
  expYear: number;
  cvc: string;
  holder: string;
}

export type CardCheck = { valid: true; card: Card } | { valid: false; errors: FieldError[] };

/**
 * The card rules, each problem naming its field. The reasons never repeat what was typed, so that
 * neither an answer nor a log line can carry a card number or a CVC.
 */
export function checkCard(input: CardInput, now: Date): CardCheck {
  const errors: FieldError[] = [];
  const number = cardDigits(input.cardNumber);
  const brand = cardBrand(number);
  if (number.length < 12 || number.length > 19) {
    errors.push({ field: "cardNumber", reason: "must have 12 to 19 digits" });
  } else if (!brand) {
    errors.push({
      field: "cardNumber",
      reason: "is not a Visa, Mastercard, American Express or Discover card number",
    });
  } else if (!brandRules[brand].lengths.includes(number.length)) {
    const { label, lengths } = brandRules[brand];
    errors.push({ field: "cardNumber", reason: `${label} card numbers have ${listed(lengths)} digits` });
  } else if (!luhnValid(number)) {
    errors.push({ field: "cardNumber", reason: "is not a valid card number (its check digit is wrong)" });
  }

  const year = now.getUTCFullYear();
  if (isExpired(input, now)) {
    // The field to correct: the month when only the month is past, else the year.
    const field = input.expYear === year ? "expMonth" : "expYear";
    errors.push({ field, reason: "the card has expired" });
  } else if (input.expYear > year + maxYearsAhead) {
    errors.push({ field: "expYear", reason: `must be at most ${maxYearsAhead} years from now` });
  }

  if (brand && input.cvc.length !== brandRules[brand].cvcLength) {
    const { label, cvcLength } = brandRules[brand];
    errors.push({ field: "cvc", reason: `must be ${cvcLength} digits on ${label} cards` });
  }

  // A card number typed into the name field would otherwise be stored: names carry no digits.
  if (/[0-9]/.test(input.holder)) {
    errors.push({ field: "holder", reason: "must be the name on the card, without digits" });
  }

  if (errors.length > 0 || !brand) return { valid: false, errors };
  return {
    valid: true,
    card: {
      number,
      brand,
      last4: number.slice(-4),
      expMonth: input.expMonth,
      expYear: input.expYear,
      cvc: input.cvc,
      holder: input.holder.trim(),
    },
  };
}

const listed = (values: number[]) =>
  values.length === 1 ? String(values[0]) : `${values.slice(0, -1).join(", ")} or ${values.at(-1)}`;

/** What the shop keeps of a card: never its number or CVC. */
export interface PaymentMethod {
  id: string;
  brand: CardBrand;
  last4: string;
  expMonth: number;
  expYear: number;
  holder: string;
  /** The processor's reference to the card; only the processor can turn it into a charge. */
  processorToken: string;
  createdAt: Date;
}

/**
 * Where a payment stands. `pending` (nothing asked yet) and `authorized` (the amount is held, not yet
 * taken) are the steps in between; a charge ends `captured` or `failed`, and a captured one may become
 * `refunded`.
 */
export const paymentStatuses = ["pending", "authorized", "captured", "failed", "refunded"] as const;
export type PaymentStatus = (typeof paymentStatuses)[number];

/** Why a charge failed: the reasons `payment.failed` carries. */
export const failureReasons = paymentMessages["payment.failed"].shape.reason.options;
export type FailureReason = (typeof failureReasons)[number];

export interface Refund {
  amount: Money;
  processorReference: string;
  createdAt: Date;
}

/** One order's payment; the order id is the key that makes charge and refund idempotent. */
export interface Payment {
  id: string;
  orderId: string;
  paymentMethodId: string;
  card: { brand: CardBrand; last4: string };
  amount: Money;
  status: PaymentStatus;
  failure: { reason: FailureReason; detail: string } | null;
  /** The processor's id for the payment, once it authorised it. */
  processorReference: string | null;
  refund: Refund | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface ChargeRequest {
  orderId: string;
  paymentMethodId: string;
  amount: Money;
}

/** A charge or refund the payment's state does not allow; the caller has a bug or a stale message. */
export class PaymentError extends Error {
  constructor(
    readonly kind: "unknown_payment_method" | "mismatch" | "not_found" | "not_captured",
    message: string,
  ) {
    super(message);
    this.name = "PaymentError";
  }
}

/** A repeated charge must be the same request, or answering the recorded one would be about another charge. */
export function sameCharge(
  payment: Pick<Payment, "paymentMethodId" | "amount">,
  request: ChargeRequest,
): boolean {
  return payment.paymentMethodId === request.paymentMethodId &&
    payment.amount.amount === request.amount.amount &&
    payment.amount.currency === request.amount.currency;
}
