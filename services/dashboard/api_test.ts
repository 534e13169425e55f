/**
 * The dashboard through HTTP: its five sources are real HTTP servers that want its client token, its
 * events come over the in-process bus and over a real RabbitMQ, and its streams are read as a
 * browser's EventSource reads them.
 */
import assert from "node:assert/strict";
import { amqpTarget, waitFor } from "@multishop/kit/testing";
import { figuresOnly, firstAnswers, firstFigures, startTestDashboard } from "./test_support.ts";

const rabbit = await amqpTarget();

const product = {
  productId: "product-31",
  name: "Linen shirt",
  slug: "linen-shirt",
  price: { amount: 4_900, currency: "USD" },
  status: "active" as const,
  categoryId: "category-1",
  brandId: null,
  image: null,
};

for (const bus of [{ name: "the in-process bus" }, { name: "RabbitMQ", rabbit }]) {
  Deno.test({
    name: `dashboard figures, live, on ${bus.name}`,
    ignore: Boolean(bus.rabbit?.skip),
  }, async (t) => {
    const shop = await startTestDashboard({ amqpUrl: bus.rabbit?.url() });
    const admin = await shop.tokens.admin();
    /** Hangs up, and waits until the dashboard has seen it: no watch outlives its stream. */
    const hangUp = async (stream: { close(): Promise<void> }) => {
      await stream.close();
      await waitFor("the closed stream to stop watching", () => shop.dashboard.watching() === 0);
    };
    try {
      await t.step("admins only: anonymous callers 401, customers and client tokens 403", async () => {
        const customer = await shop.tokens.customer();
        const client = await shop.tokens.client("dashboard", ["stats:read"]);
        for (const path of ["/v1/admin/dashboard", "/v1/admin/dashboard/events"]) {
          assert.equal((await shop.call(path)).status, 401, path);
          const refused = await shop.call(path, customer);
          assert.equal(refused.status, 403, path);
          assert.equal(refused.body.detail, "this operation needs the admin role");
          assert.equal((await shop.call(path, client)).status, 403, `${path} with a client token`);
        }
      });

      await t.step("the figures, read from every source", async () => {
        const { status, headers, body } = await shop.call("/v1/admin/dashboard", admin);
        assert.equal(status, 200);
        assert.equal(headers.get("cache-control"), "no-store");
        assert.deepEqual(figuresOnly(body), firstFigures);
        assert.ok(!Number.isNaN(Date.parse(body.updatedAt)), "updatedAt is a timestamp");
      });

      await t.step("the stream opens with the figures and follows an order's status change", async () => {
        const stream = await shop.openStream(admin);
        assert.equal(stream.status, 200);
        assert.match(stream.headers.get("content-type") ?? "", /^text\/event-stream/);
        assert.deepEqual(figuresOnly(await stream.nextFigures()), firstFigures);

        const orders = { pending: 0, confirmed: 5, shipped: 3, delivered: 10, cancelled: 2 };
        shop.sources.order.answer(orders);
        await shop.publish("order.status_changed", {
          orderId: "order-1",
          userId: "user-1",
          status: "confirmed",
          previousStatus: "pending",
          cancellationReason: null,
        });
        assert.deepEqual(figuresOnly(await stream.nextFigures()), { ...firstFigures, orders });
        assert.deepEqual(figuresOnly((await shop.call("/v1/admin/dashboard", admin)).body), {
          ...firstFigures,
          orders,
        });

        await hangUp(stream);
      });

      await t.step("a quiet stream sends keep-alive comments", async () => {
        const stream = await shop.openStream(admin);
        await stream.nextFigures();
        assert.equal((await stream.next())?.comment, "keep-alive");
        await hangUp(stream);
      });

      await t.step("a source that is down is listed as unavailable, and the stream goes on", async () => {
        const stream = await shop.openStream(admin);
        const before = figuresOnly(await stream.nextFigures());
        await shop.sources.message.stop();
        await shop.publish("message.sent", { messageId: "m-1", senderId: "user-1", receiverId: "support" });
        assert.deepEqual(
          figuresOnly(await stream.nextFigures()),
          { ...before, unavailable: ["message"] },
          "the unread count stays as last read",
        );

        shop.sources.catalog.answer({ ...firstAnswers.catalog as object, products: 31 });
        await shop.publish("catalog.product.created", product);
        const after = { ...before, products: 31, unavailable: ["message"] };
        assert.deepEqual(figuresOnly(await stream.nextFigures()), after);
        assert.deepEqual(figuresOnly((await shop.call("/v1/admin/dashboard", admin)).body), after);
        await hangUp(stream);
      });

      await t.step("an admin holds at most 5 streams; hanging one up frees its slot", async () => {
        const streams = [];
        for (let i = 0; i < 5; i++) {
          const stream = await shop.openStream(admin);
          assert.equal(stream.status, 200);
          assert.equal(stream.headers.get("cache-control"), "no-store");
          await stream.nextFigures();
          streams.push(stream);
        }
        const refused = await shop.openStream(admin);
        assert.equal(refused.status, 429);
        assert.equal(refused.headers.get("retry-after"), "10");
        assert.equal(refused.headers.get("content-type"), "application/problem+json");
        await refused.close();
        assert.equal(shop.dashboard.watching(), 5, "the refused stream watches nothing");

        const otherAdmin = await shop.openStream(await shop.tokens.admin());
        assert.equal(otherAdmin.status, 200, "another admin's streams are counted apart");
        await otherAdmin.nextFigures();
        await otherAdmin.close();

        await streams.pop()!.close();
        await waitFor("the closed stream to stop watching", () => shop.dashboard.watching() === 4);
        const again = await shop.openStream(admin);
        assert.equal(again.status, 200, "the slot is free again");
        await again.nextFigures();
        streams.push(again);
        for (const stream of streams) await stream.close();
        await waitFor("every stream to stop watching", () => shop.dashboard.watching() === 0);
      });

      await t.step("every open stream is told; shutting the dashboard down ends them", async () => {
        const streams = [await shop.openStream(admin), await shop.openStream(admin)];
        for (const stream of streams) await stream.nextFigures();
        assert.equal(shop.dashboard.watching(), 2);
        shop.sources.comment.answer({ approved: 12, pending: 4, rejected: 1, total: 17 });
        await shop.publish("comment.review.status_changed", {
          reviewId: "review-17",
          productId: product.productId,
          userId: "user-2",
          status: "pending",
          previousStatus: null,
        });
        for (const stream of streams) assert.equal((await stream.nextFigures()).pendingReviews, 4);

        await shop.closeDashboard();
        for (const stream of streams) await stream.ended();
        assert.equal(shop.dashboard.watching(), 0);
      });
    } finally {
      await shop.close();
    }
  });
}

