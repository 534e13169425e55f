/**
 * The discount service's process entry: configuration, database, migrations, the outbox relay and
 * the checkout's command consumer (with a bus), server, shutdown. `startDiscount` is also how the
 * all-in-one start and the tests run it.
 */
import { type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import type { Logger } from "@multishop/kit/log";
import {
  inboxMigration,
  type MessageBus,
  outboxMigrations,
  type OutboxRelay,
  startOutboxRelay,
} from "@multishop/kit/messaging";
import { openMigratedPostgres } from "@multishop/kit/migrate";
import { runPostgresService } from "@multishop/kit/service-main";
import { createDiscountApp } from "./app.ts";
import { type DiscountConfig, loadDiscountConfig } from "./config.ts";
import { createDiscount } from "./discount.ts";
import { consumeDiscountMessages } from "./events.ts";
import { createDiscountStore } from "./store/postgres.ts";

export interface DiscountRuntime {
  postgres: { url: string; maxConnections: number };
  logger: Logger;
  /** Where the checkout's coupon commands come from and replies go; without it, none are taken. */
  bus?: MessageBus;
  /** Defaults to identity's published keys (AUTH_JWKS_URL); tests sign their own tokens. */
  verifyToken?: TokenVerifier;
  /** The time coupons' validity is judged at; tests move it. */
  clock?: () => Date;
}

export async function startDiscount(config: DiscountConfig, runtime: DiscountRuntime) {
  const { logger } = runtime;
  const sql = await openMigratedPostgres(runtime.postgres, {
    service: "discount",
    folder: new URL("./migrations/", import.meta.url),
    extra: [...outboxMigrations, inboxMigration],
    logger,
  });
  const store = createDiscountStore(sql);
  const discount = createDiscount({
    store,
    currency: config.CURRENCY,
    clock: runtime.clock ?? (() => new Date()),
  });
  let relay: OutboxRelay | undefined;
  if (runtime.bus) {
    relay = startOutboxRelay({ sql, publisher: runtime.bus, logger });
    await consumeDiscountMessages({ bus: runtime.bus, sql, discount, outbox: relay, logger });
  }
  const app = createDiscountApp({
    discount,
    store,
    currency: config.CURRENCY,
    verifyToken: runtime.verifyToken ?? verifierFromConfig(config),
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readiness: { postgres: store.ping, ...(runtime.bus ? { messaging: runtime.bus.ping } : {}) },
  });
  return {
    app,
    store,
    discount,
    async close() {
      await relay?.stop();
      await sql.end({ timeout: 5 });
    },
  };
}

if (import.meta.main) {
  await runPostgresService({
    name: "discount",
    loadConfig: loadDiscountConfig,
    start: startDiscount,
  });
}
