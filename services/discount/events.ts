/**
 * The checkout's coupon commands, from the order service: reserve takes one use of the coupon for
 * the order and answers `discount.reserved` or `discount.rejected`; commit, release and return move
 * the use on and answer nothing (the contract has no reply for them; the order service does not wait).
 *
 * Each command is handled once, through the inbox: the redemption's change, the record that the
 * command was handled and its reply, written to the outbox, commit in one transaction; the outbox
 * relay publishes the reply after the commit and retries it until the broker takes it. A redelivered
 * command (an id the inbox holds) changes and writes nothing. A new command for an order handled
 * before (the order service repeats a step after a restart) changes nothing either, the redemption
 * being per order, and gets the reply the first one got, under an id of its own.
 */
import { discountMessages } from "@multishop/kit/contracts/checkout";
import { stableUuid } from "@multishop/kit/digest";
import { describeError, type Logger } from "@multishop/kit/log";
import { enqueue, type Envelope, handleOnce, type MessageBus } from "@multishop/kit/messaging";
import type { Sql, TransactionSql } from "@multishop/kit/postgres";
import type { Discount } from "./discount.ts";
import { RedemptionError } from "./domain.ts";

/** The queue the checkout's commands arrive on; the inbox records them per this name. */
export const discountQueue = "discount";

const consumedTypes = ["discount.reserve", "discount.commit", "discount.release", "discount.return"] as const;

/** Derived from the command's id, so that a command has one reply id however often it is delivered. */
const replyId = (command: Envelope) => stableUuid(`discount:reply:${command.id}`);

export interface DiscountMessaging {
  bus: MessageBus;
  sql: Sql;
  discount: Discount;
  /** Told after each commit that wrote a reply, so it goes out without waiting for the relay's poll. */
  outbox: { notify(): void };
  logger: Logger;
}

export async function consumeDiscountMessages({ bus, sql, discount, outbox, logger }: DiscountMessaging) {
  /** Applies the command in the inbox's transaction `tx`; answers whether it wrote a reply. */
  async function apply(tx: TransactionSql, envelope: Envelope): Promise<boolean> {
    switch (envelope.type) {
      case "discount.reserve": {
        const request = discountMessages["discount.reserve"].parse(envelope.payload);
        const { orderId } = request;
        const { result } = await discount.reserve(request, tx);
        const options = { id: await replyId(envelope), correlationId: orderId, causationId: envelope.id };
        if (result.valid) {
          await enqueue(
            tx,
            "discount.reserved",
            discountMessages["discount.reserved"],
            { orderId, discount: result.discount },
            options,
          );
        } else {
          await enqueue(
            tx,
            "discount.rejected",
            discountMessages["discount.rejected"],
            { orderId, reason: result.reason, detail: result.detail },
            options,
          );
        }
        return true;
      }
      case "discount.commit": {
        await discount.commit(discountMessages["discount.commit"].parse(envelope.payload).orderId, tx);
        return false;
      }
      case "discount.release": {
        await discount.release(discountMessages["discount.release"].parse(envelope.payload).orderId, tx);
        return false;
      }
      case "discount.return": {
        await discount.return(discountMessages["discount.return"].parse(envelope.payload).orderId, tx);
        return false;
      }
    }
    return false;
  }

  await bus.subscribe(discountQueue, [...consumedTypes], async (envelope) => {
    const fields = { type: envelope.type, messageId: envelope.id, correlationId: envelope.correlationId };
    let replied = false;
    try {
      const handled = await handleOnce(sql, discountQueue, envelope, async (tx) => {
        replied = await apply(tx, envelope);
      });
      if (replied) outbox.notify();
      logger.debug(handled ? "message handled" : "message handled before; skipped", fields);
    } catch (error) {
      if (!(error instanceof RedemptionError)) throw error;
      // The redemption's state refuses the step (a stale or buggy command, such as releasing a use a
      // confirmed order committed). Trying again cannot change that, so the message is not retried;
      // its transaction, which changed nothing, is rolled back.
      logger.error("checkout command refused", { ...fields, kind: error.kind, ...describeError(error) });
    }
  });
}
