/**
 * The checkout's commands through the in-process bus, on both PostgreSQL targets: each command is
 * answered, correlated to its order and caused by the command; the reply is written to the outbox with
 * the payment's outcome and the command's inbox record, so that it survives a broker that refuses it
 * and does not outlive an outcome that was rolled back; a redelivered command writes nothing more, and a
 * repeated one is answered alike; commands the payment's state refuses end in the dead letters,
 * unanswered and unrecorded.
 */
import assert from "node:assert/strict";
import { paymentMessages } from "@multishop/kit/contracts/checkout";
import type { Envelope } from "@multishop/kit/messaging";
import { postgresTargets, waitFor } from "@multishop/kit/testing";
import { z } from "zod";
import { paymentQueue } from "./events.ts";
import { card, orderId, startTestPayment, usd } from "./test_support.ts";

for (const target of await postgresTargets()) {
  Deno.test(
    { name: `payment messages on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) },
    async (t) => {
      const service = await startTestPayment(target);
      const { bus, payments, sql } = service;
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
      /** The order's events in the payment service's outbox, oldest first. */
      const outboxOf = (order: string) =>
        sql<{ id: string; type: string; causation_id: string; attempts: number; published: boolean }[]>`
          select id, type, causation_id, attempts, published_at is not null as published
          from outbox where correlation_id = ${order} order by seq`;
      const recorded = async (command: Envelope) =>
        (await sql`select 1 from inbox where message_id = ${command.id} and queue = ${paymentQueue}`)
          .length === 1;
      /** The payment's row as stored, to tell whether anything wrote to it. */
      const paymentRow = async (order: string) =>
        (await sql`select status, updated_at, lease_id from payments where order_id = ${order}`)[0];

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
            assert.ok(await recorded(command), "the command is in the inbox");
            const [written] = await outboxOf(order);
            assert.equal(written.id, reply.id, "the reply went out of the outbox");
          },
        );

        await t.step(
          "with the broker refusing, the outcome and its reply are kept, and the reply goes out once it is back",
          async () => {
            const order = orderId();
            service.setBrokerDown(true);
            const command = await charge({
              orderId: order,
              paymentMethodId: await methodFor("4242424242424242"),
              amount: usd(700),
            });
            try {
              await waitFor("a refused try to publish the reply", async () => {
                const [written] = await outboxOf(order);
                return written?.attempts > 0;
              });
              assert.equal((await payments.payment(order)).status, "captured");
              assert.ok(await recorded(command), "handled: the bus has nothing to redeliver");
              const [pending] = await outboxOf(order);
              assert.deepEqual([pending.type, pending.published], ["payment.charged", false]);
              assert.equal(repliesTo(command).length, 0);
            } finally {
              service.setBrokerDown(false);
            }
            const reply = await replyTo(command);
            assert.equal(reply.type, "payment.charged");
            assert.equal(service.timesHandled(command.id), 1, "the command was handled once");
            assert.equal(service.callsFor("capture", order), 1);
          },
        );

        await t.step(
          "an outcome whose reply cannot be written is rolled back with it, and redone once it can",
          async () => {
            const order = orderId();
            // The outbox refuses this order's events, as a database failing mid-transaction would.
            const constraint = `refuse_${order.replaceAll("-", "_")}`;
            await sql.unsafe(
              `alter table outbox add constraint ${constraint} check (correlation_id <> '${order}')`,
            );
            let command: Envelope;
            try {
              command = await charge({
                orderId: order,
                paymentMethodId: await methodFor("4242424242424242"),
                amount: usd(800),
              });
              await waitFor(
                "the charge to be dead-lettered",
                () => bus.deadLetters(paymentQueue).some((letter) => letter.envelope.id === command.id),
              );
              assert.match(
                bus.deadLetters(paymentQueue).find((letter) => letter.envelope.id === command.id)!.error,
                new RegExp(constraint),
              );
              // The authorisation is a step of its own; the capture is the outcome, and it did not stay.
              assert.equal((await payments.payment(order)).status, "authorized");
              assert.equal(await recorded(command), false, "the command is not recorded");
              assert.equal((await outboxOf(order)).length, 0, "nor is its reply");
              assert.equal(repliesTo(command).length, 0);
            } finally {
              await sql.unsafe(`alter table outbox drop constraint ${constraint}`);
            }

            assert.equal(bus.replayDeadLetters(paymentQueue), 1);
            const reply = await replyTo(command);
            assert.equal(reply.type, "payment.charged");
            assert.equal((await payments.payment(order)).status, "captured");
            assert.equal(service.callsFor("authorize", order), 1, "the retries resumed at capture");
            assert.ok(service.callsFor("capture", order) > 1, "the capture was asked again");
            assert.equal(
              service.processor.operations().filter((op) =>
                op.kind === "capture" && op.idempotencyKey.startsWith(`${order}:`)
              ).length,
              1,
              "with the same key: the processor captured once",
            );
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
          "a redelivered command writes nothing more; a new one for the order gets the same reply",
          async () => {
            const order = orderId();
            const payload = {
              orderId: order,
              paymentMethodId: await methodFor("4242424242424242"),
              amount: usd(450),
            };
            const first = await charge(payload);
            const reply = await replyTo(first);
            const before = await paymentRow(order);

            await charge(payload, first.id);
            await waitFor("the redelivery to be handled", () => service.timesHandled(first.id) === 2);
            assert.deepEqual(await paymentRow(order), before, "the payment was not touched, not even leased");
            assert.equal((await outboxOf(order)).length, 1, "no second reply was written");
            assert.equal(repliesTo(first).length, 1);

            const repeated = await charge(payload);
            const again = await replyTo(repeated);
            assert.deepEqual(again.payload, reply.payload);
            assert.equal(again.type, reply.type);
            assert.notEqual(again.id, reply.id, "the reply to another command");
            assert.deepEqual(
              (await outboxOf(order)).map((row) => [row.causation_id, row.id]),
              [[first.id, reply.id], [repeated.id, again.id]],
            );
            assert.equal(service.callsFor("authorize", order), 1);
            assert.equal(service.callsFor("capture", order), 1);
          },
        );

        await t.step(
          "duplicates, redelivered and new, some at once: one capture, each command answered once, alike",
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
              "every delivery handled and every command answered",
              () =>
                service.timesHandled(first.id) === 2 &&
                replies.filter((reply) => reply.correlationId === order).length === 5,
            );

            const answers = replies.filter((reply) => reply.correlationId === order);
            assert.ok(answers.every((reply) => reply.type === "payment.charged"));
            assert.equal(
              new Set(answers.map((reply) => JSON.stringify(reply.payload))).size,
              1,
              "the same answer",
            );
            assert.equal(redelivered.id, first.id);
            assert.equal(repliesTo(first).length, 1, "the first and its redelivery are answered once");
            for (const other of others) assert.equal(repliesTo(other).length, 1);
            assert.equal((await outboxOf(order)).length, 5);
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
              assert.equal(await recorded(command), false, "a refused command is not recorded");
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
