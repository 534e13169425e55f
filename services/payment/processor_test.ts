/** The simulated processor on its own: each test card, idempotency keys, and transient failures. */
import assert from "node:assert/strict";
import { cardBrand, checkCard } from "./domain.ts";
import {
  type SimulatedProcessor,
  simulatedProcessor,
  testCards,
  TransientProcessorError,
} from "./processor.ts";

const usd = (amount: number) => ({ amount, currency: "USD" });

/** A card with this number that passes every rule. */
function validCard(cardNumber: string) {
  const check = checkCard({
    cardNumber,
    expMonth: 12,
    expYear: new Date().getUTCFullYear() + 2,
    cvc: cardBrand(cardNumber) === "amex" ? "1234" : "123",
    holder: "Test Holder",
  }, new Date());
  assert.ok(check.valid, `${cardNumber} is a valid card`);
  return check.card;
}

/** The simulated processor's token for a card number, as tokenisation makes it. */
const tokenFor = (processor: SimulatedProcessor, cardNumber: string) =>
  processor.tokenize(validCard(cardNumber));

const isTransient = (error: unknown) => error instanceof TransientProcessorError;
/** A failure that is not transient, so the service will not retry it, with this message. */
const permanent = (message: RegExp) => (error: unknown) =>
  error instanceof Error && message.test(error.message) && !isTransient(error);

Deno.test("every test card is a valid card number", () => {
  for (const number of Object.keys(testCards)) validCard(number);
});

Deno.test("each test card's authorisation", async (t) => {
  const processor = simulatedProcessor();
  const authorize = async (cardNumber: string, idempotencyKey = crypto.randomUUID()) =>
    processor.authorize({
      cardToken: await tokenFor(processor, cardNumber),
      amount: usd(1_000),
      idempotencyKey,
    });

  await t.step("Visa, Mastercard, American Express and Discover test cards are approved", async () => {
    for (const number of ["4242424242424242", "5555555555554444", "378282246310005", "6011111111111117"]) {
      const answer = await authorize(number);
      assert.equal(answer.status, "authorized", number);
      assert.match(answer.status === "authorized" ? answer.reference : "", /^sim_pay_/);
    }
  });

  await t.step("any other valid card number is approved too", async () => {
    assert.equal((await authorize("4111111111111111")).status, "authorized");
  });

  await t.step("4000 0000 0000 0002 is declined, 4000 0000 0000 9995 has insufficient funds", async () => {
    assert.deepEqual(await authorize("4000000000000002"), {
      status: "refused",
      reason: "declined",
      detail: "the card was declined",
    });
    assert.deepEqual(await authorize("4000000000009995"), {
      status: "refused",
      reason: "insufficient_funds",
      detail: "the card has insufficient funds",
    });
  });

  await t.step("4000 0000 0000 0119 fails transiently every time", async () => {
    const key = crypto.randomUUID();
    for (let attempt = 1; attempt <= 6; attempt++) {
      await assert.rejects(authorize("4000000000000119", key), isTransient);
    }
  });

  await t.step("4000 0000 0000 0135 fails transiently twice per payment, then is approved", async () => {
    const key = crypto.randomUUID();
    await assert.rejects(authorize("4000000000000135", key), isTransient);
    await assert.rejects(authorize("4000000000000135", key), isTransient);
    const third = await authorize("4000000000000135", key);
    assert.equal(third.status, "authorized");
    assert.deepEqual(await authorize("4000000000000135", key), third, "answered again, not run again");
    await assert.rejects(authorize("4000000000000135"), isTransient, "another payment starts over");
  });

  await t.step("only approvals are operations; refusals and transient failures leave none", () => {
    const kinds = processor.operations().map((operation) => operation.kind);
    assert.deepEqual(kinds, Array(6).fill("authorize"));
  });
});

Deno.test("idempotency keys: a repeat answers the first answer and does nothing more", async () => {
  const processor = simulatedProcessor();
  const cardToken = await tokenFor(processor, "4242424242424242");
  const authorization = await processor.authorize({
    cardToken,
    amount: usd(2_500),
    idempotencyKey: "o-1:authorize",
  });
  assert.equal(authorization.status, "authorized");
  const reference = authorization.status === "authorized" ? authorization.reference : "";
  assert.deepEqual(
    await processor.authorize({ cardToken, amount: usd(2_500), idempotencyKey: "o-1:authorize" }),
    authorization,
  );

  await processor.capture({ reference, amount: usd(2_500), idempotencyKey: "o-1:capture" });
  await processor.capture({ reference, amount: usd(2_500), idempotencyKey: "o-1:capture" });
  const refund = await processor.refund({ reference, amount: usd(2_500), idempotencyKey: "o-1:refund" });
  assert.match(refund, /^sim_re_/);
  assert.equal(
    await processor.refund({ reference, amount: usd(2_500), idempotencyKey: "o-1:refund" }),
    refund,
  );

  assert.deepEqual(processor.operations(), [
    { kind: "authorize", idempotencyKey: "o-1:authorize", reference, amount: usd(2_500) },
    { kind: "capture", idempotencyKey: "o-1:capture", reference, amount: usd(2_500) },
    { kind: "refund", idempotencyKey: "o-1:refund", reference, amount: usd(2_500) },
  ]);
});

Deno.test("a key reused for another request, an unknown token or reference is refused, not retried", async () => {
  const processor = simulatedProcessor();
  const cardToken = await tokenFor(processor, "4242424242424242");
  await processor.authorize({ cardToken, amount: usd(100), idempotencyKey: "k" });
  await assert.rejects(
    processor.authorize({ cardToken, amount: usd(200), idempotencyKey: "k" }),
    permanent(/idempotency key k was used for a different request/),
  );
  await assert.rejects(
    processor.authorize({ cardToken: "4242424242424242", amount: usd(100), idempotencyKey: "k2" }),
    permanent(/not a card token/),
  );
  await assert.rejects(
    processor.capture({ reference: "pi_123", amount: usd(100), idempotencyKey: "k3" }),
    permanent(/not a simulated payment/),
  );
});
