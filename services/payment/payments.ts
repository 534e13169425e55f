/**
 * The payment service's use cases: taking a card, charging an order and refunding it. The rules come
 * from domain.ts, the queries from store/, the money from the processor; this file puts them in order.
 *
 * Charge and refund are idempotent per order: the payment row records each step, one caller at a time
 * works on an order's payment (a lease on its row), and every processor call carries an idempotency key
 * derived from the order id, so a caller that resumes a step another left unfinished repeats it safely.
 *
 * No transaction is open while the processor is asked: its calls take seconds with their retries, and
 * the lease, not a row lock, keeps other callers out meanwhile. Once it has answered, the outcome is
 * written in one transaction, which a command's handler also records the command and its reply in.
 */
import type { Logger } from "@multishop/kit/log";
import type { Sql, TransactionSql } from "@multishop/kit/postgres";
import { ProblemError } from "@multishop/kit/problem";
import pRetry from "p-retry";
import type { CardInput } from "@multishop/kit/contracts/payment-methods";
import {
  type ChargeRequest,
  checkCard,
  type Payment,
  PaymentError,
  type PaymentMethod,
  sameCharge,
} from "./domain.ts";
import { type Authorization, type CardProcessor, TransientProcessorError } from "./processor.ts";
import { type LeasedPayment, type PaymentStore, UnknownPaymentMethodError } from "./store/postgres.ts";

export interface PaymentsDeps {
  sql: Sql;
  store: PaymentStore;
  processor: CardProcessor;
  logger: Logger;
  /** The time cards' expiry is judged at. */
  clock: () => Date;
  /** How often a transient processor failure is retried, and the wait before the first retry (doubling). */
  retries: number;
  retryDelayMs: number;
  /** How long one caller may work on a payment before another may take it over; see PAYMENT_LEASE_MS. */
  leaseMs: number;
}

/**
 * Commits a payment's outcome once the processor has answered: `write` records it in the transaction
 * it is given and answers the payment as it is then. Called directly, a use case commits it alone; a
 * command's handler commits it with the command's inbox record and reply, and not at all when the
 * command was handled meanwhile (events.ts).
 */
export type Commit = (write: (tx: TransactionSql) => Promise<Payment>) => Promise<void>;

