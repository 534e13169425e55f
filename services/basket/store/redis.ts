/**
 * The basket on Redis. Each basket is one JSON string under `${prefix}basket:${userId}` that expires
 * `ttlSeconds` after its last write; `${prefix}product:${productId}` is a set of the users whose
 * basket has a line for that product (the reverse index behind `basketsWithProduct`).
 *
 * Updates are optimistic: read the basket, run `change` here, then write through a compare-and-set
 * Lua script, which Redis runs atomically: it writes the basket and its index entries only if the
 * basket is still exactly what was read; otherwise the update reads again and retries. This rather
 * than WATCH/MULTI/EXEC, because WATCH belongs to a connection: concurrent updates would each need a
 * connection of their own (a pool of duplicates), while the script's check travels with the write,
 * so every update shares ioredis's one connection and writes in a single round trip.
 */
import { Redis } from "ioredis";
import type { Basket, BasketChange, BasketStore } from "./types.ts";

export interface RedisBasketStoreOptions {
  /** Put before every key, so that several shops or test runs can share one Redis. */
  prefix?: string;
  ttlSeconds: number;
}

/**
 * KEYS[1] the basket; KEYS[2 .. ARGV[4] + 1] the index sets of the products in the new basket; the
 * remaining KEYS the index sets of the products it no longer has. ARGV[1] the basket as it was
 * read ("" when missing), ARGV[2] the new basket ("" deletes it), ARGV[3] the TTL in milliseconds,
 * ARGV[5] the user.
 * Answers 1 when written, 0 when the basket changed since it was read.
 */
const compareAndSetScript = `
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[3])
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
end
local held = tonumber(ARGV[4]) + 1
for i = 2, #KEYS do
  if i <= held then
    redis.call('SADD', KEYS[i], ARGV[5])
    -- The set lives as long as the newest basket in it, so a product nobody holds leaves no set.
    redis.call('PEXPIRE', KEYS[i], ttl)
  else
    redis.call('SREM', KEYS[i], ARGV[5])
  end
end
return 1
`;

/**
 * KEYS[1] a product's index set, KEYS[2..] the baskets of ARGV[2..], users it may list wrongly.
 * Removes each of them that, checked again here atomically, has no basket with product ARGV[1].
 */
const pruneScript = `
for i = 2, #KEYS do
  local stored = redis.call('GET', KEYS[i])
  local holds = false
  if stored then
    for _, line in ipairs(cjson.decode(stored).lines) do
      if line.productId == ARGV[1] then holds = true end
    end
  end
  if not holds then redis.call('SREM', KEYS[1], ARGV[i]) end
end
`;

/** Enough for dozens of concurrent updates of one basket; a single user makes far fewer. */
const maxAttempts = 50;
const conflict = Symbol("conflict");

/** A store on `redis`; the store owns the connection and `close()` quits it. */
export function createRedisBasketStore(redis: Redis, options: RedisBasketStoreOptions): BasketStore {
  const prefix = options.prefix ?? "";
  // Milliseconds, so that any TTL the in-process store accepts works here too.
  const ttlMs = Math.round(options.ttlSeconds * 1000);
  const basketKey = (userId: string) => `${prefix}basket:${userId}`;
  const productKey = (productId: string) => `${prefix}product:${productId}`;
  const productIds = (basket: Basket | undefined) => new Set(basket?.lines.map((line) => line.productId));
  const parse = (stored: string | null): Basket | undefined =>
    stored === null ? undefined : JSON.parse(stored);

  /**
   * Replaces the basket stored as `expected` (null: none) with `after`, or deletes it; false when
   * the basket changed in between.
   */
  async function compareAndSet(userId: string, expected: string | null, after: Basket | undefined) {
    const held = productIds(after);
    const dropped = [...productIds(parse(expected))].filter((id) => !held.has(id));
    const keys = [basketKey(userId), ...[...held, ...dropped].map(productKey)];
    const written = await redis.eval(
      compareAndSetScript,
      keys.length,
      ...keys,
      expected ?? "",
      after ? JSON.stringify(after) : "",
      ttlMs,
      held.size,
      userId,
    );
    return written === 1;
  }

  /** Runs `attempt` until it gets through without a conflicting write. */
  async function optimistically<T>(
    userId: string,
    attempt: () => Promise<T | typeof conflict>,
  ): Promise<T> {
    for (let tries = 1; tries <= maxAttempts; tries++) {
      const result = await attempt();
      if (result !== conflict) return result;
      // A random pause, longer after each loss, so that contending updates stop colliding in step.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(tries, 10)));
    }
    throw new Error(
      `the basket of user ${userId} changed under ${maxAttempts} update attempts in a row; giving up`,
    );
  }

  return {
    async get(userId) {
      return parse(await redis.get(basketKey(userId)));
    },
    update(userId: string, change: BasketChange) {
      return optimistically(userId, async () => {
        const stored = await redis.get(basketKey(userId));
        // `change` gets a copy of its own, so nothing it does to it leaks into the answer.
        const next = change(parse(stored));
        if (next === undefined) return parse(stored);
        // The caller gets a copy too, exactly as it will be read back.
        const written = parse(JSON.stringify(next))!;
        return await compareAndSet(userId, stored, written) ? written : conflict;
      });
    },
    delete(userId) {
      return optimistically(userId, async () => {
        const stored = await redis.get(basketKey(userId));
        if (stored === null) return false;
        return await compareAndSet(userId, stored, undefined) ? true : conflict;
      });
    },
    async basketsWithProduct(productId) {
      const users = await redis.smembers(productKey(productId));
      if (users.length === 0) return [];
      // A basket that expired leaves its user in the index sets; its basket is read to tell.
      const baskets = await redis.mget(users.map(basketKey));
      const holds = (stored: string | null) => productIds(parse(stored)).has(productId);
      const stale = users.filter((_, i) => !holds(baskets[i]));
      if (stale.length > 0) {
        const keys = [productKey(productId), ...stale.map(basketKey)];
        await redis.eval(pruneScript, keys.length, ...keys, productId, ...stale);
      }
      return users.filter((_, i) => holds(baskets[i]));
    },
    async ping() {
      await redis.ping();
    },
    async close() {
      await redis.quit();
    },
  };
}

/** Connects to the Redis at `url`; fails, saying why, when it does not answer. */
export async function connectRedisBasketStore(
  url: string,
  options: RedisBasketStoreOptions,
): Promise<BasketStore> {
  const redis = new Redis(url, { lazyConnect: true });
  // connect() itself only rejects with "Connection is closed"; the cause comes as an event.
  let cause: Error | undefined;
  const remember = (error: Error) => cause ??= error;
  redis.on("error", remember);
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new Error(`Redis does not answer: ${(cause ?? error as Error).message}`, { cause: cause ?? error });
  }
  redis.off("error", remember);
  return createRedisBasketStore(redis, options);
}
