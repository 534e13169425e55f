/**
 * The basket's process entry: configuration, store, clients, event consumers, server, shutdown.
 * `startBasket` is also how the all-in-one start and the tests run it.
 */
import { type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import { couponValidationScope } from "@multishop/kit/contracts/discount";
import { runMain } from "@multishop/kit/config";
import { createLogger, type Logger } from "@multishop/kit/log";
import { type MessageBus, messagingFromConfig } from "@multishop/kit/messaging";
import { serveApp, shutdownOnSignal } from "@multishop/kit/serve";
import { serviceClientFromConfig } from "@multishop/kit/service-client";
import { createBasketApp } from "./app.ts";
import { createBasketService } from "./basket.ts";
import { catalogClient, discountClient } from "./clients.ts";
import { type BasketConfig, loadBasketConfig } from "./config.ts";
import { consumeBasketEvents } from "./events.ts";
import { createMemoryBasketStore } from "./store/memory.ts";
import { connectRedisBasketStore } from "./store/redis.ts";
import type { BasketStore } from "./store/types.ts";

export interface BasketRuntime {
  store: BasketStore;
  bus: MessageBus;
  logger: Logger;
  verifyToken?: TokenVerifier;
  clock?: () => Date;
}

/** Redis with REDIS_URL, else the in-process store. */
export async function basketStoreFromConfig(config: BasketConfig): Promise<BasketStore> {
  const ttlSeconds = config.BASKET_TTL_DAYS * 86_400;
  return config.REDIS_URL
    ? await connectRedisBasketStore(config.REDIS_URL, { ttlSeconds })
    : createMemoryBasketStore({ ttlSeconds });
}

export async function startBasket(config: BasketConfig, runtime: BasketRuntime) {
  const { store, bus, logger } = runtime;
  const service = serviceClientFromConfig(config, {
    scopes: ["catalog:read", couponValidationScope],
    logger,
  });
  const basket = createBasketService({
    store,
    catalog: catalogClient(service, config.CATALOG_URL),
    discounts: discountClient(service, config.DISCOUNT_URL),
    clock: runtime.clock ?? (() => new Date()),
    currency: config.CURRENCY,
    logger,
  });
  await consumeBasketEvents(bus, basket);
  const app = createBasketApp({
    basket,
    verifyToken: runtime.verifyToken ?? verifierFromConfig(config),
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readiness: { store: store.ping, messaging: bus.ping },
  });
  return { app, basket, store };
}

if (import.meta.main) {
  await runMain(async () => {
    const config = loadBasketConfig();
    const logger = createLogger("basket", config.LOG_LEVEL);
    const store = await basketStoreFromConfig(config);
    const bus = await messagingFromConfig(config, logger);
    const { app } = await startBasket(config, { store, bus, logger });
    const server = serveApp(app, { hostname: config.HOST, port: config.PORT });
    logger.info("basket listening", {
      url: server.url,
      store: config.REDIS_URL ? "REDIS_URL" : "in-process",
    });
    await shutdownOnSignal({
      servers: [server],
      closers: [() => bus.close(), () => store.close()],
      logger,
      timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    });
  });
}
