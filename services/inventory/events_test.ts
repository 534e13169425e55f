/**
 * The inventory's messages on the in-process bus, as the order service and the catalog will send
 * them: each checkout command answered by its reply event, redeliveries answered again without a
 * second effect, the catalog's products creating and retiring stock, and the expiry sweep.
 */
import assert from "node:assert/strict";
import { catalogEvents } from "@multishop/kit/contracts/catalog";
import { inventoryMessages } from "@multishop/kit/contracts/checkout";
import { memoryLogger } from "@multishop/kit/log";
import { postgresTargets } from "@multishop/kit/testing";
import type { z } from "zod";
import { inventoryQueue } from "./events.ts";
import {
  eventually,
  newOrderId,
  newProductId,
  startTestInventory,
  type TestInventory,
} from "./test_support.ts";

type Command = "inventory.reserve" | "inventory.commit" | "inventory.release" | "inventory.return";

/** Sends a checkout command as the order service will; the same `id` twice is a redelivery. */
const send = <T extends Command>(
  service: TestInventory,
  type: T,
  payload: z.input<(typeof inventoryMessages)[T]>,
  id?: string,
) => service.bus.publish(type, inventoryMessages[type], payload, { id, correlationId: payload.orderId });

const repliesTo = (service: TestInventory, orderId: string) =>
  service.replies.filter((reply) => reply.correlationId === orderId);

const product = (productId: string) => ({
  productId,
  name: "Linen shirt",
  slug: `linen-shirt-${productId.slice(0, 8)}`,
  price: { amount: 4_900, currency: "USD" },
  status: "active" as const,
  categoryId: crypto.randomUUID(),
  brandId: null,
  image: null,
});