Deno.test("sources that are down, refuse the client or answer nonsense are unavailable until they answer", async () => {
  const shop = await startTestDashboard({
    down: ["identity"],
    answers: { catalog: { products: "many", categories: 6, brands: 5 } },
    failing: { comment: 503, message: 403 },
  });
  const admin = await shop.tokens.admin();
  try {
    const { status, body } = await shop.call("/v1/admin/dashboard", admin);
    assert.equal(status, 200);
    assert.deepEqual(figuresOnly(body), {
      users: null,
      products: null,
      categories: null,
      brands: null,
      orders: firstFigures.orders,
      pendingReviews: null,
      unreadSupportMessages: null,
      unavailable: ["identity", "catalog", "comment", "message"],
    });

    const stream = await shop.openStream(admin);
    await stream.nextFigures();
    shop.sources.comment.answer(firstAnswers.comment);
    await shop.publish("comment.review.status_changed", {
      reviewId: "review-1",
      productId: product.productId,
      userId: "user-1",
      status: "approved",
      previousStatus: "pending",
    });
    const recovered = await stream.nextFigures();
    assert.equal(recovered.pendingReviews, firstFigures.pendingReviews);
    assert.deepEqual(recovered.unavailable, ["identity", "catalog", "message"]);
    await stream.close();
  } finally {
    await shop.close();
  }
});
