/**
 * The comment service's process entry: configuration, database, migrations, the outbox relay, the
 * order events' consumer, server, shutdown. `startComment` is also how the all-in-one start and the
 * tests run it.
 */
import { type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import type { Logger } from "@multishop/kit/log";
import {
  inboxMigration,
  type MessageBus,
  outboxMigrations,
  startOutboxRelay,
} from "@multishop/kit/messaging";
import { openMigratedPostgres } from "@multishop/kit/migrate";
import { runPostgresService } from "@multishop/kit/service-main";
import { createCommentApp } from "./app.ts";
import { type CommentConfig, loadCommentConfig } from "./config.ts";
import { consumeCommentEvents } from "./events.ts";
import { createReviews } from "./reviews.ts";
import { createCommentStore } from "./store/postgres.ts";

export interface CommentRuntime {
  postgres: { url: string; maxConnections: number };
  /** Where the order events come from and the review events go. */
  bus: MessageBus;
  logger: Logger;
  /** Defaults to identity's published keys (AUTH_JWKS_URL); tests sign their own tokens. */
  verifyToken?: TokenVerifier;
}

export async function startComment(config: CommentConfig, runtime: CommentRuntime) {
  const { bus, logger } = runtime;
  const sql = await openMigratedPostgres(runtime.postgres, {
    service: "comment",
    folder: new URL("./migrations/", import.meta.url),
    extra: [...outboxMigrations, inboxMigration],
    logger,
  });
  const store = createCommentStore(sql);
  const relay = startOutboxRelay({ sql, publisher: bus, logger });
  const reviews = createReviews({ sql, store, outbox: relay, logger });
  await consumeCommentEvents(bus, reviews, logger);
  const app = createCommentApp({
    reviews,
    verifyToken: runtime.verifyToken ?? verifierFromConfig(config),
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readiness: { postgres: store.ping, messaging: bus.ping },
    cache: {
      maxAgeSeconds: config.COMMENT_CACHE_MAX_AGE_SECONDS,
      sharedMaxAgeSeconds: config.COMMENT_CACHE_SHARED_MAX_AGE_SECONDS,
    },
  });
  return {
    app,
    store,
    reviews,
    async close() {
      await relay.stop();
      await sql.end({ timeout: 5 });
    },
  };
}

if (import.meta.main) {
  await runPostgresService({
    name: "comment",
    loadConfig: loadCommentConfig,
    start: startComment,
  });
}
