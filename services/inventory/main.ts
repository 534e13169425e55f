/**
 * The inventory service's process entry: configuration, database, migrations, the outbox relay,
 * message consumers, the expiry sweep, server, shutdown. `startInventory` is also how the all-in-one
 * start and the tests run it.
 */
import { type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import { describeError } from "@multishop/kit/log";
import type { MessageBus } from "@multishop/kit/messaging";
import { createInventoryApp } from "./app.ts";
import { type InventoryConfig, loadInventoryConfig } from "./config.ts";
import { consumeInventoryMessages } from "./events.ts";
import { createInventory } from "./inventory.ts";
import { createInventoryStore } from "./store/postgres.ts";
import { repeat } from "@multishop/kit/schedule";
import {
  openOutboxDatabase,
  type PostgresServiceRuntime,
  runPostgresService,
} from "@multishop/kit/service-main";

export interface InventoryRuntime extends PostgresServiceRuntime {
  /** Where checkout commands and catalog events come from and replies go (through the outbox). */
  bus: MessageBus;
  /** Defaults to identity's published keys (AUTH_JWKS_URL); tests sign their own tokens. */
  verifyToken?: TokenVerifier;
  /** The time reservations' deadlines are set and judged by; tests move it. */
  clock?: () => Date;
}

export async function startInventory(config: InventoryConfig, runtime: InventoryRuntime) {
  const { bus, logger } = runtime;
  const database = await openOutboxDatabase(runtime, {
    service: "inventory",
    folder: new URL("./migrations/", import.meta.url),
    inbox: true,
  });
  const { sql, relay } = database;
  const store = createInventoryStore(sql);
  const inventory = createInventory({
    sql,
    store,
    outbox: relay,
    clock: runtime.clock ?? (() => new Date()),
    reservationTtlSeconds: config.RESERVATION_TTL_SECONDS,
  });
  await consumeInventoryMessages(bus, inventory, logger);
  const sweep = repeat(config.RESERVATION_SWEEP_SECONDS * 1000, async () => {
    try {
      const released = await inventory.expire();
      if (released.length > 0) logger.info("expired reservations released", { orders: released.length });
    } catch (error) {
      logger.error("expiry sweep failed; what is still due is released at the next sweep", {
        nextSweepInSeconds: config.RESERVATION_SWEEP_SECONDS,
        ...describeError(error),
      });
    }
  });
  const app = createInventoryApp({
    inventory,
    verifyToken: runtime.verifyToken ?? verifierFromConfig(config),
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readiness: { postgres: store.ping, messaging: bus.ping },
  });
  return {
    app,
    store,
    inventory,
    /** The pool, for tests that read the tables themselves. */
    sql,
    async close() {
      await sweep.stop();
      await database.close();
    },
  };
}

if (import.meta.main) {
  await runPostgresService({
    name: "inventory",
    loadConfig: loadInventoryConfig,
    start: startInventory,
  });
}
