/**
 * Charge and refund as the checkout drives them, on both PostgreSQL targets: each test card's outcome,
 * transient failures retried, one capture however many duplicates race, a charge a stopped instance
 * left unfinished taken over, and refunds only after capture, once. On real PostgreSQL the duplicates
 * race on a pool of several connections; PGlite serves one connection, so there they take turns.
 */
import assert from "node:assert/strict";
import { connectPostgres } from "@multishop/kit/postgres";
import { postgresTargets, waitFor } from "@multishop/kit/testing";
import { PaymentError } from "./domain.ts";
import { LeaseLostError } from "./store/postgres.ts";
import { card, orderId, startTestPayment, usd } from "./test_support.ts";

const isPaymentError = (kind: PaymentError["kind"]) => (error: unknown) =>
  error instanceof PaymentError && error.kind === kind;

for (const target of await postgresTargets()) {
  Deno.test({ name: `payments on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) }, async (t) => {
    const service = await startTestPayment(target);
    const { payments, store, processor } = service;
    /** A stored card with this number; its id is what a charge names. */
    const methodFor = async (cardNumber: string) =>
      (await payments.tokenize(card(cardNumber, cardNumber.startsWith("37") ? { cvc: "1234" } : {}))).id;
    const operations = (kind: string, order: string) =>
      processor.operations().filter((op) => op.kind === kind && op.idempotencyKey.startsWith(`${order}:`));

    try {
      await t.step("approved test cards of every brand are authorised and captured", async () => {
        for (
          const number of ["4242424242424242", "5555555555554444", "378282246310005", "6011111111111117"]
        ) {
          const order = orderId();
          const payment = await payments.charge({
            orderId: order,
            paymentMethodId: await methodFor(number),
            amount: usd(4_999),
          });
          assert.equal(payment.status, "captured", number);
          assert.equal(payment.failure, null);
          assert.equal(payment.card.last4, number.slice(-4));
          assert.match(payment.processorReference ?? "", /^sim_pay_/);
          assert.deepEqual(payment.amount, usd(4_999));
          assert.equal(service.callsFor("authorize", order), 1);
          assert.equal(service.callsFor("capture", order), 1);
        }
      });

      await t.step("declined and insufficient funds fail at once, without a retry or a capture", async () => {
        for (
          const [number, reason, detail] of [
            ["4000000000000002", "declined", "the card was declined"],
            ["4000000000009995", "insufficient_funds", "the card has insufficient funds"],
          ]
        ) {
          const order = orderId();
          const payment = await payments.charge({
            orderId: order,
            paymentMethodId: await methodFor(number),
            amount: usd(1_000),
          });
          assert.equal(payment.status, "failed");
          assert.deepEqual(payment.failure, { reason, detail });
          assert.equal(payment.processorReference, null);
          assert.equal(service.callsFor("authorize", order), 1, "a refusal is not retried");
          assert.equal(service.callsFor("capture", order), 0);
        }
      });

      await t.step(
        "4000 0000 0000 0119 is retried three times with backoff, then fails processing_error",
        async () => {
          const order = orderId();
          const payment = await payments.charge({
            orderId: order,
            paymentMethodId: await methodFor("4000000000000119"),
            amount: usd(1_000),
          });
          assert.equal(payment.status, "failed");
          assert.deepEqual(payment.failure, {
            reason: "processing_error",
            detail: "the processor could not process the card after 4 attempts",
          });
          assert.equal(service.callsFor("authorize", order), 4);
          assert.equal(service.callsFor("capture", order), 0);
          const retries = service.logger.lines.filter((line) =>
            line.message === "processor failed transiently; retrying" && line.orderId === order
          );
          assert.deepEqual(retries.map((line) => line.attemptNumber), [1, 2, 3]);
          // Backoff: each wait at least doubles the 5 ms the test configures.
          const waits = retries.map((line) => line.retryInMs as number);
          assert.ok(waits[0] >= 5 && waits[1] >= 10 && waits[2] >= 20, `waits ${waits}`);
        },
      );

      await t.step("4000 0000 0000 0135 fails twice, and the third attempt is captured", async () => {
        const order = orderId();
        const payment = await payments.charge({
          orderId: order,
          paymentMethodId: await methodFor("4000000000000135"),
          amount: usd(1_000),
        });
        assert.equal(payment.status, "captured");
        assert.equal(service.callsFor("authorize", order), 3);
        assert.equal(service.callsFor("capture", order), 1);
      });

      await t.step(
        "20 concurrent duplicate charges for one order: one capture, the same answer",
        async () => {
          const request = {
            orderId: orderId(),
            paymentMethodId: await methodFor("4242424242424242"),
            amount: usd(7_500),
          };
          const answers = await Promise.all(Array.from({ length: 20 }, () => payments.charge(request)));
          assert.equal(service.callsFor("authorize", request.orderId), 1);
          assert.equal(service.callsFor("capture", request.orderId), 1);
          assert.equal(operations("capture", request.orderId).length, 1, "the processor captured once");
          for (const answer of answers) {
            assert.equal(answer.status, "captured");
            assert.equal(answer.id, answers[0].id);
            assert.equal(answer.processorReference, answers[0].processorReference);
          }
          if (service.poolSize > 1) {
            // The race was real: the service's pool had several connections open at once.
            const observer = connectPostgres(service.database.url, { max: 1, applicationName: "test" });
            try {
              const [{ connections }] = await observer<{ connections: number }[]>`
              select count(*)::int as connections from pg_stat_activity
              where datname = current_database() and application_name = 'payment'`;
              assert.ok(connections > 1, `expected several connections, saw ${connections}`);
            } finally {
              await observer.end();
            }
          }
        },
      );

      await t.step(
        "a repeated charge answers the first outcome, a failure too, and asks nothing more",
        async () => {
          const declined = {
            orderId: orderId(),
            paymentMethodId: await methodFor("4000000000000002"),
            amount: usd(300),
          };
          const first = await payments.charge(declined);
          const again = await payments.charge(declined);
          assert.deepEqual(again, first);
          assert.equal(service.callsFor("authorize", declined.orderId), 1);

          const approved = {
            orderId: orderId(),
            paymentMethodId: await methodFor("4242424242424242"),
            amount: usd(300),
          };
          const captured = await payments.charge(approved);
          assert.deepEqual(await payments.charge(approved), captured);
          assert.equal(service.callsFor("capture", approved.orderId), 1);
        },
      );

      await t.step(
        "a charge that contradicts the order's first, or names no stored card, is refused",
        async () => {
          const request = {
            orderId: orderId(),
            paymentMethodId: await methodFor("4242424242424242"),
            amount: usd(1_000),
          };
          await payments.charge(request);
          await assert.rejects(
            payments.charge({ ...request, amount: usd(1_001) }),
            isPaymentError("mismatch"),
          );
          await assert.rejects(
            payments.charge({ ...request, paymentMethodId: await methodFor("5555555555554444") }),
            isPaymentError("mismatch"),
          );
          assert.equal(service.callsFor("capture", request.orderId), 1);

          const unknown = { orderId: orderId(), paymentMethodId: "no-such-method", amount: usd(1_000) };
          await assert.rejects(payments.charge(unknown), isPaymentError("unknown_payment_method"));
          assert.equal(await store.find(unknown.orderId), undefined, "nothing recorded");
        },
      );

      await t.step(
        "a charge a stopped instance left authorised is captured once its lease runs out",
        async () => {
          const request = {
            orderId: orderId(),
            paymentMethodId: await methodFor("4242424242424242"),
            amount: usd(2_000),
          };
          // The stopped instance: it took the payment for 300 ms, got it authorised, recorded that, and died.
          await store.insertPending(request);
          const leasedAt = performance.now();
          const dead = await store.lease(request.orderId, 300);
          assert.ok(typeof dead === "object");
          const authorization = await processor.authorize({
            cardToken: dead.cardToken,
            amount: request.amount,
            idempotencyKey: `${request.orderId}:authorize`,
          });
          assert.equal(authorization.status, "authorized");
          await store.markAuthorized(request.orderId, dead.lease, authorization.reference);

          const payment = await payments.charge(request);
          // The lease runs out 300 ms after the database started taking it, which is after leasedAt.
          assert.ok(performance.now() - leasedAt >= 290, "waited for the lease to run out");
          assert.equal(payment.status, "captured");
          assert.equal(payment.processorReference, authorization.reference);
          assert.equal(service.callsFor("authorize", request.orderId), 1, "the service resumed at capture");
          assert.equal(service.callsFor("capture", request.orderId), 1);
        },
      );

      await t.step(
        "a charge a stopped instance left before recording its authorisation holds once",
        async () => {
          const request = {
            orderId: orderId(),
            paymentMethodId: await methodFor("4242424242424242"),
            amount: usd(2_000),
          };
          // The stopped instance got the processor's approval and died before writing it down.
          await store.insertPending(request);
          const dead = await store.lease(request.orderId, 300);
          assert.ok(typeof dead === "object");
          const authorization = await processor.authorize({
            cardToken: dead.cardToken,
            amount: request.amount,
            idempotencyKey: `${request.orderId}:authorize`,
          });

          const payment = await payments.charge(request);
          assert.equal(payment.status, "captured");
          assert.equal(
            authorization.status === "authorized" && authorization.reference,
            payment.processorReference,
          );
          assert.equal(service.callsFor("authorize", request.orderId), 2, "asked again, with the same key");
          assert.equal(operations("authorize", request.orderId).length, 1, "and held once");
        },
      );

      await t.step(
        "a caller whose lease ran out can neither write nor free the payment it lost",
        async () => {
          const request = {
            orderId: orderId(),
            paymentMethodId: await methodFor("4242424242424242"),
            amount: usd(100),
          };
          await store.insertPending(request);
          const slow = await store.lease(request.orderId, 2000);
          assert.ok(typeof slow === "object");
          assert.equal(await store.lease(request.orderId, 60_000), "busy");
          await new Promise((resolve) => setTimeout(resolve, 2100));
          const taker = await store.lease(request.orderId, 60_000);
          assert.ok(typeof taker === "object", "the lease ran out and was taken over");

          await assert.rejects(
            store.markAuthorized(request.orderId, slow.lease, "sim_pay_late"),
            (error) => error instanceof LeaseLostError,
          );
          await store.release(request.orderId, slow.lease);
          assert.equal(await store.lease(request.orderId, 60_000), "busy", "still the taker's");
          assert.equal((await store.find(request.orderId))?.status, "pending");
          await store.release(request.orderId, taker.lease);
          assert.equal(await store.lease(orderId(), 1_000), "absent", "an order without payment");
        },
      );

      await t.step(
        "refund after capture returns the amount; again, even at once, answers that refund",
        async () => {
          const request = {
            orderId: orderId(),
            paymentMethodId: await methodFor("4242424242424242"),
            amount: usd(3_300),
          };
          await payments.charge(request);
          const refunds = await Promise.all(
            Array.from({ length: 5 }, () => payments.refund(request.orderId)),
          );
          const [first] = refunds;
          assert.equal(first.status, "refunded");
          assert.deepEqual(first.refund?.amount, usd(3_300));
          assert.match(first.refund?.processorReference ?? "", /^sim_re_/);
          for (const refund of refunds) assert.deepEqual(refund, first);
          assert.deepEqual(await payments.refund(request.orderId), first);
          assert.equal(service.callsFor("refund", request.orderId), 1);
          assert.equal(operations("refund", request.orderId).length, 1);

          // A late duplicate of the charge answers the payment as it stands now, and takes nothing.
          assert.equal((await payments.charge(request)).status, "refunded");
          assert.equal(service.callsFor("capture", request.orderId), 1);
        },
      );

      await t.step(
        "a refund before capture is refused: a failed payment, an order never charged",
        async () => {
          const declined = {
            orderId: orderId(),
            paymentMethodId: await methodFor("4000000000000002"),
            amount: usd(500),
          };
          await payments.charge(declined);
          await assert.rejects(payments.refund(declined.orderId), isPaymentError("not_captured"));
          await assert.rejects(payments.refund(orderId()), isPaymentError("not_found"));
          assert.equal(service.callsFor("refund", declined.orderId), 0);
        },
      );

      await t.step(
        "a refund that arrives while the charge is retrying waits for it, then refunds",
        async () => {
          const request = {
            orderId: orderId(),
            paymentMethodId: await methodFor("4000000000000135"),
            amount: usd(800),
          };
          const charging = payments.charge(request);
          // The charge holds the payment once it has asked the processor.
          await waitFor("the first authorisation", () => service.callsFor("authorize", request.orderId) > 0);
          const refunded = await payments.refund(request.orderId);
          assert.equal((await charging).status, "captured");
          assert.equal(refunded.status, "refunded");
          assert.equal(service.callsFor("refund", request.orderId), 1);
        },
      );
    } finally {
      await service.close();
    }
  });
}
