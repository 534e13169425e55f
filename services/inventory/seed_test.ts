/** The demo stock levels, without a database: the same on every run, and varied like a real shop's. */
import assert from "node:assert/strict";
import { stableUuid } from "@multishop/kit/digest";
import { demoOnHand } from "./seed.ts";

Deno.test("demo stock is derived from the product id alone: the same on every machine and run", () => {
  assert.equal(demoOnHand("878271ee-7cd1-8587-89b7-a519e6227a11"), 0);
  assert.equal(demoOnHand("8bffb1a2-7176-811a-80dd-1dd5dc806599"), 177);
});

Deno.test("demo stock over a catalog: 0 to 200, a few sold out, some nearly gone, most well stocked", async () => {
  // Ids made the way the demo catalog makes its own.
  const ids = await Promise.all(Array.from({ length: 500 }, (_, n) => stableUuid(`multishop:product:${n}`)));
  const counts = ids.map(demoOnHand);
  assert.ok(counts.every((count) => Number.isInteger(count) && count >= 0 && count <= 200));
  const soldOut = counts.filter((count) => count === 0).length;
  const nearlyGone = counts.filter((count) => count >= 1 && count <= 5).length;
  assert.ok(soldOut >= 15 && soldOut <= 60, `${soldOut} of 500 sold out`);
  assert.ok(nearlyGone >= 40 && nearlyGone <= 110, `${nearlyGone} of 500 with 1 to 5 left`);
  assert.ok(new Set(counts).size > 100, "counts vary");
});