for (const target of await postgresTargets()) {
  Deno.test(
    { name: `inventory messages on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) },
    async (t) => {
      const logger = memoryLogger("inventory");
      const service = await startTestInventory(target, { logger });
      const { inventory, store } = service;
      const stocked = async (onHand: number) => {
        const productId = newProductId();
        await inventory.setOnHand(productId, onHand);
        return productId;
      };
      const reservedOf = async (productId: string) => (await store.stockLevel(productId))!.reserved;
      const onHandOf = async (productId: string) => (await store.stockLevel(productId))!.onHand;
      /** How many times the service has handled the message with this id. */
      const handled = (messageId: string) =>
        logger.lines.filter((line) => line.message === "message handled" && line.messageId === messageId)
          .length;
      const publishCatalog = <T extends "catalog.product.created" | "catalog.product.deleted">(
        type: T,
        payload: z.input<(typeof catalogEvents)[T]>,
        id?: string,
      ) => service.bus.publish(type, catalogEvents[type], payload, { id });
      const awaitReplies = (orderId: string, count: number) =>
        eventually(() => repliesTo(service, orderId).length >= count, `${count} replies for ${orderId}`);

      try {
        await t.step(
          "reserve answers inventory.reserved, correlated with the order, caused by the command",
          async () => {
            const productId = await stocked(5);
            const orderId = newOrderId();
            const command = await send(service, "inventory.reserve", {
              orderId,
              lines: [{ productId, quantity: 2 }],
            });
            await awaitReplies(orderId, 1);
            const [reply] = repliesTo(service, orderId);
            assert.equal(reply.type, "inventory.reserved");
            assert.deepEqual(reply.payload, { orderId });
            assert.equal(reply.correlationId, orderId);
            assert.equal(reply.causationId, command.id);
            assert.equal(await reservedOf(productId), 2);
          },
        );

        await t.step(
          "a reserve that cannot be covered answers reservation_failed naming the products",
          async () => {
            const plenty = await stocked(5);
            const scarce = await stocked(1);
            const orderId = newOrderId();
            await send(service, "inventory.reserve", {
              orderId,
              lines: [{ productId: plenty, quantity: 1 }, { productId: scarce, quantity: 2 }],
            });
            await awaitReplies(orderId, 1);
            const [reply] = repliesTo(service, orderId);
            assert.equal(reply.type, "inventory.reservation_failed");
            assert.deepEqual(reply.payload, { orderId, reason: "out_of_stock", productIds: [scarce] });
            assert.equal(await reservedOf(plenty), 0, "all lines or none");
          },
        );

        await t.step("a redelivered reserve has one effect and gets the same reply again", async () => {
          const productId = await stocked(10);
          const orderId = newOrderId();
          const commandId = crypto.randomUUID();
          const lines = [{ productId, quantity: 3 }];
          // Delivered twice at once, then once more later.
          await Promise.all([
            send(service, "inventory.reserve", { orderId, lines }, commandId),
            send(service, "inventory.reserve", { orderId, lines }, commandId),
          ]);
          await awaitReplies(orderId, 2);
          await send(service, "inventory.reserve", { orderId, lines }, commandId);
          await awaitReplies(orderId, 3);
          const replies = repliesTo(service, orderId);
          assert.ok(replies.every((r) => r.type === "inventory.reserved" && r.causationId === commandId));
          assert.equal(
            new Set(replies.map((r) => r.id)).size,
            1,
            "the same reply id, so an inbox drops repeats",
          );
          assert.equal(await reservedOf(productId), 3);
        });

        await t.step("commit and release answer committed and released, once in effect each", async () => {
          const productId = await stocked(10);
          const confirmed = newOrderId();
          const cancelled = newOrderId();
          await inventory.reserve(confirmed, [{ productId, quantity: 2 }]);
          await inventory.reserve(cancelled, [{ productId, quantity: 3 }]);

          const commit = crypto.randomUUID();
          const release = crypto.randomUUID();
          await send(service, "inventory.commit", { orderId: confirmed }, commit);
          await send(service, "inventory.commit", { orderId: confirmed }, commit);
          await send(service, "inventory.release", { orderId: cancelled }, release);
          await send(service, "inventory.release", { orderId: cancelled }, release);
          await awaitReplies(confirmed, 2);
          await awaitReplies(cancelled, 2);
          for (const reply of repliesTo(service, confirmed)) {
            assert.deepEqual([reply.type, reply.payload, reply.causationId], [
              "inventory.committed",
              { orderId: confirmed },
              commit,
            ]);
          }
          for (const reply of repliesTo(service, cancelled)) {
            assert.deepEqual([reply.type, reply.payload, reply.causationId], [
              "inventory.released",
              { orderId: cancelled },
              release,
            ]);
          }
          assert.equal(await onHandOf(productId), 8);
          assert.equal(await reservedOf(productId), 0);
        });

        await t.step("return puts a cancelled confirmed order's units back on the shelf, once", async () => {
          const productId = await stocked(10);
          const orderId = newOrderId();
          await inventory.reserve(orderId, [{ productId, quantity: 4 }]);
          await inventory.commit(orderId);
          assert.equal(await onHandOf(productId), 6);
          const giveBack = crypto.randomUUID();
          await send(service, "inventory.return", { orderId }, giveBack);
          await send(service, "inventory.return", { orderId }, giveBack);
          await send(service, "inventory.return", { orderId });
          await awaitReplies(orderId, 3);
          assert.deepEqual(
            new Set(repliesTo(service, orderId).map((reply) => reply.type)),
            new Set(["inventory.returned"]),
          );
          assert.equal(await onHandOf(productId), 10);
          assert.equal(await reservedOf(productId), 0);
        });

        await t.step(
          "releasing an order that reserved nothing answers released: compensation always ends",
          async () => {
            const orderId = newOrderId();
            await send(service, "inventory.release", { orderId });
            await awaitReplies(orderId, 1);
            assert.equal(repliesTo(service, orderId)[0].type, "inventory.released");
          },
        );

        await t.step("a command the reservation refuses gets no reply and is not retried", async () => {
          const productId = await stocked(5);
          const orderId = newOrderId();
          await inventory.reserve(orderId, [{ productId, quantity: 1 }]);
          await inventory.commit(orderId);
          const before = logger.lines.length;
          const logged = (text: string) =>
            logger.lines.slice(before).filter((line) => String(line.message).includes(text));
          await send(service, "inventory.release", { orderId });
          await send(service, "inventory.commit", { orderId: newOrderId() });
          await eventually(() => logged("command refused").length === 2, "both refusals to be logged");
          assert.deepEqual(
            logged("command refused").map((line) => `${line.level} ${line.kind}`).sort(),
            ["error committed", "error not_found"],
          );
          assert.deepEqual(repliesTo(service, orderId).map((r) => r.type), []);
          assert.equal(await onHandOf(productId), 4, "the committed unit stays sold");
          assert.deepEqual(logged("retrying"), []);
          assert.deepEqual(service.bus.deadLetters(inventoryQueue), []);
        });

        await t.step("a command that breaks the contract is dead-lettered, not answered", async () => {
          await service.bus.publish("inventory.reserve", catalogEvents["catalog.product.deleted"], {
            productId: "not an order",
          });
          await eventually(() => service.bus.deadLetters(inventoryQueue).length === 1, "the dead letter");
          assert.equal(service.bus.deadLetters(inventoryQueue)[0].envelope.type, "inventory.reserve");
        });

        await t.step("catalog.product.created makes a stock record with nothing on hand, once", async () => {
          const productId = newProductId();
          const created = await publishCatalog("catalog.product.created", product(productId));
          await eventually(() => handled(created.id) === 1, "the creation to be handled");
          assert.deepEqual(await inventory.availability([productId]), [{
            productId,
            available: 0,
            inStock: false,
          }]);
          await inventory.setOnHand(productId, 7);
          await publishCatalog("catalog.product.created", product(productId), created.id);
          await eventually(() => handled(created.id) === 2, "the redelivery to be handled");
          assert.equal(await onHandOf(productId), 7, "the count an admin set in the meantime stays");
        });

        await t.step("catalog.product.deleted retires the stock: nothing more can be reserved", async () => {
          const productId = await stocked(10);
          const held = newOrderId();
          await inventory.reserve(held, [{ productId, quantity: 2 }]);
          const deleted = await publishCatalog("catalog.product.deleted", { productId });
          await eventually(() => handled(deleted.id) === 1, "the deletion to be handled");
          assert.equal((await store.stockLevel(productId))!.retired, true);

          const orderId = newOrderId();
          await send(service, "inventory.reserve", { orderId, lines: [{ productId, quantity: 1 }] });
          await awaitReplies(orderId, 1);
          assert.deepEqual(repliesTo(service, orderId)[0].payload, {
            orderId,
            reason: "out_of_stock",
            productIds: [productId],
          });
          assert.equal((await inventory.commit(held)).status, "committed", "what was held can still be sold");
          const { onHand, reserved } = (await store.stockLevel(productId))!;
          assert.deepEqual([onHand, reserved], [8, 0]);
        });

        await t.step("a deletion that arrives before the creation is not undone by it", async () => {
          const productId = newProductId();
          const deleted = await publishCatalog("catalog.product.deleted", { productId });
          await eventually(() => handled(deleted.id) === 1, "the deletion to be handled");
          const created = await publishCatalog("catalog.product.created", product(productId));
          await eventually(() => handled(created.id) === 1, "the creation to be handled");
          assert.equal((await store.stockLevel(productId))!.retired, true);
          assert.deepEqual(await inventory.availability([productId]), [{
            productId,
            available: 0,
            inStock: false,
          }]);
        });
      } finally {
        await service.close();
      }
    },
  );

  Deno.test(
    { name: `the expiry sweep on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) },
    async () => {
      const service = await startTestInventory(target, {
        env: { RESERVATION_SWEEP_SECONDS: "1", RESERVATION_TTL_SECONDS: "60" },
      });
      try {
        const productId = newProductId();
        await service.inventory.setOnHand(productId, 3);
        const forgotten = newOrderId();
        await service.inventory.reserve(forgotten, [{ productId, quantity: 3 }]);
        service.setClock(new Date(Date.now() + 60_000));
        await eventually(() => repliesTo(service, forgotten).length === 1, "the expiry to be announced");
        const [event] = repliesTo(service, forgotten);
        assert.deepEqual([event.type, event.payload, event.causationId], [
          "inventory.released",
          { orderId: forgotten },
          undefined,
        ]);
        assert.equal((await service.store.stockLevel(productId))!.reserved, 0);
        assert.equal((await service.store.findReservation(forgotten))!.status, "released");
      } finally {
        await service.close();
      }
    },
  );
}
