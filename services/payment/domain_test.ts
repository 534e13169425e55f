/** The card rules, without a database: check digit, brands, expiry, CVC, holder, and what an answer says. */
import assert from "node:assert/strict";
import type { CardInput } from "@multishop/kit/contracts/payment-methods";
import { cardBrand, cardDigits, checkCard, isExpired, luhnValid, sameCharge } from "./domain.ts";

const now = new Date("2026-06-15T12:00:00Z");

const input = (overrides: Partial<CardInput> = {}): CardInput => ({
  cardNumber: "4242 4242 4242 4242",
  expMonth: 12,
  expYear: 2029,
  cvc: "123",
  holder: "Ada Lovelace",
  ...overrides,
});

/** The problems of a card, as `field: reason`. */
const problemsOf = (overrides: Partial<CardInput>) => {
  const check = checkCard(input(overrides), now);
  return check.valid ? [] : check.errors.map((error) => `${error.field}: ${error.reason}`);
};

Deno.test("the Luhn check accepts real test numbers and catches one wrong digit or a swap", () => {
  for (
    const valid of [
      "4242424242424242",
      "5555555555554444",
      "378282246310005",
      "6011111111111117",
      "79927398713",
    ]
  ) {
    assert.ok(luhnValid(valid), valid);
  }
  assert.equal(luhnValid("4242424242424241"), false, "last digit changed");
  assert.equal(luhnValid("4242424242424422"), false, "two digits swapped");
  assert.equal(luhnValid("79927398710"), false);
});

Deno.test("the brand comes from the leading digits", () => {
  assert.equal(cardBrand("4242424242424242"), "visa");
  assert.equal(cardBrand("5555555555554444"), "mastercard");
  assert.equal(cardBrand("5105105105105100"), "mastercard");
  assert.equal(cardBrand("2223003122003222"), "mastercard", "the 2-series range");
  assert.equal(cardBrand("2720990000000007"), "mastercard");
  assert.equal(cardBrand("2721000000000000"), undefined, "just past the 2-series range");
  assert.equal(cardBrand("378282246310005"), "amex");
  assert.equal(cardBrand("371449635398431"), "amex");
  assert.equal(cardBrand("6011111111111117"), "discover");
  assert.equal(cardBrand("6445644564456445"), "discover");
  assert.equal(cardBrand("6500000000000002"), "discover");
  assert.equal(cardBrand("3530111333300000"), undefined, "JCB is not taken");
  assert.equal(cardBrand("9999999999999995"), undefined);
});

Deno.test("a card is good through the last day of its expiry month", () => {
  assert.equal(isExpired({ expMonth: 6, expYear: 2026 }, now), false, "this month");
  assert.equal(isExpired({ expMonth: 6, expYear: 2026 }, new Date("2026-06-30T23:59:59Z")), false);
  assert.equal(isExpired({ expMonth: 6, expYear: 2026 }, new Date("2026-07-01T00:00:00Z")), true);
  assert.equal(isExpired({ expMonth: 5, expYear: 2026 }, now), true, "last month");
  assert.equal(isExpired({ expMonth: 1, expYear: 2027 }, now), false);
  assert.equal(isExpired({ expMonth: 12, expYear: 2025 }, now), true);
});

Deno.test("a valid card: digits only, its brand and last four, the holder trimmed", () => {
  assert.deepEqual(checkCard(input({ cardNumber: "4242-4242 4242-4242", holder: "  Ada Lovelace " }), now), {
    valid: true,
    card: {
      number: "4242424242424242",
      brand: "visa",
      last4: "4242",
      expMonth: 12,
      expYear: 2029,
      cvc: "123",
      holder: "Ada Lovelace",
    },
  });
  const amex = checkCard(input({ cardNumber: "3782 822463 10005", cvc: "1234" }), now);
  assert.ok(amex.valid);
  assert.equal(amex.card.brand, "amex");
  assert.equal(amex.card.last4, "0005");
  assert.equal(cardDigits("5555 5555-5555 4444"), "5555555555554444");
});

