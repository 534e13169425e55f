/**
 * The dashboard's process entry: configuration, the figures' sources, event consumers, the scheduled
 * refresh, server, shutdown. `startDashboard` is also how the all-in-one start and the tests run it.
 */
import { statsReadScope, type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import { runMain } from "@multishop/kit/config";
import { createLogger, type Logger } from "@multishop/kit/log";
import { type MessageBus, messagingFromConfig } from "@multishop/kit/messaging";
import { repeat } from "@multishop/kit/schedule";
import { serveApp, shutdownOnSignal } from "@multishop/kit/serve";
import { serviceClientFromConfig } from "@multishop/kit/service-client";
import { createDashboardApp } from "./app.ts";
import { figureSources } from "./clients.ts";
import { type DashboardConfig, loadDashboardConfig } from "./config.ts";
import { createDashboard } from "./dashboard.ts";
import { consumeDashboardEvents } from "./events.ts";

export interface DashboardRuntime {
  /** Where the events that change the figures come from. */
  bus: MessageBus;
  logger: Logger;
  /** Defaults to identity's published keys (AUTH_JWKS_URL); tests sign their own tokens. */
  verifyToken?: TokenVerifier;
  /** How long an event stream stays silent before a keep-alive comment; 15 s unless a test shortens it. */
  heartbeatMs?: number;
}

export async function startDashboard(config: DashboardConfig, runtime: DashboardRuntime) {
  const { bus, logger } = runtime;
  const service = serviceClientFromConfig(config, {
    scopes: [statsReadScope],
    logger,
    // A figure read late is worth less than the next read: a source that is slow or down is shown
    // unavailable soon, and the next event or scheduled refresh tries again.
    timeoutMs: 2_000,
    retries: 1,
  });
  const dashboard = createDashboard({
    sources: figureSources(service, {
      identity: config.IDENTITY_URL,
      catalog: config.CATALOG_URL,
      order: config.ORDER_URL,
      comment: config.COMMENT_URL,
      message: config.MESSAGE_URL,
    }),
    logger,
    clock: () => new Date(),
  });
  await consumeDashboardEvents(bus, dashboard);
  // Every request reads every source anew; between them, the figures matter only to open streams.
  const schedule = repeat(
    config.DASHBOARD_REFRESH_SECONDS * 1000,
    () => dashboard.watching() > 0 ? dashboard.refreshAll() : Promise.resolve(),
  );
  const app = createDashboardApp({
    dashboard,
    heartbeatMs: runtime.heartbeatMs,
    eventStreamsPerUser: config.EVENT_STREAMS_PER_USER,
    verifyToken: runtime.verifyToken ?? verifierFromConfig(config),
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readiness: { messaging: bus.ping },
  });
  return {
    app,
    dashboard,
    /**
     * Ends the event streams still open, stops the scheduled refresh and waits for the reads in
     * flight. (On a signal the streams have ended already: they end on the kit's shuttingDown.)
     */
    async close() {
      await Promise.all([dashboard.close(), schedule.stop()]);
    },
  };
}

if (import.meta.main) {
  await runMain(async () => {
    const config = loadDashboardConfig();
    const logger = createLogger("dashboard", config.LOG_LEVEL);
    const bus = await messagingFromConfig(config, logger);
    const dashboard = await startDashboard(config, { bus, logger });
    const server = serveApp(dashboard.app, { hostname: config.HOST, port: config.PORT });
    logger.info("dashboard listening", { url: server.url });
    await shutdownOnSignal({
      servers: [server],
      closers: [() => bus.close(), dashboard.close],
      logger,
      timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    });
  });
}
