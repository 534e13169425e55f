/**
 * The services of the shop, configured to run side by side in one process (the all-in-one start
 * and the seed): each on its own port, sharing one message bus, verifying identity's tokens.
 */
import { createLogger } from "@multishop/kit/log";
import { type RunningServer, serveApp } from "@multishop/kit/serve";
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
import { edgeVariables } from "../edge/src/config.ts";
import { loadBasketConfig } from "../services/basket/config.ts";
import { basketStoreFromConfig, startBasket } from "../services/basket/main.ts";
import { loadDiscountConfig } from "../services/discount/config.ts";
import { startDiscount } from "../services/discount/main.ts";
import { seedCoupons } from "../services/discount/seed.ts";
import { loadInventoryConfig } from "../services/inventory/config.ts";
import { startInventory } from "../services/inventory/main.ts";
import { seedStock } from "../services/inventory/seed.ts";
import { loadOrderConfig } from "../services/order/config.ts";
import { startOrder } from "../services/order/main.ts";
import { loadPaymentConfig } from "../services/payment/config.ts";
import { startPayment } from "../services/payment/main.ts";
import { loadCargoConfig } from "../services/cargo/config.ts";
import { startCargo } from "../services/cargo/main.ts";
import { seedCarriers } from "../services/cargo/seed.ts";
import { loadCommentConfig } from "../services/comment/config.ts";
import { startComment } from "../services/comment/main.ts";
import { loadDashboardConfig } from "../services/dashboard/config.ts";
import { startDashboard } from "../services/dashboard/main.ts";
import { loadMessageConfig } from "../services/message/config.ts";
import { startMessage } from "../services/message/main.ts";
import {
  type DemoCredentials,
  type ServiceClientName,
  serviceClientScopes,
  serviceDatabase,
  type ShopConfig,
  step,
} from "./shop.ts";