Deno.test("each card number problem is named on cardNumber", () => {
  assert.deepEqual(problemsOf({ cardNumber: "4242 4242 424" }), ["cardNumber: must have 12 to 19 digits"]);
  assert.deepEqual(problemsOf({ cardNumber: "42424242424242424242" }), [
    "cardNumber: must have 12 to 19 digits",
  ]);
  assert.deepEqual(problemsOf({ cardNumber: "3530111333300000" }), [
    "cardNumber: is not a Visa, Mastercard, American Express or Discover card number",
  ]);
  assert.deepEqual(problemsOf({ cardNumber: "424242424242424" }), [
    "cardNumber: Visa card numbers have 13, 16 or 19 digits",
  ]);
  assert.deepEqual(problemsOf({ cardNumber: "55555555555544" }), [
    "cardNumber: Mastercard card numbers have 16 digits",
  ]);
  assert.deepEqual(problemsOf({ cardNumber: "4242424242424241" }), [
    "cardNumber: is not a valid card number (its check digit is wrong)",
  ]);
});

Deno.test("expiry: a past month names expMonth, a past or far year names expYear", () => {
  assert.deepEqual(problemsOf({ expMonth: 6, expYear: 2026 }), [], "this month is fine");
  assert.deepEqual(problemsOf({ expMonth: 5, expYear: 2026 }), ["expMonth: the card has expired"]);
  assert.deepEqual(problemsOf({ expMonth: 12, expYear: 2025 }), ["expYear: the card has expired"]);
  assert.deepEqual(problemsOf({ expYear: 2046 }), [], "twenty years ahead");
  assert.deepEqual(problemsOf({ expYear: 2047 }), ["expYear: must be at most 20 years from now"]);
});

Deno.test("the CVC has the brand's length: four digits for American Express, three otherwise", () => {
  assert.deepEqual(problemsOf({ cvc: "1234" }), ["cvc: must be 3 digits on Visa cards"]);
  assert.deepEqual(problemsOf({ cardNumber: "378282246310005", cvc: "123" }), [
    "cvc: must be 4 digits on American Express cards",
  ]);
  assert.deepEqual(problemsOf({ cardNumber: "6011111111111117", cvc: "123" }), []);
});

Deno.test("a holder with digits is refused, so a number typed in the wrong field is never stored", () => {
  assert.deepEqual(problemsOf({ holder: "4242424242424242" }), [
    "holder: must be the name on the card, without digits",
  ]);
  assert.deepEqual(problemsOf({ holder: "Ada Lovelace 2nd" }), [
    "holder: must be the name on the card, without digits",
  ]);
  assert.deepEqual(problemsOf({ holder: "Zoë O'Brien-Ångström" }), []);
});

Deno.test("every problem is reported at once, and no reason repeats the number or the CVC", () => {
  const problems = problemsOf({ cardNumber: "4242424242424241", expYear: 2020, cvc: "9876", holder: "X 1" });
  assert.deepEqual(problems.map((problem) => problem.split(":")[0]), [
    "cardNumber",
    "expYear",
    "cvc",
    "holder",
  ]);
  for (const problem of problems) {
    assert.ok(!problem.includes("4242424242424241") && !problem.includes("9876"), problem);
  }
});

Deno.test("a repeated charge is the same charge only with the same method, amount and currency", () => {
  const payment = { paymentMethodId: "pm-1", amount: { amount: 1_000, currency: "USD" } };
  const request = { orderId: "o-1", paymentMethodId: "pm-1", amount: { amount: 1_000, currency: "USD" } };
  assert.ok(sameCharge(payment, request));
  assert.equal(sameCharge(payment, { ...request, paymentMethodId: "pm-2" }), false);
  assert.equal(sameCharge(payment, { ...request, amount: { amount: 1_001, currency: "USD" } }), false);
  assert.equal(sameCharge(payment, { ...request, amount: { amount: 1_000, currency: "EUR" } }), false);
});
