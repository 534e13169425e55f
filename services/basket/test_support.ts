/** The basket stores a suite runs against, and builders for test data. */
import { Redis } from "ioredis";
import { infraRequired } from "@multishop/kit/testing";
import { createMemoryBasketStore } from "./store/memory.ts";
import { createRedisBasketStore } from "./store/redis.ts";
import type { Basket, BasketLine, BasketStore } from "./store/types.ts";

export interface OpenStore {
  store: BasketStore;
  /** Lets time pass for the store: its injected clock in process, real time on Redis. */
  elapse(seconds: number): Promise<void>;
  close(): Promise<void>;
}

export interface StoreTarget {
  name: "in-process" | "Redis";
  skip?: string;
  open(options: { ttlSeconds: number }): Promise<OpenStore>;
}

export async function basketStoreTargets(): Promise<StoreTarget[]> {
  const unreachable = await redisProblem();
  const redis: StoreTarget = {
    name: "Redis",
    skip: unreachable && !infraRequired ? unreachable : undefined,
    async open({ ttlSeconds }) {
      if (unreachable) throw new Error(`Redis is required but ${unreachable}`);
      const connection = new Redis(Deno.env.get("REDIS_URL")!, { lazyConnect: true });
      await connection.connect();
      // A prefix of its own, so that concurrent runs on one Redis do not meet, and cleaning up is exact.
      const prefix = `test:${crypto.randomUUID().slice(0, 8)}:`;
      const store = createRedisBasketStore(connection, { prefix, ttlSeconds });
      return {
        store,
        elapse: (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000)),
        async close() {
          let cursor = "0";
          do {
            const [next, keys] = await connection.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
            if (keys.length > 0) await connection.del(...keys);
            cursor = next;
          } while (cursor !== "0");
          await store.close();
        },
      };
    },
  };
  const memory: StoreTarget = {
    name: "in-process",
    open({ ttlSeconds }) {
      let now = Date.UTC(2026, 0, 1);
      const store = createMemoryBasketStore({ ttlSeconds, clock: () => now });
      return Promise.resolve({
        store,
        elapse(seconds) {
          now += seconds * 1000;
          return Promise.resolve();
        },
        close: () => store.close(),
      });
    },
  };
  if (redis.skip) console.log(`%cskipping Redis tests: ${redis.skip}`, "color: yellow");
  return [memory, redis];
}

async function redisProblem(): Promise<string | undefined> {
  const url = Deno.env.get("REDIS_URL");
  if (!url) return "REDIS_URL is not set (start servers with `deno task infra:up` and export what it prints)";
  // One attempt, no reconnecting; the connection's own error says more than the failed command.
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let failure: Error | undefined;
  redis.on("error", (error: Error) => failure ??= error);
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    return `REDIS_URL does not answer: ${(failure ?? error as Error).message}`;
  } finally {
    redis.disconnect();
  }
}

export function line(productId: string, quantity = 1, overrides: Partial<BasketLine> = {}): BasketLine {
  return {
    productId,
    name: `Product ${productId}`,
    unitPrice: { amount: 1999, currency: "USD" },
    image: null,
    quantity,
    available: true,
    ...overrides,
  };
}

export function basket(userId: string, lines: BasketLine[] = []): Basket {
  return { userId, lines, couponCode: null, updatedAt: new Date().toISOString() };
}
