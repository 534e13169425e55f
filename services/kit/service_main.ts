/**
 * The process entry every service on PostgreSQL shares when it runs alone (`deno run -A
 * services/<name>/main.ts`, a container): configuration, its database, the message bus, the service,
 * its server, and a graceful shutdown on SIGINT or SIGTERM.
 */
import type { App } from "./app.ts";
import { runMain } from "./config.ts";
import { postgresFromConfig } from "./embedded_postgres.ts";
import { createLogger, type LogFields, type Logger, type LogLevel } from "./log.ts";
import {
  inboxMigration,
  type MessageBus,
  messagingFromConfig,
  outboxMigrations,
  type OutboxRelay,
  startOutboxRelay,
} from "./messaging/mod.ts";
import { openMigratedPostgres } from "./migrate.ts";
import type { Sql } from "./postgres.ts";
import { serveApp, shutdownOnSignal } from "./serve.ts";

/** What the entry reads from a service's configuration (commonEnv, postgresEnv, messagingEnv, PORT). */
export interface PostgresServiceConfig {
  HOST: string;
  PORT: number;
  LOG_LEVEL: LogLevel;
  SHUTDOWN_TIMEOUT_MS: number;
  DATA_DIR: string;
  POSTGRES_URL?: string;
  POSTGRES_POOL_MAX: number;
  AMQP_URL?: string;
}

export interface PostgresServiceRuntime {
  postgres: { url: string; maxConnections: number };
  bus: MessageBus;
  logger: Logger;
}

/** A service's database with the kit's messaging tables, and the relay publishing its outbox. */
export interface OutboxDatabase {
  sql: Sql;
  relay: OutboxRelay;
  /** Stops the relay, then closes the pool. */
  close(): Promise<void>;
}

/**
 * Opens the service's database, migrated with its own migrations (`folder`) and the kit's outbox
 * tables, and the inbox's when the service handles consumed messages once; then starts the relay
 * that publishes the outbox to the runtime's bus.
 */
export async function openOutboxDatabase(
  runtime: PostgresServiceRuntime,
  options: { service: string; folder: URL; inbox: boolean },
): Promise<OutboxDatabase> {
  const { bus, logger } = runtime;
  const sql = await openMigratedPostgres(runtime.postgres, {
    service: options.service,
    folder: options.folder,
    extra: [...outboxMigrations, ...(options.inbox ? [inboxMigration] : [])],
    logger,
  });
  const relay = startOutboxRelay({ sql, publisher: bus, logger });
  return {
    sql,
    relay,
    async close() {
      await relay.stop();
      await sql.end({ timeout: 5 });
    },
  };
}

export function runPostgresService<Config extends PostgresServiceConfig>(service: {
  name: string;
  loadConfig: () => Config;
  start: (
    config: Config,
    runtime: PostgresServiceRuntime,
  ) => Promise<{ app: App; close(): Promise<unknown> }>;
  /** More for the start-up line to say. */
  describe?: LogFields;
}): Promise<void> {
  return runMain(async () => {
    const config = service.loadConfig();
    const logger = createLogger(service.name, config.LOG_LEVEL);
    const postgres = await postgresFromConfig(config, service.name);
    const bus = await messagingFromConfig(config, logger);
    const running = await service.start(config, { postgres, bus, logger });
    const server = serveApp(running.app, { hostname: config.HOST, port: config.PORT });
    logger.info(`${service.name} listening`, {
      url: server.url,
      postgres: postgres.description,
      messaging: config.AMQP_URL ? "RabbitMQ" : "in process",
      ...service.describe,
    });
    await shutdownOnSignal({
      servers: [server],
      // The bus first: no message is handled once the database is going, and events the outbox has
      // not relayed yet stay in it for the next start.
      closers: [() => bus.close(), running.close, postgres.stop],
      logger,
      timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    });
  });
}
