/**
 * Starts the comment service for a test against one PostgreSQL target, on the in-process bus or on
 * a real RabbitMQ (an exchange and queues of the test's own), with the review events it publishes
 * collected and helpers that send the order service's events as the order service does. The catalog
 * it asks about products is the real one, in process, holding the demo catalog.
 */
import { orderEvents, type orderStatus } from "@multishop/kit/contracts/orders";
import { createLogger } from "@multishop/kit/log";
import { createEnvelope, createInProcessBus, type Envelope } from "@multishop/kit/messaging";
import {
  call as callService,
  type CallOptions,
  type PostgresTarget,
  serveForTest,
  testRabbitMq,
  testTokenIssuer,
  waitFor,
} from "@multishop/kit/testing";
import type { z } from "zod";
import { loadCatalogConfig } from "../catalog/config.ts";
import { startCatalog } from "../catalog/main.ts";
import { seedCatalog } from "../catalog/seed.ts";
import { createMemoryCatalogStore } from "../catalog/store/memory.ts";
import { loadCommentConfig } from "./config.ts";
import { startComment } from "./main.ts";

/**
 * Several connections on a real server, so that concurrent submits really run at once there;
 * PGlite serves one connection, and its pool serialises them.
 */
const realPoolSize = 10;

const logger = createLogger("comment", "silent");

type OrderEvent = keyof typeof orderEvents;

/** `amqpUrl` runs the service on that RabbitMQ; without it, on the in-process bus. */
export async function startTestComment(target: PostgresTarget, options: { amqpUrl?: string } = {}) {
  const tokens = await testTokenIssuer();
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    const database = await target.open();
    closers.push(database.close);
    const bus = options.amqpUrl
      ? await testRabbitMq(options.amqpUrl, { logger })
      : createInProcessBus({ logger, retryDelaysMs: [5, 5] });
    closers.push(() => bus.close());
    const published: Envelope[] = [];
    await bus.subscribe("test-review-events", "comment.review.#", (envelope) => {
      published.push(envelope);
      return Promise.resolve();
    });
    const catalog = await startTestCatalog(tokens.verifyToken);
    closers.push(catalog.close);
    const poolSize = database.maxConnections > 1 ? realPoolSize : 1;
    const comment = await startComment(loadCommentConfig({ LOG_LEVEL: "silent", CATALOG_URL: catalog.url }), {
      postgres: { url: database.url, maxConnections: poolSize },
      bus,
      logger,
      verifyToken: tokens.verifyToken,
    });
    closers.push(comment.close);
    const server = serveForTest(comment.app);
    closers.push(server.close);

    /** Calls the service; `raw` sends a body as it is, `contentType` overrides application/json. */
    const call = (method: string, path: string, options: CallOptions = {}) =>
      callService(server.url, method, path, options);

    return {
      url: server.url,
      tokens,
      call,
      /** A product on sale (active) that no other call handed out: each test writes its own reviews. */
      newProductId: catalog.newProductId,
      /** A product of the catalog that is not on sale. */
      productIn: catalog.productIn,
      /** Stops the catalog: reviews cannot be checked while it is away. */
      stopCatalog: catalog.close,
      /** Every review event the service published, oldest first. */
      published,
      /** A customer's token, carrying `username` as identity's tokens do. */
      customer: (userId: string = crypto.randomUUID(), username = `shopper-${userId.slice(0, 8)}`) =>
        tokens.sign(userId, { roles: ["customer"], preferred_username: username }),
      admin: () =>
        tokens.sign(crypto.randomUUID(), { roles: ["customer", "admin"], preferred_username: "moderator" }),
      /** Publishes an order service event on the bus, as the order service does. */
      sendOrderEvent: <T extends OrderEvent>(type: T, payload: z.input<(typeof orderEvents)[T]>) =>
        bus.publish(type, orderEvents[type], payload, { correlationId: payload.orderId }),
      /**
       * Hands an order service event to the service's handler and waits until it is handled; the
       * same `id` twice is a redelivery. The order of deliveries is the test's.
       */
      handleOrderEvent<T extends OrderEvent>(
        type: T,
        payload: z.input<(typeof orderEvents)[T]>,
        id?: string,
      ) {
        const envelope = createEnvelope(type, payload, { id, correlationId: payload.orderId });
        return type === "order.confirmed"
          ? comment.reviews.orderConfirmed(envelope)
          : comment.reviews.orderStatusChanged(envelope);
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

export type TestComment = Awaited<ReturnType<typeof startTestComment>>;

/** `order.confirmed` for `userId`'s order of one of each of `productIds`, as the order service writes it. */
export function orderConfirmed(orderId: string, userId: string, productIds: string[]) {
  return {
    orderId,
    userId,
    lines: productIds.map((productId) => ({
      productId,
      name: "Linen shirt",
      unitPrice: { amount: 4_900, currency: "USD" },
      quantity: 1,
    })),
    address: {
      name: "Ada",
      surname: "Lovelace",
      email: "ada@example.com",
      phone: "+44 20 7946 0000",
      country: "United Kingdom",
      city: "London",
      district: "Marylebone",
      line1: "12 St James's Square",
      line2: null,
      zipCode: "SW1Y 4JH",
    },
    total: { amount: 4_900 * productIds.length, currency: "USD" },
  };
}

type OrderStatus = z.infer<typeof orderStatus>;

/** `order.status_changed` of `userId`'s order, from `previousStatus` to `status`. */
export function orderStatusChanged(
  orderId: string,
  userId: string,
  status: OrderStatus,
  previousStatus: OrderStatus | null,
) {
  return {
    orderId,
    userId,
    status,
    previousStatus,
    cancellationReason: status === "cancelled" ? "user_cancelled" : null,
  };
}

/** Waits for `check` to hold; the bus and the outbox relay deliver asynchronously. */
export const eventually = (what: string, check: () => boolean | Promise<boolean>) =>
  waitFor(what, check, 10_000);

/** A review body; `overrides` set or replace its fields. */
export const reviewBody = (overrides: Record<string, unknown> = {}) => ({
  rating: 4,
  title: "Warm and well made",
  text: "Wore it all winter.\nThe seams held up.",
  ...overrides,
});

/** The catalog with the demo catalog, served; answers for products come from it as in production. */
async function startTestCatalog(verifyToken: Parameters<typeof startCatalog>[1]["verifyToken"]) {
  const store = await createMemoryCatalogStore();
  await seedCatalog(store, { url: (slug, variant) => `http://images.test/${slug}-${variant}.png` });
  const events = createInProcessBus({ logger });
  const catalog = await startCatalog(loadCatalogConfig({ LOG_LEVEL: "silent" }), {
    store,
    events,
    logger,
    verifyToken,
  });
  const server = serveForTest(catalog.app);
  const onSale = (await store.products.list({ statuses: ["active"], sort: "newest", limit: 10_000 }))
    .map((product) => product.id);
  let stopped = false;
  return {
    url: server.url,
    newProductId(): string {
      const id = onSale.pop();
      if (!id) throw new Error("the demo catalog has no product on sale left for this test");
      return id;
    },
    async productIn(status: "draft" | "archived"): Promise<string> {
      const [product] = await store.products.list({ statuses: [status], sort: "newest", limit: 1 });
      return product.id;
    },
    async close() {
      if (stopped) return;
      stopped = true;
      await server.close();
      await catalog.close();
      await events.close();
      await store.close();
    },
  };
}
