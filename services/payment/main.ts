/**
 * The payment service's process entry: configuration, database, migrations, the outbox relay, card
 * processor, command consumers, server, shutdown. `startPayment` is also how the all-in-one start and
 * the tests run it.
 */
import { type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import {
  openOutboxDatabase,
  type PostgresServiceRuntime,
  runPostgresService,
} from "@multishop/kit/service-main";
import { createPaymentApp } from "./app.ts";
import { loadPaymentConfig, type PaymentConfig } from "./config.ts";
import { consumePaymentMessages } from "./events.ts";
import { createPayments } from "./payments.ts";
import { type CardProcessor, simulatedProcessor } from "./processor.ts";
import { createPaymentStore } from "./store/postgres.ts";

export interface PaymentRuntime extends PostgresServiceRuntime {
  /** Defaults to the simulated processor; a real provider's adapter goes here. */
  processor?: CardProcessor;
  /** Defaults to identity's published keys (AUTH_JWKS_URL); tests sign their own tokens. */
  verifyToken?: TokenVerifier;
  /** The time cards' expiry is judged at; tests move it. */
  clock?: () => Date;
}

export async function startPayment(config: PaymentConfig, runtime: PaymentRuntime) {
  const { logger, bus } = runtime;
  const database = await openOutboxDatabase(runtime, {
    service: "payment",
    folder: new URL("./migrations/", import.meta.url),
    inbox: true,
  });
  const { sql, relay } = database;
  const store = createPaymentStore(sql);
  const payments = createPayments({
    sql,
    store,
    processor: runtime.processor ?? simulatedProcessor(),
    logger,
    clock: runtime.clock ?? (() => new Date()),
    retries: config.PROCESSOR_RETRIES,
    retryDelayMs: config.PROCESSOR_RETRY_DELAY_MS,
    leaseMs: config.PAYMENT_LEASE_MS,
  });
  await consumePaymentMessages({ bus, sql, payments, outbox: relay });
  const app = createPaymentApp({
    payments,
    store,
    verifyToken: runtime.verifyToken ?? verifierFromConfig(config),
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readiness: { postgres: store.ping, messaging: bus.ping },
  });
  return {
    app,
    store,
    payments,
    /** The pool, for tests that read the tables themselves. */
    sql,
    async close() {
      await database.close();
    },
  };
}

if (import.meta.main) {
  await runPostgresService({
    name: "payment",
    loadConfig: loadPaymentConfig,
    start: startPayment,
    describe: { processor: "simulated" },
  });
}
