/**
 * What the payment service consumes and publishes: the checkout's `payment.charge` and `payment.refund`
 * commands, answered with `payment.charged`, `payment.failed` or `payment.refunded`. Every reply carries
 * the order id as correlation id and the command's id as causation id.
 *
 * Each command's outcome, its inbox record and its reply are written in one transaction (handleOnce,
 * with the reply enqueued in the outbox), after the processor has answered; the outbox relay publishes
 * the reply. A command handled before is skipped and writes nothing. A new command for an order handled
 * before (the order service repeats a step's command after a restart) gets the reply the first one got.
 */
import { paymentMessages } from "@multishop/kit/contracts/checkout";
import { stableUuid } from "@multishop/kit/digest";
import {
  enqueue,
  type EnqueueOptions,
  type Envelope,
  handleOnce,
  type MessageBus,
  type OutboxRelay,
  wasHandled,
} from "@multishop/kit/messaging";
import type { Sql, TransactionSql } from "@multishop/kit/postgres";
import type { Payment } from "./domain.ts";
import type { Commit, Payments } from "./payments.ts";

export const paymentQueue = "payment";

export interface PaymentMessaging {
  bus: MessageBus;
  sql: Sql;
  payments: Payments;
  outbox: Pick<OutboxRelay, "notify">;
}

/**
 * Handles the commands of the `payment` queue. A command the payment's state refuses (a refund of a
 * payment never captured, a charge that contradicts the order's first) throws and records nothing: the
 * bus retries it, which covers a refund overtaking its charge, and dead-letters it after that, for a
 * person to look at.
 */
export async function consumePaymentMessages(
  { bus, sql, payments, outbox }: PaymentMessaging,
): Promise<void> {
  /**
   * Commits the outcome with the command's inbox record and the reply `answer` writes for it. The
   * reply's id is derived from the command's, so that the reply to one command has one id however
   * often it is written, and the order service's inbox drops a copy.
   */
  const replying = (
    command: Envelope,
    answer: (tx: TransactionSql, payment: Payment, options: EnqueueOptions) => Promise<unknown>,
  ): Commit =>
  async (write) => {
    const id = await stableUuid(`payment:reply:${command.id}`);
    const handled = await handleOnce(sql, paymentQueue, command, async (tx) => {
      const payment = await write(tx);
      await answer(tx, payment, { id, correlationId: payment.orderId, causationId: command.id });
    });
    if (handled) outbox.notify();
  };

  await bus.subscribe(paymentQueue, ["payment.charge", "payment.refund"], async (command) => {
    // A redelivery need not take the payment's lease or wait for it.
    if (await wasHandled(sql, paymentQueue, command.id)) return;
    switch (command.type) {
      case "payment.charge": {
        const charge = paymentMessages["payment.charge"].parse(command.payload);
        await payments.charge(charge, replying(command, enqueueChargeOutcome));
        return;
      }
      case "payment.refund": {
        const { orderId } = paymentMessages["payment.refund"].parse(command.payload);
        await payments.refund(orderId, replying(command, enqueueRefunded));
        return;
      }
    }
  });
}

/** A charge ends captured or failed; a payment refunded since was captured first, and says so again. */
function enqueueChargeOutcome(tx: TransactionSql, payment: Payment, options: EnqueueOptions) {
  const { orderId } = payment;
  if (payment.failure) {
    return enqueue(tx, "payment.failed", paymentMessages["payment.failed"], {
      orderId,
      ...payment.failure,
    }, options);
  }
  return enqueue(tx, "payment.charged", paymentMessages["payment.charged"], {
    orderId,
    paymentId: payment.id,
    amount: payment.amount,
  }, options);
}

function enqueueRefunded(tx: TransactionSql, payment: Payment, options: EnqueueOptions) {
  return enqueue(tx, "payment.refunded", paymentMessages["payment.refunded"], {
    orderId: payment.orderId,
    amount: payment.amount,
  }, options);
}
