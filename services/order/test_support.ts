/**
 * The checkout in one process, for the order service's tests: catalog (memory store), basket
 * (in-process store), inventory, payment, discount and order (each on its own database of one
 * PostgreSQL target), on one message bus, with the kit's test token issuer and a stand-in for
 * identity's token endpoint. The order service can be stopped and started again on its database.
 */
import assert from "node:assert/strict";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus, type Handler, type MessageBus } from "@multishop/kit/messaging";
import {
  call as callService,
  type PostgresTarget,
  serveForTest,
  testRabbitMq,
  testTokenIssuer,
} from "@multishop/kit/testing";
import { loadBasketConfig } from "../basket/config.ts";
import { startBasket } from "../basket/main.ts";
import { createMemoryBasketStore } from "../basket/store/memory.ts";
import { loadCatalogConfig } from "../catalog/config.ts";
import { startCatalog } from "../catalog/main.ts";
import { seedCatalog } from "../catalog/seed.ts";
import { createMemoryCatalogStore } from "../catalog/store/memory.ts";
import { loadDiscountConfig } from "../discount/config.ts";
import { startDiscount } from "../discount/main.ts";
import { loadInventoryConfig } from "../inventory/config.ts";
import { startInventory } from "../inventory/main.ts";
import { loadPaymentConfig } from "../payment/config.ts";
import { startPayment } from "../payment/main.ts";
import { loadOrderConfig } from "./config.ts";
import { startOrder } from "./main.ts";

const logger = createLogger("test", "silent");

/** Several connections on a real server, so that concurrent checkouts really run at once there. */
const realPoolSize = 10;

type Tokens = Awaited<ReturnType<typeof testTokenIssuer>>;

/** Stands in for identity's token endpoint: the basket's and the order's clients get their scopes. */
function tokenEndpoint(tokens: Tokens) {
  const clients: Record<string, string[]> = {
    [`Basic ${btoa("basket:basket-test-secret")}`]: ["catalog:read", "discount:validate"],
    [`Basic ${btoa("order:order-test-secret")}`]: ["payment:tokenize"],
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    await request.body?.cancel();
    const authorization = request.headers.get("authorization") ?? "";
    const scopes = clients[authorization];
    if (!scopes) return Response.json({ error: "invalid_client" }, { status: 401 });
    const clientId = atob(authorization.slice("Basic ".length)).split(":")[0];
    const token = await tokens.client(clientId, scopes);
    return Response.json({ access_token: token, token_type: "Bearer", expires_in: 600 });
  });
  return { url: `http://127.0.0.1:${server.addr.port}/oauth/token`, close: () => server.shutdown() };
}

/**
 * The bus as one order service instance sees it. A reply that arrives while no instance is running
 * waits for the next one, as it would wait in its queue on a broker, and a reply an instance was
 * handling when it stopped goes to the next instance.
 */
function orderInstanceBus(bus: MessageBus) {
  let current: Handler | undefined;
  let attached = Promise.withResolvers<void>();
  let subscribed = false;
  let shutDown = false;
  const deliver: Handler = async (envelope) => {
    for (;;) {
      while (!current) {
        // The test is over: the reply is dropped, or the bus's close would wait for it forever.
        if (shutDown) return;
        await attached.promise;
      }
      const handler = current;
      try {
        return await handler(envelope);
      } catch (error) {
        if (handler === current) throw error;
      }
    }
  };
  return {
    bus: {
      publish: bus.publish.bind(bus),
      ping: bus.ping.bind(bus),
      close: () => Promise.resolve(),
      async subscribe(queue: string, pattern: string | string[], handler: Handler) {
        current = handler;
        attached.resolve();
        if (subscribed) return;
        subscribed = true;
        await bus.subscribe(queue, pattern, deliver);
      },
    } satisfies MessageBus,
    detach() {
      current = undefined;
      attached = Promise.withResolvers<void>();
    },
    /** Lets replies still waiting for an instance go, once no instance will start again. */
    shutDown() {
      shutDown = true;
      attached.resolve();
    },
  };
}

/** Runs before a message is published; answering "drop" loses the message. */
export type PublishHook = (type: string, payload: Record<string, unknown>) => Promise<"drop" | void>;

/**
 * A bus wrapper with a hook the test sets and clears as it goes (`hooks.before`), to hold a message
 * back, drop it, or act just before it goes out.
 */
