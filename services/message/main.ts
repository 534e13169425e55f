/**
 * The message service's process entry: configuration, database, migrations, the outbox relay, server,
 * shutdown. `startMessage` is also how the all-in-one start and the tests run it.
 */
import { type TokenVerifier, userReadScope, verifierFromConfig } from "@multishop/kit/auth";
import type { MessageBus } from "@multishop/kit/messaging";
import { serviceClientFromConfig } from "@multishop/kit/service-client";
import {
  openOutboxDatabase,
  type PostgresServiceRuntime,
  runPostgresService,
} from "@multishop/kit/service-main";
import { createMessageApp } from "./app.ts";
import { identityClient } from "./clients.ts";
import { loadMessageConfig, type MessageConfig } from "./config.ts";
import { createMessages } from "./messages.ts";
import { createMessageStore } from "./store/postgres.ts";

export interface MessageRuntime extends PostgresServiceRuntime {
  /** Where `message.sent` and `message.read` go. */
  bus: MessageBus;
  /** Defaults to identity's published keys (AUTH_JWKS_URL); tests sign their own tokens. */
  verifyToken?: TokenVerifier;
}

export async function startMessage(config: MessageConfig, runtime: MessageRuntime) {
  const { bus, logger } = runtime;
  const database = await openOutboxDatabase(runtime, {
    service: "message",
    folder: new URL("./migrations/", import.meta.url),
    inbox: false,
  });
  const { sql, relay } = database;
  const store = createMessageStore(sql);
  const service = serviceClientFromConfig(config, {
    scopes: [userReadScope],
    logger,
  });
  const messages = createMessages({
    sql,
    store,
    users: identityClient(service, config.IDENTITY_URL),
    outbox: relay,
    logger,
  });
  const app = createMessageApp({
    messages,
    verifyToken: runtime.verifyToken ?? verifierFromConfig(config),
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readiness: { postgres: store.ping, messaging: bus.ping },
  });
  return {
    app,
    store,
    messages,
    sql,
    async close() {
      await database.close();
    },
  };
}

if (import.meta.main) {
  await runPostgresService({
    name: "message",
    loadConfig: loadMessageConfig,
    start: startMessage,
  });
}
