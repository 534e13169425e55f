/**
 * The services of the shop, configured to run side by side in one process (the all-in-one start
 * and the seed): each on its own port, sharing one message bus, verifying identity's tokens.
 */
import { createLogger } from "@multishop/kit/log";
import type { MessageBus } from "@multishop/kit/messaging";
import { loadCatalogConfig } from "../services/catalog/config.ts";
import { catalogStoreFromConfig, startCatalog } from "../services/catalog/main.ts";
import { imageCategories, seedCatalog } from "../services/catalog/seed.ts";
import { loadIdentityConfig } from "../services/identity/config.ts";
import { startIdentity } from "../services/identity/main.ts";
import { seedIdentity } from "../services/identity/seed.ts";
import { loadImagesConfig } from "../services/images/config.ts";
import { startImages } from "../services/images/main.ts";
import { seedDemoImages } from "../services/images/seed.ts";
import { startLocalEdge } from "../edge/local.ts";
import { type DemoCredentials, serviceDatabase, type ShopConfig, step } from "./shop.ts";

/** The edge's own variables that may be set in the environment (see edge/src/config.ts). */
const edgeVariableNames = ["CORS_ORIGINS", "RATE_LIMITS", "MAX_BODY_BYTES", "CACHE_ENABLED"];

function edgeVariables(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(edgeVariableNames.filter((name) => env[name]).map((name) => [name, env[name]]));
}

/** `env` holds the services' own variables (MONGO_URL, STORAGE_EMULATOR_HOST, ...). */
export async function startServices(
  config: ShopConfig,
  bus: MessageBus,
  credentials: DemoCredentials,
  env: Record<string, string> = Deno.env.toObject(),
) {
  const logger = (service: string) => createLogger(service, config.LOG_LEVEL);

  const identityDatabase = await step("identity database", () => serviceDatabase(config, "identity"));
  const identityConfig = loadIdentityConfig({
    ...env,
    PORT: String(config.IDENTITY_PORT),
    ISSUER: config.PUBLIC_URL,
    ADMIN_EMAIL: credentials.admin.email,
    ADMIN_PASSWORD: credentials.admin.password,
  });
  const identity = await step(
    "identity",
    () => startIdentity(identityConfig, { postgres: identityDatabase, logger: logger("identity") }),
  );

  // The other services verify tokens against the identity started above, fetching its keys directly.
  const auth = {
    AUTH_ISSUER: identityConfig.ISSUER,
    AUTH_JWKS_URL: `http://127.0.0.1:${config.IDENTITY_PORT}/.well-known/jwks.json`,
  };
  const imagesConfig = loadImagesConfig({
    ...env,
    ...auth,
    PORT: String(config.IMAGES_PORT),
    PUBLIC_URL: config.PUBLIC_URL,
  });
  const images = await step("images", () => startImages(imagesConfig, { logger: logger("images") }));

  const catalogConfig = loadCatalogConfig({ ...env, ...auth, PORT: String(config.CATALOG_PORT) });
  const catalogStore = await step("catalog store", () => catalogStoreFromConfig(catalogConfig));
  const catalog = await step(
    "catalog",
    () => startCatalog(catalogConfig, { store: catalogStore, events: bus, logger: logger("catalog") }),
  );

  return {
    identity: { ...identity, port: config.IDENTITY_PORT, database: identityDatabase.description },
    images: { ...images, port: config.IMAGES_PORT, where: images.store.description },
    catalog: {
      ...catalog,
      port: config.CATALOG_PORT,
      where: catalogConfig.MONGO_URL ? "MongoDB" : `in process, saved to ${config.DATA_DIR}/catalog.json`,
    },
    /** The edge in workerd, in front of the services on their loopback ports. */
    edge: () =>
      startLocalEdge({
        IDENTITY_URL: `http://127.0.0.1:${config.IDENTITY_PORT}`,
        CATALOG_URL: `http://127.0.0.1:${config.CATALOG_PORT}`,
        IMAGES_URL: `http://127.0.0.1:${config.IMAGES_PORT}`,
        TOKEN_ISSUER: config.PUBLIC_URL,
        ...edgeVariables(env),
      }, { port: config.EDGE_PORT, host: config.HOST }),
    /** Demo data; everything already there is left alone. */
    async seed() {
      const identityCreated = await step(
        "demo customer",
        () => seedIdentity(identity.store, credentials.customer.password),
      );
      const demoImages = await step(
        "demo images",
        () => seedDemoImages(images.store, imagesConfig.PUBLIC_URL, imageCategories),
      );
      const catalogResult = await step("demo catalog", () => seedCatalog(catalogStore, demoImages));
      return { identityCreated, catalog: catalogResult };
    },
    async close() {
      await catalogStore.close();
      await images.close();
      await identity.close();
      await identityDatabase.stop();
    },
  };
}
