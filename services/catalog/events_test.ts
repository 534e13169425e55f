/**
 * The catalog's events are durable: they survive a broker outage and a catalog stopped between the
 * write and the publish, on both stores, through the in-process bus and a real RabbitMQ (which the
 * catalog reaches through a TCP proxy that the test cuts). The basket's real handler receives them.
 */
import assert from "node:assert/strict";
import { createLogger } from "@multishop/kit/log";
import type { Envelope } from "@multishop/kit/messaging";
import { type CuttableBus, cuttableBusTargets, waitFor } from "@multishop/kit/testing";
import { createBasketService } from "../basket/basket.ts";
import { consumeBasketEvents } from "../basket/events.ts";
import { createMemoryBasketStore } from "../basket/store/memory.ts";
import { loadCatalogConfig } from "./config.ts";
import type { Product } from "./domain/model.ts";
import { startCatalog } from "./main.ts";
import { catalogStoreTargets, category } from "./test_support.ts";

const logger = createLogger("catalog", "silent");
const config = loadCatalogConfig({ LOG_LEVEL: "silent" });

/** The basket's use cases and event handler, on its in-process store, subscribed on `queue`. */
async function startBasket(bus: CuttableBus, queue: string, products: () => Product) {
  const basket = createBasketService({
    store: createMemoryBasketStore({ ttlSeconds: 3600 }),
    // The basket reads a product over HTTP when a line is added; here it reads the catalog's own.
    catalog: {
      product: () => {
        const product = products();
        return Promise.resolve({
          productId: product.id,
          name: product.name,
          unitPrice: product.price,
          image: null,
          available: product.status === "active",
          catalogAsOf: product.updatedAt.toISOString(),
        });
      },
    },
    discounts: { validate: () => Promise.reject(new Error("no coupons in this test")) },
    clock: () => new Date(),
    currency: "USD",
    logger,
  });
  const received: Envelope[] = [];
  await consumeBasketEvents({
    subscribe: (_, pattern, handler) =>
      bus.subscriber.subscribe(queue, pattern, async (envelope) => {
        received.push(envelope);
        await handler(envelope);
      }),
  }, basket);
  return { basket, received };
}

const price = (amount: number) => ({ amount, currency: "USD" });

for (const storeTarget of await catalogStoreTargets()) {
  for (const busTarget of await cuttableBusTargets(logger)) {
    Deno.test({
      name: `catalog events are durable: ${storeTarget.name} store, ${busTarget.name}`,
      ignore: Boolean(storeTarget.skip || busTarget.skip),
    }, async (t) => {
      const opened = await storeTarget.open();
      const bus = await busTarget.open();
      const stops: (() => Promise<void>)[] = [];
      const start = async (store = opened.store) => {
        const catalog = await startCatalog(config, { store, events: bus.publisher, logger });
        stops.push(catalog.close);
        return catalog;
      };
      try {
        const first = await start();
        const lamps = await first.catalog.createCategory({
          ...category("Lamps"),
          slug: `lamps-${crypto.randomUUID().slice(0, 6)}`,
          image: null,
        });
        let lamp = await first.catalog.createProduct({
          name: "Desk Lamp",
          description: "Bright",
          info: "",
          images: [],
          price: price(3000),
          categoryId: lamps.id,
          brandId: null,
          attributes: [],
          status: "active",
        });
        const userId = crypto.randomUUID();
        const { basket, received } = await startBasket(bus, bus.queue("basket"), () => lamp);
        await basket.setItem(userId, lamp.id, 2);
        const basketPrice = async () => (await basket.view(userId)).lines[0].unitPrice.amount;

        await t.step(
          "with the broker away, a price change made now reaches the basket once it is back",
          async () => {
            bus.cut();
            lamp = await first.catalog.updateProduct(lamp.id, { price: price(2500) });
            await new Promise((resolve) => setTimeout(resolve, 300));
            assert.equal(await basketPrice(), 3000, "nothing can arrive while the broker is away");

            bus.restore();
            const priceChanges = () => received.filter((e) => e.type === "catalog.product.price_changed");
            await waitFor("the price change at the basket", () => priceChanges().length > 0, 20_000);
            assert.equal(await basketPrice(), 2500);
            const priceChanged = priceChanges();
            assert.equal(priceChanged.length, 1);
            assert.deepEqual(priceChanged[0].payload, {
              productId: lamp.id,
              oldPrice: price(3000),
              newPrice: price(2500),
            });
            assert.equal(priceChanged[0].occurredAt, lamp.updatedAt.toISOString(), "the change's own time");
          },
        );

        await t.step(
          "a catalog stopped between the write and the publish publishes after a restart",
          async () => {
            // The relay is stopped first, so the write below stores its events and nothing publishes them:
            // what a process killed right after the write leaves behind.
            await first.close();
            lamp = await first.catalog.updateProduct(lamp.id, { price: price(1999) });
            await new Promise((resolve) => setTimeout(resolve, 300));
            assert.equal(await basketPrice(), 2500);
            await opened.store.close();

            await start(await opened.reopen());
            const prices = () => received.filter((e) => e.type === "catalog.product.price_changed");
            await waitFor("the second price change at the basket", () => prices().length === 2, 20_000);
            assert.equal(await basketPrice(), 1999);
            assert.deepEqual(
              prices().map((e) => (e.payload as { newPrice: { amount: number } }).newPrice.amount),
              [
                2500,
                1999,
              ],
            );
          },
        );
      } finally {
        for (const stop of stops) await stop();
        await bus.cleanUp();
        await opened.close();
      }
    });
  }
}