export function hookable() {
  const hooks: { before?: PublishHook } = {};
  const wrap = (bus: MessageBus): MessageBus => ({
    publish: async (type, schema, payload, options) => {
      if (await hooks.before?.(type, payload as Record<string, unknown>) === "drop") {
        return { id: "dropped", type, occurredAt: new Date().toISOString(), correlationId: "", payload };
      }
      return await bus.publish(type, schema, payload, options);
    },
    subscribe: bus.subscribe.bind(bus),
    ping: bus.ping.bind(bus),
    close: bus.close.bind(bus),
  });
  return { hooks, wrap };
}

/** Every message published twice with one id: the at-least-once delivery consumers must survive. */
export function duplicatingBus(bus: MessageBus): MessageBus {
  return {
    ...bus,
    publish: async (type, schema, payload, options = {}) => {
      const id = options.id ?? crypto.randomUUID();
      await bus.publish(type, schema, payload, { ...options, id });
      return await bus.publish(type, schema, payload, { ...options, id });
    },
    subscribe: bus.subscribe.bind(bus),
    ping: bus.ping.bind(bus),
    close: bus.close.bind(bus),
  };
}

export interface CheckoutOptions {
  target: PostgresTarget;
  /** A real broker's URL; the in-process bus without it. */
  amqpUrl?: string;
  /** Changes the bus every service sees (duplicatingBus). */
  wrapBus?: (bus: MessageBus) => MessageBus;
  /** Order service configuration. */
  orderEnv?: Record<string, string>;
  /** Inventory service configuration. */
  inventoryEnv?: Record<string, string>;
}

