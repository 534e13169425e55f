/**
 * The comment service's process entry: configuration, database, migrations, the outbox relay, the
 * order events' consumer, the catalog's client, server, shutdown. `startComment` is also how the all-in-one start and the
 * tests run it.
 */
import { type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import type { MessageBus } from "@multishop/kit/messaging";
import {
  openOutboxDatabase,
  type PostgresServiceRuntime,
  runPostgresService,
} from "@multishop/kit/service-main";
import { createPublicClient } from "@multishop/kit/service-client";
import { createCommentApp } from "./app.ts";
import { catalogClient } from "./clients.ts";
import { type CommentConfig, loadCommentConfig } from "./config.ts";
import { consumeCommentEvents } from "./events.ts";
import { createReviews } from "./reviews.ts";
import { createCommentStore } from "./store/postgres.ts";

export interface CommentRuntime extends PostgresServiceRuntime {
  /** Where the order events come from and the review events go. */
  bus: MessageBus;
  /** Defaults to identity's published keys (AUTH_JWKS_URL); tests sign their own tokens. */
  verifyToken?: TokenVerifier;
}

export async function startComment(config: CommentConfig, runtime: CommentRuntime) {
  const { bus, logger } = runtime;
  const database = await openOutboxDatabase(runtime, {
    service: "comment",
    folder: new URL("./migrations/", import.meta.url),
    inbox: true,
  });
  const { sql, relay } = database;
  const store = createCommentStore(sql);
  const reviews = createReviews({
    sql,
    store,
    // Reviews wait for this answer: a short timeout and one retry.
    catalog: catalogClient(createPublicClient({ logger, timeoutMs: 2_000, retries: 1 }), config.CATALOG_URL),
    outbox: relay,
    logger,
  });
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
      await database.close();
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