/** How often a caller looks again while another works on the same payment. */
const leasePollMs = 25;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createPayments(deps: PaymentsDeps) {
  const { sql, store, processor, logger } = deps;

  const alone: Commit = async (write) => {
    await sql.begin(write);
  };

  /** Retries transient processor failures with growing, jittered waits; anything else fails at once. */
  function withRetries<T>(step: string, orderId: string, call: () => Promise<T>): Promise<T> {
    return pRetry(call, {
      retries: deps.retries,
      minTimeout: deps.retryDelayMs,
      factor: 2,
      randomize: true,
      shouldRetry: ({ error }) => error instanceof TransientProcessorError,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft, retryDelay }) => {
        if (error instanceof TransientProcessorError && retriesLeft > 0) {
          logger.warn("processor failed transiently; retrying", {
            step,
            orderId,
            attemptNumber,
            retryInMs: retryDelay,
            error: error.message,
          });
        }
      },
    });
  }

  /**
   * Runs `work` as the one caller working on the order's payment, waiting while another does. A lease
   * left by a caller that stopped runs out after `leaseMs`, and the next caller takes the work over.
   */
  async function exclusively(orderId: string, work: (leased: LeasedPayment) => Promise<Payment>) {
    for (;;) {
      const leased = await store.lease(orderId, deps.leaseMs);
      if (leased === "absent") throw new PaymentError("not_found", `order ${orderId} has no payment`);
      if (leased !== "busy") {
        try {
          return await work(leased);
        } finally {
          await store.release(orderId, leased.lease);
        }
      }
      await sleep(leasePollMs);
    }
  }

  async function current(orderId: string): Promise<Payment> {
    const payment = await store.find(orderId);
    if (!payment) throw new ProblemError({ status: 404, detail: `order ${orderId} has no payment` });
    return payment;
  }

  /** Commits the outcome `write` records, and answers the payment as it is then. */
  async function settle(
    orderId: string,
    commit: Commit,
    write: (tx: TransactionSql) => Promise<Payment>,
  ): Promise<Payment> {
    let settled: Payment | undefined;
    await commit(async (tx) => (settled = await write(tx)));
    // Unset when another delivery of the same command committed first: answer what that one left.
    return settled ?? await current(orderId);
  }

  /**
   * Asks the processor to hold the amount, and records the hold; a refusal, or a transient failure that
   * outlasts the retries, is the charge's outcome: the payment fails.
   */
  async function authorize({ payment, cardToken, lease }: LeasedPayment, commit: Commit): Promise<Payment> {
    const { orderId, amount } = payment;
    let authorization: Authorization | { status: "refused"; reason: "processing_error"; detail: string };
    try {
      authorization = await withRetries(
        "authorize",
        orderId,
        () => processor.authorize({ cardToken, amount, idempotencyKey: `${orderId}:authorize` }),
      );
    } catch (error) {
      if (!(error instanceof TransientProcessorError)) throw error;
      authorization = {
        status: "refused",
        reason: "processing_error",
        detail: `the processor could not process the card after ${1 + deps.retries} attempts`,
      };
    }
    if (authorization.status === "refused") {
      const { reason, detail } = authorization;
      const failed = await settle(
        orderId,
        commit,
        (tx) => store.markFailed(tx, orderId, lease, { reason, detail }),
      );
      logger.info("payment failed", {
        orderId,
        reason,
        brand: payment.card.brand,
        last4: payment.card.last4,
      });
      return failed;
    }
    return await store.markAuthorized(orderId, lease, authorization.reference);
  }

  /**
   * Takes the held amount. A transient failure that outlasts the retries is thrown with the payment left
   * authorised: the charge command is delivered again and resumes here.
   */
  async function capture(
    payment: Payment,
    reference: string,
    lease: string,
    commit: Commit,
  ): Promise<Payment> {
    const { orderId, amount } = payment;
    await withRetries(
      "capture",
      orderId,
      () => processor.capture({ reference, amount, idempotencyKey: `${orderId}:capture` }),
    );
    const captured = await settle(orderId, commit, (tx) => store.markCaptured(tx, orderId, lease));
    logger.info("payment captured", { orderId, amount: amount.amount, currency: amount.currency });
    return captured;
  }

  return {
    /**
     * Validates the card and hands it to the processor; stores what may be kept of it. The number and
     * CVC go nowhere else, not even into an error or a log line.
     */
    async tokenize(input: CardInput): Promise<PaymentMethod> {
      const checked = checkCard(input, deps.clock());
      if (!checked.valid) {
        throw new ProblemError({
          status: 400,
          kind: "validation",
          title: "Invalid request",
          detail: "the card cannot be used",
          errors: checked.errors,
        });
      }
      const { card } = checked;
      const method = await store.insertPaymentMethod({
        id: crypto.randomUUID(),
        brand: card.brand,
        last4: card.last4,
        expMonth: card.expMonth,
        expYear: card.expYear,
        holder: card.holder,
        processorToken: await processor.tokenize(card),
      });
      logger.info("payment method stored", { paymentMethodId: method.id, brand: method.brand });
      return method;
    },

    /**
     * Authorises and captures the amount, once per order: a repeated charge, even at the same time,
     * answers the payment as the first one left it (`captured`, or `failed` with the reason) and
     * charges nothing more. A payment refunded since answers `refunded`. A repeated charge commits
     * too, with nothing to change, so that a command's handler records it and writes its reply.
     */
    async charge(request: ChargeRequest, commit: Commit = alone): Promise<Payment> {
      try {
        await store.insertPending(request);
      } catch (error) {
        if (!(error instanceof UnknownPaymentMethodError)) throw error;
        throw new PaymentError("unknown_payment_method", error.message);
      }
      return await exclusively(request.orderId, async (leased) => {
        const { payment } = leased;
        if (!sameCharge(payment, request)) {
          throw new PaymentError(
            "mismatch",
            `order ${payment.orderId} was charged ${payment.amount.amount} ${payment.amount.currency} ` +
              `with payment method ${payment.paymentMethodId}; this charge asks for another`,
          );
        }
        if (payment.status !== "pending" && payment.status !== "authorized") {
          return await settle(payment.orderId, commit, () => Promise.resolve(payment));
        }
        const authorized = payment.status === "pending" ? await authorize(leased, commit) : payment;
        // An authorised payment always has the processor's reference (the table checks it).
        if (authorized.status !== "authorized" || authorized.processorReference === null) return authorized;
        return await capture(authorized, authorized.processorReference, leased.lease, commit);
      });
    },

    /**
     * Returns a captured payment's amount to the card, once: refunding again answers the refund made.
     * A payment that was not captured is refused (nothing was taken); one still being charged is
     * waited for. A repeated refund commits too, with nothing to change, like a repeated charge.
     */
    async refund(orderId: string, commit: Commit = alone): Promise<Payment> {
      return await exclusively(orderId, async ({ payment, lease }) => {
        if (payment.status === "refunded") {
          return await settle(orderId, commit, () => Promise.resolve(payment));
        }
        // A captured payment always has the processor's reference (the table checks it).
        if (payment.status !== "captured" || payment.processorReference === null) {
          throw new PaymentError(
            "not_captured",
            `order ${orderId}'s payment is ${payment.status}; nothing to refund`,
          );
        }
        const reference = payment.processorReference;
        const processorReference = await withRetries(
          "refund",
          orderId,
          () => processor.refund({ reference, amount: payment.amount, idempotencyKey: `${orderId}:refund` }),
        );
        const refunded = await settle(
          orderId,
          commit,
          (tx) => store.recordRefund(tx, orderId, lease, { amount: payment.amount, processorReference }),
        );
        logger.info("payment refunded", {
          orderId,
          amount: payment.amount.amount,
          currency: payment.amount.currency,
        });
        return refunded;
      });
    },

    payment: current,
  };
}

export type Payments = ReturnType<typeof createPayments>;
