/**
 * Starts the payment service for a test against one PostgreSQL target, with an in-process bus, a log the
 * test can read, a clock it can set, the simulated processor behind a spy that counts its calls, and a
 * switch that makes the broker refuse what the service publishes.
 */
import { createInProcessBus, type MessageBus } from "@multishop/kit/messaging";
import { memoryLogger } from "@multishop/kit/log";
import { type PostgresTarget, serveForTest, testTokenIssuer } from "@multishop/kit/testing";
import { loadPaymentConfig } from "./config.ts";
import type { CardInput } from "@multishop/kit/contracts/payment-methods";
import type { Money } from "@multishop/kit/contracts/money";
import { startPayment } from "./main.ts";
import { type SimulatedProcessor, simulatedProcessor } from "./processor.ts";

/**
 * Several connections on a real server, so that concurrent charges really run at once there;
 * PGlite serves one connection, and its pool serialises them.
 */
const realPoolSize = 10;

export interface ProcessorCall {
  method: "tokenize" | "authorize" | "capture" | "refund";
  idempotencyKey?: string;
}

/** The processor with every call recorded, so a test can tell how often the service asked it. */
function spyOn(processor: SimulatedProcessor) {
  const calls: ProcessorCall[] = [];
  const spied: SimulatedProcessor = {
    tokenize(card) {
      calls.push({ method: "tokenize" });
      return processor.tokenize(card);
    },
    authorize(request) {
      calls.push({ method: "authorize", idempotencyKey: request.idempotencyKey });
      return processor.authorize(request);
    },
    capture(request) {
      calls.push({ method: "capture", idempotencyKey: request.idempotencyKey });
      return processor.capture(request);
    },
    refund(request) {
      calls.push({ method: "refund", idempotencyKey: request.idempotencyKey });
      return processor.refund(request);
    },
    operations: () => processor.operations(),
  };
  return { spied, calls };
}

export async function startTestPayment(target: PostgresTarget, env: Record<string, string> = {}) {
  const tokens = await testTokenIssuer();
  const logger = memoryLogger("payment");
  // Short waits, so retries take milliseconds rather than seconds.
  const bus = createInProcessBus({ logger, retryDelaysMs: [10, 20, 40] });
  const { spied: processor, calls } = spyOn(simulatedProcessor());
  let fixedNow: Date | undefined;
  let brokerDown = false;
  /** How many times the service finished handling each message id, a failed try included. */
  const handled = new Map<string, number>();
  // The test publishes commands on `bus` itself; only the service's own publishes meet the outage.
  const serviceBus: MessageBus = {
    publish: (type, schema, payload, options) =>
      brokerDown
        ? Promise.reject(new Error("the broker is unreachable"))
        : bus.publish(type, schema, payload, options),
    subscribe: (queue, pattern, handler) =>
      bus.subscribe(queue, pattern, async (envelope) => {
        try {
          await handler(envelope);
        } finally {
          handled.set(envelope.id, (handled.get(envelope.id) ?? 0) + 1);
        }
      }),
    ping: () => bus.ping(),
    close: () => bus.close(),
  };
  const database = await target.open();
  try {
    const poolSize = database.maxConnections > 1 ? realPoolSize : 1;
    const payment = await startPayment(
      loadPaymentConfig({ LOG_LEVEL: "debug", PROCESSOR_RETRY_DELAY_MS: "5", ...env }),
      {
        postgres: { url: database.url, maxConnections: poolSize },
        bus: serviceBus,
        logger,
        processor,
        verifyToken: tokens.verifyToken,
        clock: () => fixedNow ?? new Date(),
      },
    );
    const server = serveForTest(payment.app);
    return {
      url: server.url,
      tokens,
      database,
      poolSize,
      bus,
      logger,
      processor,
      /** Every processor call so far, oldest first. */
      calls,
      /** How often the service called `method` for the order. */
      callsFor: (method: ProcessorCall["method"], orderId: string) =>
        calls.filter((call) => call.method === method && call.idempotencyKey?.startsWith(`${orderId}:`))
          .length,
      payments: payment.payments,
      store: payment.store,
      sql: payment.sql,
      /** How many times the service finished handling the message, a failed try included. */
      timesHandled: (messageId: string) => handled.get(messageId) ?? 0,
      /** While down, the broker refuses every event the service publishes. */
      setBrokerDown(down: boolean) {
        brokerDown = down;
      },
      /** Fixes the service's clock at `at`; without it, the clock follows real time again. */
      setClock(at?: Date) {
        fixedNow = at;
      },
      async close() {
        await server.close();
        await bus.close();
        await payment.close();
        await database.close();
      },
    };
  } catch (error) {
    await bus.close();
    await database.close();
    throw error;
  }
}

export type TestPayment = Awaited<ReturnType<typeof startTestPayment>>;

/** A card that expires a few years from now; `overrides` set or replace its fields. */
export function card(cardNumber: string, overrides: Partial<CardInput> = {}): CardInput {
  return {
    cardNumber,
    expMonth: 12,
    expYear: new Date().getUTCFullYear() + 3,
    cvc: "123",
    holder: "Ada Lovelace",
    ...overrides,
  };
}

export const orderId = () => `order-${crypto.randomUUID()}`;

export const usd = (amount: number): Money => ({ amount, currency: "USD" });
