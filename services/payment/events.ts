/**
 * What the payment service consumes and publishes: the checkout's `payment.charge` and `payment.refund`
 * commands, answered with `payment.charged`, `payment.failed` or `payment.refunded`. Every reply carries
 * the order id as correlation id and the command's id as causation id.
 */
import { paymentMessages } from "@multishop/kit/contracts/checkout";
import type { Envelope, MessageBus, PublishOptions } from "@multishop/kit/messaging";
import type { Payment } from "./domain.ts";
import type { Payments } from "./payments.ts";

export const paymentQueue = "payment";

/**
 * Handles the commands of the `payment` queue. Handling is idempotent (charge and refund are, per
 * order), and the reply is sent again for a repeated command, so a reply lost on the way is not lost
 * for good. A command the payment's state refuses (a refund of a payment never captured, a charge that
 * contradicts the order's first) throws: the bus retries it, which covers a refund overtaking its charge,
 * and dead-letters it after that, for a person to look at.
 *
 * Replies are published right after the payment's transaction commits. If the process stops in between,
 * the command was not acknowledged, so its redelivery answers then. The kit's outbox (in progress) will
 * have each reply written in that same transaction instead: the two `bus.publish` calls below move into
 * the store's transactions then.
 */
export async function consumePaymentMessages(bus: MessageBus, payments: Payments): Promise<void> {
  const reply = (command: Envelope, orderId: string): PublishOptions => ({
    correlationId: orderId,
    causationId: command.id,
  });

  await bus.subscribe(paymentQueue, ["payment.charge", "payment.refund"], async (command) => {
    switch (command.type) {
      case "payment.charge": {
        const charge = paymentMessages["payment.charge"].parse(command.payload);
        const payment = await payments.charge(charge);
        await publishChargeOutcome(bus, payment, reply(command, charge.orderId));
        return;
      }
      case "payment.refund": {
        const { orderId } = paymentMessages["payment.refund"].parse(command.payload);
        const payment = await payments.refund(orderId);
        await bus.publish(
          "payment.refunded",
          paymentMessages["payment.refunded"],
          { orderId, amount: payment.amount },
          reply(command, orderId),
        );
        return;
      }
    }
  });
}

/** A charge ends captured or failed; a payment refunded since was captured first, and says so again. */
async function publishChargeOutcome(bus: MessageBus, payment: Payment, options: PublishOptions) {
  const { orderId } = payment;
  if (payment.failure) {
    await bus.publish(
      "payment.failed",
      paymentMessages["payment.failed"],
      { orderId, ...payment.failure },
      options,
    );
    return;
  }
  await bus.publish(
    "payment.charged",
    paymentMessages["payment.charged"],
    { orderId, paymentId: payment.id, amount: payment.amount },
    options,
  );
}
