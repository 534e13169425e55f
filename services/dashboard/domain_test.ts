import assert from "node:assert/strict";
import {
  affectedSource,
  type Figures,
  initialFigures,
  type OrderCounts,
  sameFigures,
  withReading,
  withUnavailable,
} from "./domain.ts";

const start = new Date("2026-11-21T10:00:00Z");
const later = new Date("2026-11-21T10:05:00Z");
const orders: OrderCounts = { pending: 1, confirmed: 2, shipped: 3, delivered: 4, cancelled: 5 };

function everyRead(): Figures {
  let figures = initialFigures(start);
  figures = withReading(figures, "identity", { users: 10 }, start);
  figures = withReading(figures, "catalog", { products: 20, categories: 3, brands: 4 }, start);
  figures = withReading(figures, "order", { orders }, start);
  figures = withReading(figures, "comment", { pendingReviews: 2 }, start);
  return withReading(figures, "message", { unreadSupportMessages: 1 }, start);
}

Deno.test("every figure is null until its source is read once", () => {
  const figures = withReading(initialFigures(start), "comment", { pendingReviews: 7 }, later);
  assert.deepEqual(figures, {
    users: null,
    products: null,
    categories: null,
    brands: null,
    orders: null,
    pendingReviews: 7,
    unreadSupportMessages: null,
    updatedAt: later.toISOString(),
    unavailable: [],
  });
});

Deno.test("a reading replaces only its own source's figures", () => {
  const before = everyRead();
  const after = withReading(before, "order", { orders: { ...orders, pending: 0, confirmed: 3 } }, later);
  assert.deepEqual(after, {
    ...before,
    orders: { pending: 0, confirmed: 3, shipped: 3, delivered: 4, cancelled: 5 },
    updatedAt: later.toISOString(),
  });
});

Deno.test("a reading that changes nothing gives the same figures back, so nobody is told", () => {
  const before = everyRead();
  assert.equal(withReading(before, "order", { orders: { ...orders } }, later), before);
  assert.equal(withReading(before, "identity", { users: 10 }, later), before);
  assert.equal(before.updatedAt, start.toISOString());
});

Deno.test("an unavailable source keeps its last figures and is listed in source order", () => {
  const before = everyRead();
  const messageDown = withUnavailable(before, "message", later);
  const bothDown = withUnavailable(messageDown, "identity", later);
  assert.deepEqual(bothDown.unavailable, ["identity", "message"]);
  assert.equal(bothDown.unreadSupportMessages, 1);
  assert.equal(bothDown.users, 10);
  assert.equal(bothDown.updatedAt, later.toISOString());
  assert.equal(withUnavailable(bothDown, "message", later), bothDown, "still down is no change");
});

Deno.test("a source that failed before its first read shows null, and is available again with its next reading", () => {
  const neverRead = withUnavailable(initialFigures(start), "catalog", start);
  assert.equal(neverRead.products, null);
  assert.deepEqual(neverRead.unavailable, ["catalog"]);
  const back = withReading(neverRead, "catalog", { products: 5, categories: 1, brands: 1 }, later);
  assert.deepEqual(back.unavailable, []);
  assert.equal(back.products, 5);
  const down = withUnavailable(everyRead(), "order", later);
  const sameAsBefore = withReading(down, "order", { orders }, later);
  assert.notEqual(sameAsBefore, down, "coming back is a change even with the same counts");
  assert.deepEqual(sameAsBefore.unavailable, []);
});

Deno.test("figures are the same when every figure and the availability are, whatever the time", () => {
  const figures = everyRead();
  assert.ok(sameFigures(figures, { ...figures, updatedAt: later.toISOString() }));
  assert.ok(!sameFigures(figures, { ...figures, orders: { ...orders, shipped: 4 } }));
  assert.ok(!sameFigures(figures, { ...figures, orders: null }));
  assert.ok(!sameFigures(figures, { ...figures, unavailable: ["comment"] }));
  assert.ok(!sameFigures(figures, { ...figures, brands: 5 }));
});

Deno.test("events name the source to read again, or none when no figure shown can have changed", () => {
  const product = {
    productId: "p1",
    name: "Linen shirt",
    slug: "linen-shirt",
    price: { amount: 4900, currency: "USD" },
    status: "active" as const,
    categoryId: "c1",
    brandId: null,
    image: null,
  };
  assert.equal(affectedSource({ type: "catalog.product.created", payload: product }), "catalog");
  assert.equal(affectedSource({ type: "catalog.product.deleted", payload: { productId: "p1" } }), "catalog");
  assert.equal(
    affectedSource({
      type: "order.status_changed",
      payload: {
        orderId: "o1",
        userId: "u1",
        status: "shipped",
        previousStatus: "confirmed",
        cancellationReason: null,
      },
    }),
    "order",
  );
  const review = (status: "pending" | "approved" | "rejected", previousStatus: typeof status | null) => ({
    type: "comment.review.status_changed" as const,
    payload: { reviewId: "r1", productId: "p1", userId: "u1", status, previousStatus },
  });
  assert.equal(affectedSource(review("pending", null)), "comment", "submitted");
  assert.equal(affectedSource(review("approved", "pending")), "comment", "moderated");
  assert.equal(affectedSource(review("rejected", "approved")), undefined, "pending count unchanged");
  const message = { messageId: "m1", senderId: "u1" };
  assert.equal(
    affectedSource({ type: "message.sent", payload: { ...message, receiverId: "support" } }),
    "message",
  );
  assert.equal(
    affectedSource({ type: "message.read", payload: { ...message, receiverId: "support", readerId: "a1" } }),
    "message",
  );
  assert.equal(
    affectedSource({ type: "message.sent", payload: { ...message, receiverId: "u2" } }),
    undefined,
  );
  assert.equal(
    affectedSource({ type: "message.read", payload: { ...message, receiverId: "u2", readerId: "u2" } }),
    undefined,
  );
});
