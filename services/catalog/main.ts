/**
 * The catalog's process entry: configuration, store, messaging (the relay that publishes the
 * events stored with each change), server, shutdown. `startCatalog` is also how the all-in-one
 * start and the tests run it; its `close` stops the relay.
 */
import { type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import { runMain } from "@multishop/kit/config";
import { createLogger, type Logger } from "@multishop/kit/log";
import { type EventPublisher, messagingFromConfig } from "@multishop/kit/messaging";
import { serveApp, shutdownOnSignal } from "@multishop/kit/serve";
import { createCatalogApp } from "./app.ts";
import { createCatalog } from "./catalog.ts";
import { type CatalogConfig, loadCatalogConfig } from "./config.ts";
import { startCatalogEventRelay } from "./events.ts";
import { createMemoryCatalogStore } from "./store/memory.ts";
import { connectMongoCatalogStore } from "./store/mongo.ts";
import type { CatalogStore } from "./store/types.ts";

export interface CatalogRuntime {
  store: CatalogStore;
  events: EventPublisher;
  logger: Logger;
  verifyToken?: TokenVerifier;
  clock?: () => Date;
}

/** The store the configuration asks for: MongoDB with MONGO_URL, else in process with a snapshot file. */
export async function catalogStoreFromConfig(config: CatalogConfig): Promise<CatalogStore> {
  if (config.MONGO_URL) return await connectMongoCatalogStore(config.MONGO_URL, config.MONGO_DATABASE);
  await Deno.mkdir(config.DATA_DIR, { recursive: true });
  return await createMemoryCatalogStore({ snapshotFile: `${config.DATA_DIR}/catalog.json` });
}

export async function startCatalog(config: CatalogConfig, runtime: CatalogRuntime) {
  const { store, events, logger } = runtime;
  const clock = runtime.clock ?? (() => new Date());
  await store.prepare();
  // Started at once: it publishes what a crashed or stopped instance left pending.
  const relay = startCatalogEventRelay(store, events, logger);
  const catalog = createCatalog({ store, eventsWritten: relay.notify, clock, currency: config.CURRENCY });
  const app = createCatalogApp({
    catalog,
    store,
    verifyToken: runtime.verifyToken ?? verifierFromConfig(config),
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readiness: { store: store.ping, messaging: events.ping },
    cache: {
      maxAgeSeconds: config.CACHE_MAX_AGE_SECONDS,
      sharedMaxAgeSeconds: config.CACHE_SHARED_MAX_AGE_SECONDS,
    },
    clock,
  });
  return {
    app,
    catalog,
    store,
    /** Stops the relay; the store and the publisher belong to the caller. */
    close: () => relay.stop(),
  };
}

if (import.meta.main) {
  await runMain(async () => {
    const config = loadCatalogConfig();
    const logger = createLogger("catalog", config.LOG_LEVEL);
    const store = await catalogStoreFromConfig(config);
    const events = await messagingFromConfig(config, logger);
    const catalog = await startCatalog(config, { store, events, logger });
    const server = serveApp(catalog.app, { hostname: config.HOST, port: config.PORT });
    logger.info("catalog listening", {
      url: server.url,
      store: config.MONGO_URL ? "MONGO_URL" : "in-process",
    });
    await shutdownOnSignal({
      servers: [server],
      closers: [catalog.close, () => events.close(), () => store.close()],
      logger,
      timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    });
  });
}
