/**
 * The cargo service's process entry: configuration, database, migrations, the outbox relay, order
 * event consumers, server, shutdown. `startCargo` is also how the all-in-one start and the tests run it.
 */
import { type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import type { MessageBus } from "@multishop/kit/messaging";
import {
  openOutboxDatabase,
  type PostgresServiceRuntime,
  runPostgresService,
} from "@multishop/kit/service-main";
import { createCargoApp } from "./app.ts";
import { createCargo } from "./cargo.ts";
import { type CargoConfig, loadCargoConfig } from "./config.ts";
import { consumeCargoMessages } from "./events.ts";
import { createCargoStore } from "./store/postgres.ts";

export interface CargoRuntime extends PostgresServiceRuntime {
  /** Where order events come from and shipment events go. */
  bus: MessageBus;
  /** Defaults to identity's published keys (AUTH_JWKS_URL); tests sign their own tokens. */
  verifyToken?: TokenVerifier;
  /** Defaults to random codes; tests force a clash. */
  trackingCode?: () => string;
}

export async function startCargo(config: CargoConfig, runtime: CargoRuntime) {
  const { bus, logger } = runtime;
  const database = await openOutboxDatabase(runtime, {
    service: "cargo",
    folder: new URL("./migrations/", import.meta.url),
    inbox: true,
  });
  const { sql, relay } = database;
  const store = createCargoStore(sql);
  const cargo = createCargo({
    sql,
    store,
    outbox: relay,
    logger,
    sender: {
      name: config.CARGO_SENDER_NAME,
      phone: config.CARGO_SENDER_PHONE,
      email: config.CARGO_SENDER_EMAIL,
      country: config.CARGO_SENDER_COUNTRY,
      city: config.CARGO_SENDER_CITY,
      district: config.CARGO_SENDER_DISTRICT,
      line1: config.CARGO_SENDER_LINE1,
      zipCode: config.CARGO_SENDER_ZIP_CODE,
    },
    defaultCarrier: config.CARGO_DEFAULT_CARRIER,
    trackingCode: runtime.trackingCode,
  });
  await consumeCargoMessages(bus, cargo);
  const app = createCargoApp({
    cargo,
    verifyToken: runtime.verifyToken ?? verifierFromConfig(config),
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readiness: { postgres: store.ping, messaging: bus.ping },
  });
  return {
    app,
    store,
    cargo,
    async close() {
      await database.close();
    },
  };
}

if (import.meta.main) {
  await runPostgresService({
    name: "cargo",
    loadConfig: loadCargoConfig,
    start: startCargo,
  });
}
