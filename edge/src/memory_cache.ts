/**
 * A map bounded by the bytes its values hold, least recently used first out. The edge keeps one per
 * isolate in front of the Cache API: an isolate's memory is small (128 MB on Cloudflare) and shared
 * with every request it serves, so the bound is on bytes, not on the number of entries.
 */
export interface Sized {
  /** What the value costs in memory, its key included. */
  bytes: number;
}

export class ByteBoundedLru<V extends Sized> {
  // A Map iterates in insertion order, so re-inserting on every use keeps the least recently used first.
  #entries = new Map<string, V>();
  #bytes = 0;

  constructor(readonly budgetBytes: number) {}

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value, now the most recently used. */
  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  /**
   * Keeps the value, evicting the least recently used ones until all fit; a value larger than the
   * whole budget is not kept (false), since it would evict everything and then itself.
   */
  set(key: string, value: V): boolean {
    this.delete(key);
    if (value.bytes > this.budgetBytes) return false;
    this.#entries.set(key, value);
    this.#bytes += value.bytes;
    for (const [oldest, evicted] of this.#entries) {
      if (this.#bytes <= this.budgetBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= evicted.bytes;
    }
    return true;
  }

  delete(key: string): void {
    const value = this.#entries.get(key);
    if (value === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= value.bytes;
  }

  /** Drops every value the predicate selects (entries of a purged generation, say). */
  deleteWhere(predicate: (value: V) => boolean): void {
    for (const [key, value] of this.#entries) {
      if (predicate(value)) this.delete(key);
    }
  }
}
