import assert from "node:assert/strict";
import { ProblemError } from "@multishop/kit/problem";
import {
  maxLines,
  type ProductSnapshot,
  refreshProduct,
  removeLine,
  setLine,
  totals,
  withCoupon,
} from "./domain.ts";

const now = new Date("2026-11-21T10:00:00Z");
const product = (id: string, amount: number, available = true): ProductSnapshot => ({
  productId: id,
  name: `Product ${id}`,
  unitPrice: { amount, currency: "USD" },
  image: null,
  available,
  catalogAsOf: "2026-11-21T09:00:00.000Z",
});

Deno.test("lines are added, changed and removed by quantity", () => {
  let basket = setLine(undefined, "u1", product("a", 1000), 2, now);
  basket = setLine(basket, "u1", product("b", 250), 1, now);
  basket = setLine(basket, "u1", product("a", 1000), 3, now);
  assert.deepEqual(basket.lines.map((l) => [l.productId, l.quantity]), [["a", 3], ["b", 1]]);
  basket = setLine(basket, "u1", product("b", 250), 0, now);
  assert.deepEqual(basket.lines.map((l) => l.productId), ["a"]);
  assert.equal(removeLine(basket, "zzz", now), undefined, "removing what is not there changes nothing");
  assert.deepEqual(removeLine(basket, "a", now)?.lines, []);
});

Deno.test("a basket holds at most 100 different products", () => {
  let basket = setLine(undefined, "u1", product("p0", 1), 1, now);
  for (let i = 1; i < maxLines; i++) basket = setLine(basket, "u1", product(`p${i}`, 1), 1, now);
  assert.throws(
    () => setLine(basket, "u1", product("one-more", 1), 1, now),
    (e) => e instanceof ProblemError && e.problem.status === 422,
  );
  assert.equal(
    setLine(basket, "u1", product("p5", 1), 7, now).lines.length,
    maxLines,
    "changing an existing line is fine",
  );
});

Deno.test("totals: unavailable lines are not charged, the discount never exceeds the subtotal", () => {
  let basket = setLine(undefined, "u1", product("a", 1999), 2, now);
  basket = setLine(basket, "u1", product("b", 500, false), 4, now);
  assert.deepEqual(totals(basket, "USD", 300), {
    subtotal: { amount: 3998, currency: "USD" },
    discount: { amount: 300, currency: "USD" },
    total: { amount: 3698, currency: "USD" },
    itemCount: 2,
  });
  assert.equal(totals(basket, "USD", 10_000).total.amount, 0);
  assert.equal(totals(undefined, "USD").total.amount, 0);
});

Deno.test("a catalog change refreshes the line; other baskets are left alone", () => {
  const basket = withCoupon(setLine(undefined, "u1", product("a", 1000), 1, now), "u1", "WELCOME10", now);
  const repriced = refreshProduct(
    basket,
    { productId: "a", unitPrice: { amount: 800, currency: "USD" }, catalogAsOf: "2026-11-21T09:30:00.000Z" },
    now,
  )!;
  assert.equal(repriced.lines[0].unitPrice.amount, 800);
  assert.equal(repriced.couponCode, "WELCOME10");
  const gone = { available: false, catalogAsOf: "2026-11-21T09:30:00.000Z" };
  assert.equal(refreshProduct(basket, { productId: "other", ...gone }, now), undefined);
  assert.equal(refreshProduct(undefined, { productId: "a", ...gone }, now), undefined);
});

Deno.test("a catalog change older than what the line shows leaves it alone; a repeat changes nothing", () => {
  const basket = setLine(undefined, "u1", product("a", 1000), 1, now);
  const newer = {
    productId: "a",
    unitPrice: { amount: 700, currency: "USD" },
    catalogAsOf: "2026-11-21T09:40:00.000Z",
  };
  const older = {
    productId: "a",
    unitPrice: { amount: 900, currency: "USD" },
    catalogAsOf: "2026-11-21T09:20:00.000Z",
  };
  const repriced = refreshProduct(basket, newer, now)!;
  assert.equal(repriced.lines[0].unitPrice.amount, 700);
  assert.equal(refreshProduct(repriced, older, now), undefined, "the older price stays out");
  assert.deepEqual(refreshProduct(repriced, newer, now), repriced, "the same event again: the same basket");
  assert.equal(
    refreshProduct(basket, { ...older, catalogAsOf: "2026-11-21T08:00:00.000Z" }, now),
    undefined,
    "older than the price the customer saw when adding it",
  );
  const { catalogAsOf: _, ...lineStoredBefore } = basket.lines[0];
  assert.equal(
    refreshProduct({ ...basket, lines: [lineStoredBefore] }, older, now)?.lines[0].unitPrice.amount,
    900,
    "a line stored before times were kept takes any event",
  );
});