/** The edge's variables set in the environment (edge/src/config.ts); `start` sets the upstreams itself. */
function edgeSettings(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(edgeVariables.shape).filter((name) => env[name]).map((name) => [name, env[name]]),
  );
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
  const serviceClients = (Object.keys(serviceClientScopes) as ServiceClientName[]).map((id) => ({
    id,
    secret: credentials.clientSecrets[id],
    scopes: serviceClientScopes[id],
  }));
  /** The variables with which a service gets tokens of its own client at identity. */
  const clientOf = (id: ServiceClientName) => ({
    SERVICE_TOKEN_URL: `http://127.0.0.1:${config.IDENTITY_PORT}/oauth/token`,
    SERVICE_CLIENT_ID: id,
    SERVICE_CLIENT_SECRET: credentials.clientSecrets[id],
  });
  const identityConfig = loadIdentityConfig({
    // The data folder's key, unless the environment names the one an existing database was sealed with.
    SIGNING_KEY_ENCRYPTION_KEY: credentials.signingKeyEncryptionKey,
    ...env,
    PORT: String(config.IDENTITY_PORT),
    ISSUER: config.PUBLIC_URL,
    SERVICE_CLIENTS: JSON.stringify(serviceClients),
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

  const discountDatabase = await step("discount database", () => serviceDatabase(config, "discount"));
  const discountConfig = loadDiscountConfig({ ...env, ...auth, PORT: String(config.DISCOUNT_PORT) });
  const discount = await step(
    "discount",
    () => startDiscount(discountConfig, { postgres: discountDatabase, bus, logger: logger("discount") }),
  );

  const basketConfig = loadBasketConfig({
    ...env,
    ...auth,
    PORT: String(config.BASKET_PORT),
    CATALOG_URL: `http://127.0.0.1:${config.CATALOG_PORT}`,
    DISCOUNT_URL: `http://127.0.0.1:${config.DISCOUNT_PORT}`,
    ...clientOf("basket"),
  });
  const inventoryDatabase = await step("inventory database", () => serviceDatabase(config, "inventory"));
  const inventoryConfig = loadInventoryConfig({ ...env, ...auth, PORT: String(config.INVENTORY_PORT) });
  const inventory = await step(
    "inventory",
    () => startInventory(inventoryConfig, { postgres: inventoryDatabase, bus, logger: logger("inventory") }),
  );

  const paymentDatabase = await step("payment database", () => serviceDatabase(config, "payment"));
  const paymentConfig = loadPaymentConfig({ ...env, ...auth, PORT: String(config.PAYMENT_PORT) });
  const payment = await step(
    "payment",
    () => startPayment(paymentConfig, { postgres: paymentDatabase, bus, logger: logger("payment") }),
  );

  const orderDatabase = await step("order database", () => serviceDatabase(config, "order"));
  const orderConfig = loadOrderConfig({
    ...env,
    ...auth,
    PORT: String(config.ORDER_PORT),
    BASKET_URL: `http://127.0.0.1:${config.BASKET_PORT}`,
    PAYMENT_URL: `http://127.0.0.1:${config.PAYMENT_PORT}`,
    ...clientOf("order"),
  });
  const order = await step(
    "order",
    () => startOrder(orderConfig, { postgres: orderDatabase, bus, logger: logger("order") }),
  );

  const cargoDatabase = await step("cargo database", () => serviceDatabase(config, "cargo"));
  const cargoConfig = loadCargoConfig({ ...env, ...auth, PORT: String(config.CARGO_PORT) });
  const cargo = await step(
    "cargo",
    () => startCargo(cargoConfig, { postgres: cargoDatabase, bus, logger: logger("cargo") }),
  );

  const commentDatabase = await step("comment database", () => serviceDatabase(config, "comment"));
  const commentConfig = loadCommentConfig({
    ...env,
    ...auth,
    PORT: String(config.COMMENT_PORT),
    CATALOG_URL: `http://127.0.0.1:${config.CATALOG_PORT}`,
  });
  const comment = await step(
    "comment",
    () => startComment(commentConfig, { postgres: commentDatabase, bus, logger: logger("comment") }),
  );

  const messageDatabase = await step("message database", () => serviceDatabase(config, "message"));
  const messageConfig = loadMessageConfig({
    ...env,
    ...auth,
    PORT: String(config.MESSAGE_PORT),
    IDENTITY_URL: `http://127.0.0.1:${config.IDENTITY_PORT}`,
    ...clientOf("message"),
  });
  const message = await step(
    "message",
    () => startMessage(messageConfig, { postgres: messageDatabase, bus, logger: logger("message") }),
  );

  const dashboardConfig = loadDashboardConfig({
    ...env,
    ...auth,
    PORT: String(config.DASHBOARD_PORT),
    IDENTITY_URL: `http://127.0.0.1:${config.IDENTITY_PORT}`,
    CATALOG_URL: `http://127.0.0.1:${config.CATALOG_PORT}`,
    ORDER_URL: `http://127.0.0.1:${config.ORDER_PORT}`,
    COMMENT_URL: `http://127.0.0.1:${config.COMMENT_PORT}`,
    MESSAGE_URL: `http://127.0.0.1:${config.MESSAGE_PORT}`,
    ...clientOf("dashboard"),
  });
  const dashboard = await step(
    "dashboard",
    () => startDashboard(dashboardConfig, { bus, logger: logger("dashboard") }),
  );

  const basketStore = await step("basket store", () => basketStoreFromConfig(basketConfig));
  const basket = await step(
    "basket",
    () => startBasket(basketConfig, { store: basketStore, bus, logger: logger("basket") }),
  );

  const running = {
    identity: { ...identity, port: config.IDENTITY_PORT, database: identityDatabase.description },
    discount: { ...discount, port: config.DISCOUNT_PORT, database: discountDatabase.description },
    basket: { ...basket, port: config.BASKET_PORT, where: basketConfig.REDIS_URL ? "Redis" : "in process" },
    inventory: { ...inventory, port: config.INVENTORY_PORT, database: inventoryDatabase.description },
    payment: { ...payment, port: config.PAYMENT_PORT, database: paymentDatabase.description },
    order: { ...order, port: config.ORDER_PORT, database: orderDatabase.description },
    cargo: { ...cargo, port: config.CARGO_PORT, database: cargoDatabase.description },
    comment: { ...comment, port: config.COMMENT_PORT, database: commentDatabase.description },
    message: { ...message, port: config.MESSAGE_PORT, database: messageDatabase.description },
    dashboard: {
      ...dashboard,
      port: config.DASHBOARD_PORT,
      where: "figures in memory, read from the services",
    },
    images: { ...images, port: config.IMAGES_PORT, where: images.store.description },
    catalog: {
      ...catalog,
      port: config.CATALOG_PORT,
      where: catalogConfig.MONGO_URL ? "MongoDB" : `in process, saved to ${config.DATA_DIR}/catalog.json`,
    },
  };

  return {
    ...running,
    /** Every service on its own port; the record's keys name them. */
    serve(hostname: string): Record<keyof typeof running, RunningServer> {
      const entries = Object.entries(running).map(([name, service]) =>
        [name, serveApp(service.app, { hostname, port: service.port })] as const
      );
      return Object.fromEntries(entries) as Record<keyof typeof running, RunningServer>;
    },
    /** The edge in workerd, in front of the services on their loopback ports. */
    edge: () =>
      startLocalEdge({
        ...edgeSettings(env),
        IDENTITY_URL: `http://127.0.0.1:${config.IDENTITY_PORT}`,
        CATALOG_URL: `http://127.0.0.1:${config.CATALOG_PORT}`,
        IMAGES_URL: `http://127.0.0.1:${config.IMAGES_PORT}`,
        BASKET_URL: `http://127.0.0.1:${config.BASKET_PORT}`,
        DISCOUNT_URL: `http://127.0.0.1:${config.DISCOUNT_PORT}`,
        INVENTORY_URL: `http://127.0.0.1:${config.INVENTORY_PORT}`,
        PAYMENT_URL: `http://127.0.0.1:${config.PAYMENT_PORT}`,
        ORDER_URL: `http://127.0.0.1:${config.ORDER_PORT}`,
        CARGO_URL: `http://127.0.0.1:${config.CARGO_PORT}`,
        COMMENT_URL: `http://127.0.0.1:${config.COMMENT_PORT}`,
        MESSAGE_URL: `http://127.0.0.1:${config.MESSAGE_PORT}`,
        DASHBOARD_URL: `http://127.0.0.1:${config.DASHBOARD_PORT}`,
        TOKEN_ISSUER: config.PUBLIC_URL,
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
      const coupons = await step("demo coupons", () => seedCoupons(discount.store));
      await step("demo carriers", () => seedCarriers(cargo.store));
      await step("demo stock", async () => {
        const products = await catalogStore.products.list({
          statuses: ["draft", "active", "archived"],
          sort: "newest",
          limit: 10_000,
        });
        return await seedStock(inventory.store, products);
      });
      return { identityCreated, catalog: catalogResult, coupons };
    },
    async close() {
      await dashboard.close();
      await message.close();
      await messageDatabase.stop();
      await cargo.close();
      await cargoDatabase.stop();
      await comment.close();
      await commentDatabase.stop();
      await order.close();
      await orderDatabase.stop();
      await basketStore.close();
      await payment.close();
      await paymentDatabase.stop();
      await inventory.close();
      await inventoryDatabase.stop();
      await discount.close();
      await discountDatabase.stop();
      await catalog.close();
      await catalogStore.close();
      await images.close();
      await identity.close();
      await identityDatabase.stop();
    },
  };
}
