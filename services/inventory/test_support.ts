/**
 * Starts the inventory service for a test against one PostgreSQL target, on an in-process bus, with a
 * clock the test can set, the replies it publishes collected, and a switch that takes the broker away
 * from the service's publishes.
 */
import assert from "node:assert/strict";
import { createLogger, type Logger } from "@multishop/kit/log";
import { createInProcessBus, type Envelope, type MessageBus } from "@multishop/kit/messaging";
import { type PostgresTarget, serveForTest, testTokenIssuer } from "@multishop/kit/testing";
import { loadInventoryConfig } from "./config.ts";
import { startInventory } from "./main.ts";

/**
 * Several connections on a real server, so that concurrent checkouts really run at once there;
 * PGlite serves one connection, and its pool serialises them.
 */
const realPoolSize = 10;

const replyTypes = [
  "inventory.reserved",
  "inventory.reservation_failed",
  "inventory.committed",
  "inventory.commit_failed",
  "inventory.released",
  "inventory.returned",
];

/**
 * `env` sets configuration; the expiry sweep waits an hour unless it says otherwise, so tests drive
 * expiry. `logger` receives the service's log lines; by default they are dropped.
 */
export async function startTestInventory(
  target: PostgresTarget,
  { env = {}, logger = createLogger("inventory", "silent") }: {
    env?: Record<string, string>;
    logger?: Logger;
  } = {},
) {
  const tokens = await testTokenIssuer();
  const database = await target.open();
  // Short waits, so that a message no retry can help reaches the dead letters quickly.
  const bus = createInProcessBus({ logger, retryDelaysMs: [5, 5] });
  const replies: Envelope[] = [];
  await bus.subscribe("test-replies", replyTypes, (envelope) => {
    replies.push(envelope);
    return Promise.resolve();
  });
  let fixedNow: Date | undefined;
  let brokerAway = false;
  // Only the service's publishes fail: the test still delivers commands to it, as a broker that
  // refuses new messages still delivers those it holds.
  const serviceBus: MessageBus = {
    publish: (type, schema, payload, options) =>
      brokerAway
        ? Promise.reject(new Error("the broker is away"))
        : bus.publish(type, schema, payload, options),
    subscribe: bus.subscribe.bind(bus),
    ping: bus.ping.bind(bus),
    close: bus.close.bind(bus),
  };
  try {
    const poolSize = database.maxConnections > 1 ? realPoolSize : 1;
    const inventory = await startInventory(
      loadInventoryConfig({ LOG_LEVEL: "silent", RESERVATION_SWEEP_SECONDS: "3600", ...env }),
      {
        postgres: { url: database.url, maxConnections: poolSize },
        bus: serviceBus,
        logger,
        verifyToken: tokens.verifyToken,
        clock: () => fixedNow ?? new Date(),
      },
    );
    const server = serveForTest(inventory.app);
    return {
      url: server.url,
      tokens,
      database,
      bus,
      inventory: inventory.inventory,
      store: inventory.store,
      /** The service's own pool: on embedded PostgreSQL it is the only connection there is. */
      sql: inventory.sql,
      poolSize,
      /** Every reply the service published, oldest first. */
      replies,
      /** While away, what the service publishes fails, as it does when RabbitMQ is down. */
      setBrokerAway(away: boolean) {
        brokerAway = away;
      },
      /** Fixes the service's clock at `at`; without it, the clock follows real time again. */
      setClock(at?: Date) {
        fixedNow = at;
      },
      async close() {
        await server.close();
        await bus.close();
        await inventory.close();
        await database.close();
      },
    };
  } catch (error) {
    await bus.close();
    await database.close();
    throw error;
  }
}

export type TestInventory = Awaited<ReturnType<typeof startTestInventory>>;

/** Waits for `check` to hold, two seconds unless told otherwise; the bus delivers asynchronously. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 2000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A product id no other test uses. */
export const newProductId = () => crypto.randomUUID();

/** An order id no other test uses. */
export const newOrderId = () => `order-${crypto.randomUUID()}`;
