/**
 * The in-process basket store for the embedded mode. It keeps the Redis store's semantics: a basket
 * expires `ttlSeconds` after its last change (by `clock`, injectable so that tests can let time
 * pass), a reverse index answers which users hold a product, and updates are atomic per user.
 * Values are copied on the way in and out, so callers never share an object with the store.
 */
import type { Basket, BasketStore } from "./types.ts";

interface Entry {
  basket: Basket;
  /** In `clock` milliseconds. */
  expiresAt: number;
}

export interface MemoryBasketStoreOptions {
  ttlSeconds: number;
  /** Milliseconds since the epoch; Date.now by default. */
  clock?: () => number;
}

export function createMemoryBasketStore(options: MemoryBasketStoreOptions): BasketStore {
  const now = options.clock ?? Date.now;
  const baskets = new Map<string, Entry>();
  /** Product id → the users whose basket has a line for it. */
  const holders = new Map<string, Set<string>>();

  const copy = <T>(value: T): T => structuredClone(value);
  /** Like the Redis store, failures arrive as rejected promises, never as synchronous throws. */
  const attempt = <T>(work: () => T): Promise<T> => new Promise((resolve) => resolve(work()));
  const productIds = (basket: Basket | undefined) => new Set(basket?.lines.map((line) => line.productId));

  /** Stores `next` for the user, or removes their basket, and keeps the index in step. */
  function write(userId: string, next: Basket | undefined) {
    const held = productIds(next);
    for (const productId of productIds(baskets.get(userId)?.basket)) {
      if (held.has(productId)) continue;
      const users = holders.get(productId)!;
      users.delete(userId);
      if (users.size === 0) holders.delete(productId);
    }
    for (const productId of held) {
      let users = holders.get(productId);
      if (!users) holders.set(productId, users = new Set());
      users.add(userId);
    }
    if (next) baskets.set(userId, { basket: copy(next), expiresAt: now() + options.ttlSeconds * 1000 });
    else baskets.delete(userId);
  }

  /** The user's basket unless it has expired; an expired one is removed on the way. */
  function live(userId: string): Basket | undefined {
    const entry = baskets.get(userId);
    if (entry && now() >= entry.expiresAt) {
      write(userId, undefined);
      return undefined;
    }
    return entry?.basket;
  }

  /**
   * Removes every expired basket, at most once a TTL, so that baskets nobody reads again do not pile
   * up in a long-running process (Redis drops them by itself).
   */
  let nextSweep = now() + options.ttlSeconds * 1000;
  function sweep() {
    if (now() < nextSweep) return;
    nextSweep = now() + options.ttlSeconds * 1000;
    for (const userId of baskets.keys()) live(userId);
  }

  return {
    get: (userId) => attempt(() => copy(live(userId))),
    update: (userId, change) =>
      attempt(() => {
        // `change` is synchronous and nothing here awaits, so each update runs from read to write
        // before any other starts: in one process that is all the atomicity needed, without a lock.
        const current = live(userId);
        const next = change(copy(current));
        if (next === undefined) return copy(current);
        sweep();
        write(userId, next);
        return copy(next);
      }),
    delete: (userId) =>
      attempt(() => {
        if (!live(userId)) return false;
        write(userId, undefined);
        return true;
      }),
    basketsWithProduct: (productId) =>
      attempt(() => [...holders.get(productId) ?? []].filter((userId) => live(userId) !== undefined)),
    ping: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}
