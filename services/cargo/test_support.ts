/**
 * Starts the cargo service for a test against one PostgreSQL target, on the in-process bus or on a
 * real RabbitMQ (an exchange and queues of the test's own), with helpers that play the order service:
 * they publish its events as it would, and watch what cargo publishes.
 */
import assert from "node:assert/strict";
import { orderEvents } from "@multishop/kit/contracts/orders";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus, type Envelope, type MessageBus } from "@multishop/kit/messaging";
import {
  call as callService,
  type CallOptions,
  type PostgresTarget,
  serveForTest,
  testRabbitMq,
  testTokenIssuer,
  waitFor,
} from "@multishop/kit/testing";
import { type CarrierInput, trackingCodeAlphabet } from "./domain.ts";
import { loadCargoConfig } from "./config.ts";
import { startCargo } from "./main.ts";

const logger = createLogger("cargo", "silent");

/** Several connections on a real server, so that concurrent work really runs at once there. */
const realPoolSize = 10;

/** Short waits, so that retries before a dead letter take milliseconds. */
const retryDelaysMs = [10, 20, 40];

export interface TestCargoOptions {
  /** A real broker's URL; the in-process bus without it. */
  amqpUrl?: string;
  /** Cargo configuration. */
  env?: Record<string, string>;
  trackingCode?: () => string;
}

export async function startTestCargo(target: PostgresTarget, options: TestCargoOptions = {}) {
  const tokens = await testTokenIssuer();
  const inProcess = options.amqpUrl ? undefined : createInProcessBus({ logger, retryDelaysMs });
  const bus = inProcess ?? await testRabbitMq(options.amqpUrl!, { logger, retryDelaysMs: retryDelaysMs });
  const database = await target.open();
  try {
    /** How many times the service finished handling each message id, a failed try included. */
    const handled = new Map<string, number>();
    const countingBus: MessageBus = {
      publish: bus.publish.bind(bus),
      ping: bus.ping.bind(bus),
      close: bus.close.bind(bus),
      subscribe: (queue, pattern, handler) =>
        bus.subscribe(queue, pattern, async (envelope) => {
          try {
            await handler(envelope);
          } finally {
            handled.set(envelope.id, (handled.get(envelope.id) ?? 0) + 1);
          }
        }),
    };
    const published: Envelope[] = [];
    await bus.subscribe("cargo-watcher", "cargo.shipment.*", (envelope) => {
      published.push(envelope);
      return Promise.resolve();
    });
    const poolSize = database.maxConnections > 1 ? realPoolSize : 1;
    const cargo = await startCargo(loadCargoConfig({ LOG_LEVEL: "silent", ...options.env }), {
      postgres: { url: database.url, maxConnections: poolSize },
      bus: countingBus,
      logger,
      verifyToken: tokens.verifyToken,
      trackingCode: options.trackingCode,
    });
    const server = serveForTest(cargo.app);

    const call = (method: string, path: string, options: CallOptions = {}) =>
      callService(server.url, method, path, options);

    /** What cargo published about the order so far, oldest first. */
    const publishedFor = (orderId: string, type?: string) =>
      published.filter((envelope) =>
        (envelope.payload as { orderId: string }).orderId === orderId && (!type || envelope.type === type)
      );

    return {
      url: server.url,
      tokens,
      bus,
      /** The in-process bus, for its dead letters; undefined on RabbitMQ. */
      inProcess,
      cargo: cargo.cargo,
      store: cargo.store,
      poolSize,
      call,
      published,
      publishedFor,

      /** Publishes `order.confirmed` as the order service would; answers the payload and the message id. */
      async confirmOrder(overrides: Partial<OrderConfirmed> = {}, messageId: string = crypto.randomUUID()) {
        const payload = confirmedOrder(overrides);
        await bus.publish("order.confirmed", orderEvents["order.confirmed"], payload, {
          id: messageId,
          correlationId: payload.orderId,
        });
        return { ...payload, messageId };
      },

      /** Publishes the order's `order.status_changed` to `cancelled`; answers the message id. */
      async cancelOrder(order: { orderId: string; userId: string }, previousStatus: "pending" | "confirmed") {
        const id = crypto.randomUUID();
        await bus.publish("order.status_changed", orderEvents["order.status_changed"], {
          orderId: order.orderId,
          userId: order.userId,
          status: "cancelled",
          previousStatus,
          cancellationReason: "user_cancelled",
        }, { id, correlationId: order.orderId });
        return id;
      },

      /** Waits until cargo has published `count` events of `type` about the order; answers them. */
      async waitForPublished(orderId: string, type: string, count = 1) {
        await waitFor(
          `${count} ${type} of order ${orderId}`,
          () => publishedFor(orderId, type).length >= count,
        );
        return publishedFor(orderId, type);
      },

      /** Waits until the service has finished handling the message `times` times. */
      async waitForHandled(messageId: string, times = 1) {
        await waitFor(
          `message ${messageId} handled ${times} times`,
          () => (handled.get(messageId) ?? 0) >= times,
        );
      },

      async addCarrier(input: Partial<CarrierInput> = {}) {
        return await cargo.cargo.createCarrier(carrierBody(input));
      },

      async close() {
        await server.close();
        await bus.close();
        await cargo.close();
        await database.close();
      },
    };
  } catch (error) {
    await bus.close();
    await database.close();
    throw error;
  }
}

export type TestCargo = Awaited<ReturnType<typeof startTestCargo>>;

export type OrderConfirmed = ReturnType<typeof orderEvents["order.confirmed"]["parse"]>;

/** An `order.confirmed` payload for a new order of a new customer; `overrides` set or replace its fields. */
export function confirmedOrder(overrides: Partial<OrderConfirmed> = {}): OrderConfirmed {
  return {
    orderId: crypto.randomUUID(),
    userId: crypto.randomUUID(),
    lines: [{
      productId: "p-lamp",
      name: "Desk lamp",
      unitPrice: { amount: 2_499, currency: "USD" },
      quantity: 2,
    }],
    address: {
      name: "Ada",
      surname: "Lovelace",
      email: "ada@example.com",
      phone: "+44 20 7946 0000",
      country: "United Kingdom",
      city: "London",
      district: "Marylebone",
      line1: "12 St James's Square",
      line2: "Flat 3",
      zipCode: "SW1Y 4JH",
    },
    total: { amount: 4_998, currency: "USD" },
    ...overrides,
  };
}

/** A carrier body with a name no other test uses; `overrides` set or replace its fields. */
export function carrierBody(overrides: Partial<CarrierInput> = {}): CarrierInput {
  return {
    name: `Carrier ${crypto.randomUUID().slice(0, 8)}`,
    phone: "+1 555 0100",
    active: true,
    ...overrides,
  };
}

/** A valid tracking code of one repeated character, for tests that choose the codes. */
export const fixedTrackingCode = (character: string) => {
  assert.ok(trackingCodeAlphabet.includes(character));
  return `MS${character.repeat(10)}`;
};
