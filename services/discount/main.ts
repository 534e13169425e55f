/**
 * The discount service's process entry: configuration, database, migrations, server, shutdown.
 * `startDiscount` is also how the all-in-one start and the tests run it.
 */
import { type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import type { Logger } from "@multishop/kit/log";
import type { MessageBus } from "@multishop/kit/messaging";
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
    logger,
  });
  const store = createDiscountStore(sql);
  const discount = createDiscount({
    store,
    currency: config.CURRENCY,
    clock: runtime.clock ?? (() => new Date()),
  });
  if (runtime.bus) await consumeDiscountMessages(runtime.bus, discount, logger);
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
    close: () => sql.end({ timeout: 5 }),
  };
}

if (import.meta.main) {
  await runPostgresService({
    name: "discount",
    loadConfig: loadDiscountConfig,
    start: startDiscount,
  });
}
