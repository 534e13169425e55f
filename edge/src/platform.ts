/**
 * The few Workers runtime types the edge uses, declared here rather than through
 * @cloudflare/workers-types, whose globals clash with Deno's own when the tree is type-checked.
 */
export interface DurableObjectId {
  toString(): string;
}

export interface DurableObjectStub {
  fetch(request: Request): Promise<Response>;
}

export interface DurableObjectNamespace {
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): DurableObjectStub;
}

export interface DurableObjectStorage {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  list(): Promise<Map<string, unknown>>;
  deleteAll(): Promise<void>;
  /** Replaces the object's one alarm: its `alarm()` runs at that time (milliseconds since the epoch). */
  setAlarm(scheduledTime: number): Promise<void>;
}

/** Storage whose keys are deleted a few at a time, as the rate limiter's shards delete refilled buckets. */
export interface DurableObjectKeyStorage extends DurableObjectStorage {
  /** Deletes the keys (at most 128 in one call) and answers how many there were. */
  delete(keys: string[]): Promise<number>;
}

export interface DurableObjectState<Storage extends DurableObjectStorage = DurableObjectStorage> {
  storage: Storage;
  blockConcurrencyWhile<T>(work: () => Promise<T>): Promise<T>;
}

export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

/** The Workers runtime's default cache (the Cache API's `caches.default`). */
export function edgeCache(): Cache {
  return (globalThis.caches as unknown as { default: Cache }).default;
}
