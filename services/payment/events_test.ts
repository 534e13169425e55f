/**
 * The checkout's commands through the in-process bus, on both PostgreSQL targets: each command is
 * answered, correlated to its order and caused by the command; duplicates have one effect; commands the
 * payment's state refuses end in the dead letters, unanswered.
 */
import assert from "node:assert/strict";
import { paymentMessages } from "@multishop/kit/contracts/checkout";
import type { Envelope } from "@multishop/kit/messaging";
import { postgresTargets } from "@multishop/kit/testing";
import { z } from "zod";
import { paymentQueue } from "./events.ts";
import { card, orderId, startTestPayment, usd, waitFor } from "./test_support.ts";

for (const target of await postgresTargets()) {
  Deno.test(
    { name: `payment messages on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) },
    async (t) => {
      const service = await startTestPayment(target);
      const { bus, payments } = service;
      // The order service's side: every reply the payment service sends.
      const replies: Envelope[] = [];
      await bus.subscribe(
        "checkout-test",
        ["payment.charged", "payment.failed", "payment.refunded"],
        (reply) => {
          replies.push(reply);
          return Promise.resolve();
        },
      );
      const repliesTo = (command: Envelope) => replies.filter((reply) => reply.causationId === command.id);
      const replyTo = async (command: Envelope) => {
        await waitFor(`the reply to ${command.type} ${command.id}`, () => repliesTo(command).length > 0);
        assert.equal(repliesTo(command).length, 1, "one reply per command");
        return repliesTo(command)[0];
      };
      const charge = (payload: z.input<(typeof paymentMessages)["payment.charge"]>, id?: string) =>
        bus.publish("payment.charge", paymentMessages["payment.charge"], payload, {
          id,
          correlationId: payload.orderId,
        });
      const refund = (order: string) =>
        bus.publish("payment.refund", paymentMessages["payment.refund"], { orderId: order }, {
          correlationId: order,
        });
      const methodFor = async (cardNumber: string) => (await payments.tokenize(card(cardNumber))).id;

      try {
        await t.step(
          "payment.charge is answered payment.charged, correlated to the order, caused by it",
          async () => {
            const order = orderId();
            const command = await charge({
              orderId: order,
              paymentMethodId: await methodFor("4242424242424242"),
              amount: usd(12_345),
            });
            const reply = await replyTo(command);
            const payment = await payments.payment(order);
            assert.equal(reply.type, "payment.charged");
            assert.equal(reply.correlationId, order);
            assert.equal(reply.causationId, command.id);
            assert.deepEqual(reply.payload, { orderId: order, paymentId: payment.id, amount: usd(12_345) });
            assert.equal(payment.status, "captured");
          },
        );

        await t.step("each failing test card is answered payment.failed with its reason", async () => {
          for (
            const [number, reason] of [
              ["4000000000000002", "declined"],
              ["4000000000009995", "insufficient_funds"],
              ["4000000000000119", "processing_error"],
            ]
          ) {
            const order = orderId();
            const command = await charge({
              orderId: order,
              paymentMethodId: await methodFor(number),
              amount: usd(100),
            });
            const reply = await replyTo(command);
            assert.equal(reply.type, "payment.failed", number);
            assert.equal(reply.correlationId, order);
            const failed = paymentMessages["payment.failed"].parse(reply.payload);
            assert.equal(failed.reason, reason);
            assert.equal(failed.orderId, order);
            assert.ok(failed.detail.length > 0);
          }
        });

        await t.step(
          "duplicates, redelivered and new, some at once: one capture, each answered alike",
          async () => {
            const order = orderId();
            const payload = {
              orderId: order,
              paymentMethodId: await methodFor("5555555555554444"),
              amount: usd(999),
            };
            const first = await charge(payload);
            const [redelivered, ...others] = await Promise.all([
              charge(payload, first.id),
              ...Array.from({ length: 4 }, () => charge(payload)),
            ]);
            await waitFor(
              "six replies",
              () => replies.filter((reply) => reply.correlationId === order).length === 6,
            );

            const answers = replies.filter((reply) => reply.correlationId === order);
            assert.ok(answers.every((reply) => reply.type === "payment.charged"));
            assert.equal(
              new Set(answers.map((reply) => JSON.stringify(reply.payload))).size,
              1,
              "the same answer",
            );
            assert.equal(repliesTo(first).length, 2, "the first and its redelivery share an id");
            assert.equal(redelivered.id, first.id);
            for (const other of others) assert.equal(repliesTo(other).length, 1);
            assert.equal(service.callsFor("capture", order), 1);
          },
        );

        await t.step("payment.refund after capture is answered payment.refunded, once refunded", async () => {
          const order = orderId();
          await replyTo(
            await charge({
              orderId: order,
              paymentMethodId: await methodFor("4242424242424242"),
              amount: usd(2_000),
            }),
          );
          const command = await refund(order);
          const reply = await replyTo(command);
          assert.equal(reply.type, "payment.refunded");
          assert.equal(reply.correlationId, order);
          assert.deepEqual(reply.payload, { orderId: order, amount: usd(2_000) });

          const again = await replyTo(await refund(order));
          assert.deepEqual(again.payload, reply.payload);
          assert.equal(service.callsFor("refund", order), 1);
          assert.equal((await payments.payment(order)).status, "refunded");
        });

        await t.step(
          "commands the payment's state refuses are retried, then dead-lettered unanswered",
          async () => {
            const declined = orderId();
            await replyTo(
              await charge({
                orderId: declined,
                paymentMethodId: await methodFor("4000000000000002"),
                amount: usd(1),
              }),
            );
            const refundOfFailed = await refund(declined);
            const unknownMethod = await charge({
              orderId: orderId(),
              paymentMethodId: "no-such-method",
              amount: usd(1),
            });
            // A command that breaks the contract, as a producer with an old schema would send it.
            const broken = await bus.publish("payment.charge", z.object({ orderId: z.string() }), {
              orderId: orderId(),
            });

            const deadIds = () => bus.deadLetters(paymentQueue).map((letter) => letter.envelope.id);
            await waitFor("three dead letters", () => deadIds().length === 3);
            assert.deepEqual(deadIds().sort(), [refundOfFailed.id, unknownMethod.id, broken.id].sort());
            const errors = bus.deadLetters(paymentQueue).map((letter) => letter.error).join("\n");
            assert.match(errors, /payment is failed; nothing to refund/);
            assert.match(errors, /there is no payment method no-such-method/);
            assert.match(errors, /paymentMethodId/);
            for (const command of [refundOfFailed, unknownMethod, broken]) {
              assert.equal(repliesTo(command).length, 0);
              const retries = service.logger.lines.filter((line) =>
                line.message === "message handler failed; retrying" && line.messageId === command.id
              );
              assert.equal(retries.length, 3, "retried before it was given up");
            }
            assert.equal(service.callsFor("refund", declined), 0);
          },
        );
      } finally {
        await service.close();
      }
    },
  );
}
