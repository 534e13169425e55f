/**
 * The order service's process entry: configuration, database, migrations, the outbox relay, reply
 * consumers, the step-deadline sweep, server, shutdown. `startOrder` is also how the all-in-one start
 * and the tests run it.
 */
import { type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import { describeError } from "@multishop/kit/log";
import type { MessageBus } from "@multishop/kit/messaging";
import { serviceClientFromConfig } from "@multishop/kit/service-client";
import { createOrderApp } from "./app.ts";
import { basketClient, paymentClient } from "./clients.ts";
import { loadOrderConfig, type OrderConfig } from "./config.ts";
import { consumeOrderMessages } from "./events.ts";
import { createOrders } from "./orders.ts";
import { createOrderStore } from "./store/postgres.ts";
import { tokenizeScope } from "@multishop/kit/contracts/payment-methods";
import { repeat } from "@multishop/kit/schedule";
import {
  openOutboxDatabase,
  type PostgresServiceRuntime,
  runPostgresService,
} from "@multishop/kit/service-main";

export interface OrderRuntime extends PostgresServiceRuntime {
  /** Where checkout commands go and their replies come from. */
  bus: MessageBus;
  /** Defaults to identity's published keys (AUTH_JWKS_URL); tests sign their own tokens. */
  verifyToken?: TokenVerifier;
}

export async function startOrder(config: OrderConfig, runtime: OrderRuntime) {
  const { bus, logger } = runtime;
  const database = await openOutboxDatabase(runtime, {
    service: "order",
    folder: new URL("./migrations/", import.meta.url),
    inbox: true,
  });
  const { sql, relay } = database;
  const store = createOrderStore(sql);
  const service = serviceClientFromConfig(config, {
    scopes: [tokenizeScope],
    logger,
  });
  const orders = createOrders({
    sql,
    store,
    baskets: basketClient(config.BASKET_URL),
    paymentMethods: paymentClient(service, config.PAYMENT_URL),
    outbox: relay,
    logger,
    stepTimeoutSeconds: config.STEP_TIMEOUT_SECONDS,
  });
  await consumeOrderMessages(bus, orders);
  const resumed = await orders.resume();
  if (resumed > 0) logger.info("checkouts in flight resumed", { orders: resumed });
  const sweep = repeat(config.TIMEOUT_SWEEP_SECONDS * 1000, async () => {
    try {
      const failed = await orders.failOverdue();
      if (failed > 0) logger.warn("checkout steps timed out; orders cancelled", { orders: failed });
    } catch (error) {
      logger.error("timeout sweep failed; what is overdue is failed at the next sweep", describeError(error));
    }
  });
  const app = createOrderApp({
    orders,
    verifyToken: runtime.verifyToken ?? verifierFromConfig(config),
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readiness: { postgres: store.ping, messaging: bus.ping },
    eventStreamsPerUser: config.EVENT_STREAMS_PER_USER,
  });
  return {
    app,
    store,
    orders,
    async close() {
      await sweep.stop();
      await database.close();
    },
  };
}

if (import.meta.main) {
  await runPostgresService({
    name: "order",
    loadConfig: loadOrderConfig,
    start: startOrder,
  });
}