export async function startCheckout(options: CheckoutOptions) {
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    const tokens = await testTokenIssuer();
    const baseBus = options.amqpUrl
      ? await testRabbitMq(options.amqpUrl, { logger })
      : createInProcessBus({ logger, retryDelaysMs: [10, 50, 200] });
    closers.push(() => baseBus.close());
    const bus = options.wrapBus ? options.wrapBus(baseBus) : baseBus;
    const identity = tokenEndpoint(tokens);
    closers.push(identity.close);

    const database = async () => {
      const opened = await options.target.open();
      closers.push(opened.close);
      return { url: opened.url, maxConnections: opened.maxConnections > 1 ? realPoolSize : 1 };
    };
    const serve = (app: Parameters<typeof serveForTest>[0]) => {
      const server = serveForTest(app);
      closers.push(server.close);
      return server.url;
    };

    const catalogStore = await createMemoryCatalogStore();
    await seedCatalog(catalogStore, { url: (slug, variant) => `http://images.test/${slug}-${variant}.png` });
    const catalog = await startCatalog(loadCatalogConfig({ LOG_LEVEL: "silent" }), {
      store: catalogStore,
      events: bus,
      logger,
      verifyToken: tokens.verifyToken,
    });
    closers.push(catalog.close);
    const catalogUrl = serve(catalog.app);

    const inventory = await startInventory(
      loadInventoryConfig({ LOG_LEVEL: "silent", ...options.inventoryEnv }),
      {
        postgres: await database(),
        bus,
        logger,
        verifyToken: tokens.verifyToken,
      },
    );
    closers.push(inventory.close);

    const payment = await startPayment(
      loadPaymentConfig({ LOG_LEVEL: "silent", PROCESSOR_RETRY_DELAY_MS: "5" }),
      {
        postgres: await database(),
        bus,
        logger,
        verifyToken: tokens.verifyToken,
      },
    );
    closers.push(payment.close);
    const paymentUrl = serve(payment.app);

    const discount = await startDiscount(loadDiscountConfig({ LOG_LEVEL: "silent" }), {
      postgres: await database(),
      bus,
      logger,
      verifyToken: tokens.verifyToken,
    });
    closers.push(discount.close);
    const discountUrl = serve(discount.app);

    const basketStore = createMemoryBasketStore({ ttlSeconds: 3600 });
    closers.push(() => basketStore.close());
    const basket = await startBasket(
      loadBasketConfig({
        LOG_LEVEL: "silent",
        CATALOG_URL: catalogUrl,
        DISCOUNT_URL: discountUrl,
        SERVICE_TOKEN_URL: identity.url,
        SERVICE_CLIENT_SECRET: "basket-test-secret",
      }),
      { store: basketStore, bus, logger, verifyToken: tokens.verifyToken },
    );
    const basketUrl = serve(basket.app);

    const orderDb = await database();
    const orderConfig = loadOrderConfig({
      LOG_LEVEL: "silent",
      BASKET_URL: basketUrl,
      PAYMENT_URL: paymentUrl,
      SERVICE_TOKEN_URL: identity.url,
      SERVICE_CLIENT_SECRET: "order-test-secret",
      TIMEOUT_SWEEP_SECONDS: "1",
      ...options.orderEnv,
    });
    const instanceBus = orderInstanceBus(bus);
    const startInstance = async () => {
      const order = await startOrder(orderConfig, {
        postgres: orderDb,
        bus: instanceBus.bus,
        logger,
        verifyToken: tokens.verifyToken,
      });
      const server = serveForTest(order.app);
      return { order, server };
    };
    let instance: Awaited<ReturnType<typeof startInstance>> | undefined = await startInstance();
    const stopOrder = async () => {
      if (!instance) return;
      const stopping = instance;
      instance = undefined;
      instanceBus.detach();
      await stopping.server.close();
      await stopping.order.close();
    };
    closers.push(() => Promise.resolve(instanceBus.shutDown()), stopOrder);

    const products = await catalogStore.products.list({ statuses: ["active"], sort: "price_asc", limit: 20 });

    /** Calls the order service (or another service's `base`) as `token`. */
    const call = (
      token: string | undefined,
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
      base = "order",
    ) => {
      const bases: Record<string, string> = { order: instance!.server.url, basket: basketUrl };
      return callService(bases[base], method, path, { token, body, headers });
    };

    return {
      tokens,
      bus,
      products,
      inventory: inventory.inventory,
      payments: payment.payments,
      discount: discount.discount,
      /** The product's units on hand and reserved. */
      async stock(productId: string) {
        const { onHand, reserved } = await inventory.inventory.stockLevel(productId);
        return { onHand, reserved };
      },
      get orderUrl() {
        return instance!.server.url;
      },
      get orders() {
        return instance!.order.orders;
      },
      call,
      /** Stops the order service without waiting for its sagas: the process went away. */
      stopOrder,
      /** Starts a new order service instance on the same database. */
      async restartOrder() {
        await stopOrder();
        instance = await startInstance();
      },
      /** A customer with an address and `lines` in their basket (and `coupon` applied, if given). */
      async customer(lines: { productId: string; quantity: number }[], coupon?: string) {
        const userId = crypto.randomUUID();
        const token = await tokens.customer(userId);
        for (const line of lines) {
          const put = await call(
            token,
            "PUT",
            `/v1/basket/items/${line.productId}`,
            {
              quantity: line.quantity,
            },
            {},
            "basket",
          );
          assert.equal(put.status, 200, JSON.stringify(put.body));
        }
        if (coupon) {
          const applied = await call(token, "PUT", "/v1/basket/coupon", { code: coupon }, {}, "basket");
          assert.equal(applied.status, 200, JSON.stringify(applied.body));
        }
        const address = await call(token, "POST", "/v1/addresses", addressBody());
        assert.equal(address.status, 201, JSON.stringify(address.body));
        return { userId, token, addressId: address.body.id as string };
      },
      /** Places the order; the card number decides the payment's outcome. */
      place(
        who: { token: string; addressId: string },
        cardNumber = "4242424242424242",
        key: string = crypto.randomUUID(),
      ) {
        return call(who.token, "POST", "/v1/orders", {
          addressId: who.addressId,
          payment: { cardNumber, expMonth: 12, expYear: 2040, cvc: "123", holder: "Ada Lovelace" },
        }, { "idempotency-key": key });
      },
      /** The order as stored, with its saga's state. */
      stored: (orderId: string) => instance!.order.store.findOrder(orderId),
      /** Waits for the order to leave `pending`; answers it as stored. */
      async settled(orderId: string, timeoutMs = 20_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const order = await instance!.order.store.findOrder(orderId);
          if (order && order.status !== "pending") return order;
          if (Date.now() > deadline) assert.fail(`order ${orderId} is still pending`);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      },
      /** The coupon use the order made, as the discount service recorded it. */
      async redemption(orderId: string): Promise<string | undefined> {
        // Through the service's own pool: embedded PostgreSQL serves one connection, which it holds.
        // A transition to the status the redemption has changes nothing.
        return (await discount.store.transition(orderId, (redemption) => redemption.status))?.status;
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

export type Checkout = Awaited<ReturnType<typeof startCheckout>>;

export function addressBody(overrides: Record<string, unknown> = {}) {
  return {
    name: "Ada",
    surname: "Lovelace",
    email: "ada@example.com",
    phone: "+44 20 7946 0000",
    country: "United Kingdom",
    city: "London",
    district: "Marylebone",
    line1: "12 St James's Square",
    zipCode: "SW1Y 4JH",
    ...overrides,
  };
}

/** Waits until `check` holds (the other services finish their steps after the order's reply). */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
