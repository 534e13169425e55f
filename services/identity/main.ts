/**
 * Identity's process entry: configuration, database, migrations, bootstrap, server, shutdown.
 * `startIdentity` is also how the all-in-one start and the tests run it.
 */
import { tokenVerifier } from "@multishop/kit/auth";
import { runMain } from "@multishop/kit/config";
import { postgresFromConfig } from "@multishop/kit/embedded-postgres";
import { createLogger, describeError, type Logger } from "@multishop/kit/log";
import { openMigratedPostgres } from "@multishop/kit/migrate";
import { repeat } from "@multishop/kit/schedule";
import { serveApp, shutdownOnSignal } from "@multishop/kit/serve";
import { createIdentityApp } from "./app.ts";
import { bootstrapIdentity } from "./bootstrap.ts";
import { type IdentityConfig, loadIdentityConfig } from "./config.ts";
import { createIdentity } from "./identity.ts";
import { failuresForgottenAfterSeconds } from "./domain/sign_in_throttle.ts";
import { createKeyRing, importSealingKey } from "./keys.ts";
import { createIdentityStore } from "./store/postgres.ts";

export interface IdentityRuntime {
  postgres: { url: string; maxConnections: number };
  logger: Logger;
  clock?: () => Date;
}

const rotationCheckMs = 60 * 60_000;
const signInFailureSweepMs = 60 * 60_000;

export async function startIdentity(config: IdentityConfig, runtime: IdentityRuntime) {
  const { logger } = runtime;
  const clock = runtime.clock ?? (() => new Date());
  const sql = await openMigratedPostgres(runtime.postgres, {
    service: "identity",
    folder: new URL("./migrations/", import.meta.url),
    logger,
  });
  const store = createIdentityStore(sql);
  const tokens = {
    issuer: config.ISSUER,
    audience: config.TOKEN_AUDIENCE,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
  };
  const keys = createKeyRing(store, {
    sealingKey: await importSealingKey(config.SIGNING_KEY_ENCRYPTION_KEY),
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    rotationDays: config.SIGNING_KEY_ROTATION_DAYS,
    activationDelaySeconds: config.SIGNING_KEY_ACTIVATION_SECONDS,
    clock,
    logger,
  });
  // A start refused here (a wrong SIGNING_KEY_ENCRYPTION_KEY) leaves no pool behind.
  try {
    await keys.openStoredKeys();
    await keys.ensureCurrent();
  } catch (error) {
    await sql.end({ timeout: 5 });
    throw error;
  }
  await bootstrapIdentity(store, config, logger);
  const verifyToken = tokenVerifier({
    keys: keys.verificationKeys,
    issuer: tokens.issuer,
    audience: tokens.audience,
    clock,
  });
  const signInThrottle = {
    lockoutAfterFailures: config.SIGN_IN_LOCKOUT_AFTER_FAILURES,
    firstLockoutSeconds: config.SIGN_IN_FIRST_LOCKOUT_SECONDS,
    maxLockoutSeconds: config.SIGN_IN_MAX_LOCKOUT_SECONDS,
  };
  const identity = createIdentity({ store, keys, tokens, signInThrottle, clock, logger, verifyToken });
  const app = createIdentityApp({
    identity,
    store,
    keys,
    tokens,
    verifyToken,
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readiness: { postgres: store.ping },
  });
  const rotation = repeat(
    rotationCheckMs,
    () =>
      keys.ensureCurrent().catch((error) =>
        logger.error("signing key rotation failed", describeError(error))
      ),
  );
  // Names tried once and never again (unknown ones above all) would otherwise pile up.
  const signInFailureSweep = repeat(
    signInFailureSweepMs,
    () =>
      store.forgetSignInFailuresBefore(new Date(clock().getTime() - failuresForgottenAfterSeconds * 1000))
        .catch((error) => logger.error("forgetting old sign-in failures failed", describeError(error))),
  );
  return {
    app,
    store,
    keys,
    async close() {
      // A rotation or sweep under way finishes before the pool closes.
      await Promise.all([rotation.stop(), signInFailureSweep.stop()]);
      await sql.end({ timeout: 5 });
    },
  };
}

if (import.meta.main) {
  await runMain(async () => {
    const config = loadIdentityConfig();
    const logger = createLogger("identity", config.LOG_LEVEL);
    const postgres = await postgresFromConfig(config, "identity");
    const identity = await startIdentity(config, { postgres, logger });
    const server = serveApp(identity.app, { hostname: config.HOST, port: config.PORT });
    logger.info("identity listening", { url: server.url, postgres: postgres.description });
    await shutdownOnSignal({
      servers: [server],
      closers: [identity.close, postgres.stop],
      logger,
      timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    });
  });
}
