/**
 * The basket's handling of catalog events over the in-process bus and a real RabbitMQ: a repeated
 * event has no second effect, and an older one that arrives late does not undo a newer one.
 */
import assert from "node:assert/strict";
import { catalogEvents } from "@multishop/kit/contracts/catalog";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus, type MessageBus } from "@multishop/kit/messaging";
import { amqpTarget, testRabbitMq, waitFor } from "@multishop/kit/testing";
import { createBasketService } from "./basket.ts";
import { consumeBasketEvents } from "./events.ts";
import { createMemoryBasketStore } from "./store/memory.ts";

const logger = createLogger("basket", "silent");
const rabbit = await amqpTarget();
const targets = [
  {
    name: "in-process bus",
    open: (): Promise<MessageBus> => Promise.resolve(createInProcessBus({ logger })),
  },
  { name: "RabbitMQ", skip: rabbit.skip, open: () => testRabbitMq(rabbit.url(), { logger }) },
];
const usd = (amount: number) => ({ amount, currency: "USD" });

for (const target of targets) {
  Deno.test({
    name: `basket consumes catalog price changes once and newest first: ${target.name}`,
    ignore: Boolean(target.skip),
  }, async () => {
    const bus = await target.open();
    try {
      const productId = crypto.randomUUID();
      const addedAt = new Date("2026-11-21T10:00:00Z");
      const basket = createBasketService({
        store: createMemoryBasketStore({ ttlSeconds: 3600 }),
        catalog: {
          product: () =>
            Promise.resolve({
              productId,
              name: "Desk Lamp",
              unitPrice: usd(3000),
              image: null,
              available: true,
              catalogAsOf: addedAt.toISOString(),
            }),
        },
        discounts: { validate: () => Promise.reject(new Error("no coupons in this test")) },
        clock: () => new Date(),
        currency: "USD",
        logger,
      });
      const handled: string[] = [];
      await consumeBasketEvents({
        subscribe: (queue, pattern, handler) =>
          bus.subscribe(queue, pattern, async (envelope) => {
            await handler(envelope);
            handled.push(envelope.id);
          }),
      }, basket);
      const userId = crypto.randomUUID();
      await basket.setItem(userId, productId, 2);
      const line = async () => (await basket.view(userId)).lines[0];

      const priceChanged = (oldPrice: number, newPrice: number, minutesLater: number, id?: string) =>
        bus.publish(
          "catalog.product.price_changed",
          catalogEvents["catalog.product.price_changed"],
          { productId, oldPrice: usd(oldPrice), newPrice: usd(newPrice) },
          { id, occurredAt: new Date(addedAt.getTime() + minutesLater * 60_000).toISOString() },
        );
      const first = await priceChanged(3000, 2500, 1);
      await priceChanged(2500, 2000, 2);
      await waitFor("both price changes", () => handled.length === 2);
      assert.equal((await line()).unitPrice.amount, 2000);

      // The first again (a relay that published it twice), then an older price that arrives late.
      await priceChanged(3000, 2500, 1, first.id);
      await priceChanged(3500, 3000, -5);
      await waitFor("the repeat and the stale one", () => handled.length === 4);
      assert.equal(handled.filter((id) => id === first.id).length, 2, "the repeat was delivered");
      const after = await line();
      assert.equal(after.unitPrice.amount, 2000, "the newest price stands");
      assert.equal(after.quantity, 2);
      assert.deepEqual((await basket.view(userId)).totals.subtotal, usd(4000));
    } finally {
      await bus.close();
    }
  });
}
