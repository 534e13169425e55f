/** The memory layer's bound: bytes, least recently used out first. */
import assert from "node:assert/strict";
import { ByteBoundedLru } from "./memory_cache.ts";

const sized = (bytes: number) => ({ bytes });

Deno.test("ByteBoundedLru evicts the least recently used values until the budget holds", () => {
  const lru = new ByteBoundedLru<{ bytes: number }>(100);
  lru.set("a", sized(40));
  lru.set("b", sized(40));
  assert.ok(lru.get("a"), "a is now the most recently used");
  lru.set("c", sized(40));
  assert.equal(lru.get("b"), undefined, "b was the least recently used");
  assert.ok(lru.get("a"));
  assert.ok(lru.get("c"));
  assert.equal(lru.bytes, 80);
  assert.equal(lru.size, 2);
});

Deno.test("ByteBoundedLru refuses a value larger than the budget and replaces by key", () => {
  const lru = new ByteBoundedLru<{ bytes: number }>(100);
  lru.set("a", sized(60));
  assert.equal(lru.set("huge", sized(101)), false);
  assert.ok(lru.get("a"), "a refused value evicts nothing");
  lru.set("a", sized(30));
  assert.equal(lru.bytes, 30, "a replaced value no longer counts");
  lru.set("b", sized(20));
  lru.deleteWhere((value) => value.bytes === 30);
  assert.equal(lru.get("a"), undefined);
  assert.equal(lru.bytes, 20);
});
