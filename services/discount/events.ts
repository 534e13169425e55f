/**
 * The checkout's coupon commands, from the order service: reserve takes one use of the coupon for
 * the order and answers `discount.reserved` or `discount.rejected`; commit, release and return move
 * the use on and answer nothing (the contract has no reply for them; the order service does not wait).
 *
 * Every step is idempotent per order id (the redemption row), so a redelivered command changes
 * nothing and answers what the first one did. Replies are published once the redemption's
 * transaction has committed; if publishing fails, the handler fails and the bus delivers the command
 * again, which publishes the same reply.
 */
import { discountMessages } from "@multishop/kit/contracts/checkout";
import { stableUuid } from "@multishop/kit/digest";
import { describeError, type Logger } from "@multishop/kit/log";
import type { Envelope, MessageBus } from "@multishop/kit/messaging";
import type { Discount } from "./discount.ts";
import { RedemptionError } from "./domain.ts";

export const discountQueue = "discount";

const consumedTypes = ["discount.reserve", "discount.commit", "discount.release", "discount.return"] as const;

/** Derived from the command's id, so a redelivered command's reply has the first reply's id. */
const replyId = (command: Envelope) => stableUuid(`discount:reply:${command.id}`);

export async function consumeDiscountMessages(bus: MessageBus, discount: Discount, logger: Logger) {
  async function handle(envelope: Envelope): Promise<void> {
    switch (envelope.type) {
      case "discount.reserve": {
        const request = discountMessages["discount.reserve"].parse(envelope.payload);
        const { orderId } = request;
        const { result } = await discount.reserve(request);
        const options = { id: await replyId(envelope), correlationId: orderId, causationId: envelope.id };
        if (result.valid) {
          await bus.publish(
            "discount.reserved",
            discountMessages["discount.reserved"],
            { orderId, discount: result.discount },
            options,
          );
        } else {
          await bus.publish(
            "discount.rejected",
            discountMessages["discount.rejected"],
            { orderId, reason: result.reason, detail: result.detail },
            options,
          );
        }
        return;
      }
      case "discount.commit": {
        await discount.commit(discountMessages["discount.commit"].parse(envelope.payload).orderId);
        return;
      }
      case "discount.release": {
        await discount.release(discountMessages["discount.release"].parse(envelope.payload).orderId);
        return;
      }
      case "discount.return": {
        await discount.return(discountMessages["discount.return"].parse(envelope.payload).orderId);
        return;
      }
    }
  }

  await bus.subscribe(discountQueue, [...consumedTypes], async (envelope) => {
    const fields = { type: envelope.type, messageId: envelope.id, correlationId: envelope.correlationId };
    try {
      await handle(envelope);
      logger.debug("message handled", fields);
    } catch (error) {
      if (!(error instanceof RedemptionError)) throw error;
      // The redemption's state refuses the step (a stale or buggy command, such as releasing a use a
      // confirmed order committed). Trying again cannot change that, so the message is not retried.
      logger.error("checkout command refused", { ...fields, kind: error.kind, ...describeError(error) });
    }
  });
}
