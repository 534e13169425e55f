/**
 * The inventory's messages on the in-process bus, as the order service and the catalog send them:
 * each checkout command answered by its reply event, written to the outbox with the change; a
 * redelivered command skipped by the inbox; a command repeated under a new id answered again; the
 * catalog's products creating and retiring stock; and the expiry sweep.
 */
import assert from "node:assert/strict";
import { catalogEvents } from "@multishop/kit/contracts/catalog";
import { inventoryMessages } from "@multishop/kit/contracts/checkout";
import { memoryLogger } from "@multishop/kit/log";
import { postgresTargets } from "@multishop/kit/testing";
import type { z } from "zod";
import { inventoryQueue } from "./inventory.ts";
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
      const logged = (message: string, messageId: string) =>
        logger.lines.filter((line) => line.message === message && line.messageId === messageId).length;
      /** How many times the service has handled the message with this id. */
      const handled = (messageId: string) => logged("message handled", messageId);
      /** How many deliveries of the message with this id the inbox turned away. */
      const skipped = (messageId: string) => logged("message handled before; skipped", messageId);
      /** What the service wrote to its outbox about the order, oldest first. */
      const outboxOf = async (orderId: string) => {
        const rows = await service.sql<
          { id: string; type: string; causation_id: string | null; published: boolean }[]
        >`
          select id, type, causation_id, published_at is not null as published
          from outbox where correlation_id = ${orderId} order by seq`;
        return Array.from(rows, (row) => ({ ...row }));
      };
      const inInbox = async (messageId: string) =>
        (await service.sql`select 1 from inbox where message_id = ${messageId}`).length > 0;
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

        await t.step(
          "a redelivered reserve has one effect and one reply; nothing more is written",
          async () => {
            const productId = await stocked(10);
            const orderId = newOrderId();
            const commandId = crypto.randomUUID();
            const lines = [{ productId, quantity: 3 }];
            // Delivered twice at once, then once more later.
            await Promise.all([
              send(service, "inventory.reserve", { orderId, lines }, commandId),
              send(service, "inventory.reserve", { orderId, lines }, commandId),
            ]);
            await eventually(
              () => handled(commandId) === 1 && skipped(commandId) === 1,
              "one of the two handled",
            );
            await send(service, "inventory.reserve", { orderId, lines }, commandId);
            await eventually(() => skipped(commandId) === 2, "the later redelivery skipped");
            await awaitReplies(orderId, 1);
            const [reply] = repliesTo(service, orderId);
            assert.deepEqual([reply.type, reply.causationId], ["inventory.reserved", commandId]);
            assert.deepEqual(
              (await outboxOf(orderId)).map((row) => [row.id, row.type]),
              [[reply.id, "inventory.reserved"]],
              "one reply written, and it is the one that went out",
            );
            assert.equal(repliesTo(service, orderId).length, 1);
            assert.equal(await reservedOf(productId), 3);
          },
        );

        await t.step(
          "a command repeated under a new id gets the first one's answer again, under an id of its own",
          async () => {
            const productId = await stocked(10);
            const scarce = await stocked(1);
            const confirmed = newOrderId();
            const refused = newOrderId();
            const lines = [{ productId, quantity: 2 }];
            const tooMany = [{ productId: scarce, quantity: 2 }];
            const first = [
              await send(service, "inventory.reserve", { orderId: confirmed, lines }),
              await send(service, "inventory.reserve", { orderId: refused, lines: tooMany }),
            ];
            await awaitReplies(confirmed, 1);
            await awaitReplies(refused, 1);
            await inventory.setOnHand(scarce, 5);
            // The order service repeats the step after a restart: the same command, a new id.
            const again = [
              await send(service, "inventory.reserve", { orderId: confirmed, lines }),
              await send(service, "inventory.reserve", { orderId: refused, lines: tooMany }),
            ];
            await awaitReplies(confirmed, 2);
            await awaitReplies(refused, 2);
            for (const [index, orderId] of [confirmed, refused].entries()) {
              const replies = repliesTo(service, orderId);
              assert.deepEqual(replies[1].payload, replies[0].payload, "the same answer");
              assert.equal(replies[1].type, replies[0].type);
              assert.deepEqual(
                replies.map((reply) => reply.causationId),
                [first[index].id, again[index].id],
              );
              assert.notEqual(
                replies[1].id,
                replies[0].id,
                "a reply of its own, which the order's inbox takes",
              );
            }
            assert.equal(repliesTo(service, refused)[1].type, "inventory.reservation_failed");
            assert.equal(await reservedOf(productId), 2, "held once");
            assert.equal(await reservedOf(scarce), 0, "a failed reserve stays failed");

            const commit = await send(service, "inventory.commit", { orderId: confirmed });
            await awaitReplies(confirmed, 3);
            const commitAgain = await send(service, "inventory.commit", { orderId: confirmed });
            await awaitReplies(confirmed, 4);
            assert.deepEqual(
              repliesTo(service, confirmed).slice(2).map((reply) => [reply.type, reply.causationId]),
              [["inventory.committed", commit.id], ["inventory.committed", commitAgain.id]],
            );
            assert.equal(await onHandOf(productId), 8, "committed once");
          },
        );

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
          await eventually(() => skipped(commit) === 1 && skipped(release) === 1, "the redeliveries skipped");
          await awaitReplies(confirmed, 1);
          await awaitReplies(cancelled, 1);
          assert.deepEqual(
            repliesTo(service, confirmed).map((reply) => [reply.type, reply.payload, reply.causationId]),
            [["inventory.committed", { orderId: confirmed }, commit]],
          );
          assert.deepEqual(
            repliesTo(service, cancelled).map((reply) => [reply.type, reply.payload, reply.causationId]),
            [["inventory.released", { orderId: cancelled }, release]],
          );
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
          await eventually(() => skipped(giveBack) === 1, "the redelivery skipped");
          await send(service, "inventory.return", { orderId });
          await awaitReplies(orderId, 2);
          assert.deepEqual(
            repliesTo(service, orderId).map((reply) => reply.type),
            ["inventory.returned", "inventory.returned"],
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
          const loggedSince = (text: string) =>
            logger.lines.slice(before).filter((line) => String(line.message).includes(text));
          const stranger = newOrderId();
          const release = await send(service, "inventory.release", { orderId });
          const commit = await send(service, "inventory.commit", { orderId: stranger });
          await eventually(() => loggedSince("command refused").length === 2, "both refusals to be logged");
          assert.deepEqual(
            loggedSince("command refused").map((line) => `${line.level} ${line.kind}`).sort(),
            ["error committed", "error not_found"],
          );
          assert.deepEqual(repliesTo(service, orderId).map((r) => r.type), []);
          assert.deepEqual(await outboxOf(orderId), [], "no reply written");
          assert.deepEqual(await outboxOf(stranger), []);
          assert.equal(await inInbox(release.id), false, "the refusal's transaction left nothing behind");
          assert.equal(await inInbox(commit.id), false);
          assert.equal(await onHandOf(productId), 4, "the committed unit stays sold");
          assert.deepEqual(loggedSince("retrying"), []);
          assert.deepEqual(service.bus.deadLetters(inventoryQueue), []);
        });

        await t.step("a command that breaks the contract is dead-lettered, not answered", async () => {
          await service.bus.publish("inventory.reserve", catalogEvents["catalog.product.deleted"], {
            productId: "not an order",
          });
          await eventually(() => service.bus.deadLetters(inventoryQueue).length === 1, "the dead letter");
          assert.equal(service.bus.deadLetters(inventoryQueue)[0].envelope.type, "inventory.reserve");
        });

        await t.step(
          "with the broker away, the reservation and its reply both stay; the reply goes out once it is back",
          async () => {
            const productId = await stocked(5);
            const orderId = newOrderId();
            const before = logger.lines.length;
            service.setBrokerAway(true);
            let command;
            try {
              command = await send(service, "inventory.reserve", {
                orderId,
                lines: [{ productId, quantity: 2 }],
              });
              await eventually(
                () =>
                  logger.lines.slice(before).some((line) =>
                    String(line.message).startsWith("outbox relay could not publish")
                  ),
                "the relay to try and fail",
              );
              assert.equal(await reservedOf(productId), 2, "the reservation is made");
              assert.deepEqual(
                (await outboxOf(orderId)).map((row) => [row.type, row.causation_id, row.published]),
                [["inventory.reserved", command.id, false]],
                "its reply waits in the outbox",
              );
              assert.deepEqual(repliesTo(service, orderId), []);
            } finally {
              service.setBrokerAway(false);
            }
            // The relay tries again after a second.
            await eventually(() => repliesTo(service, orderId).length === 1, "the reply to go out", 10_000);
            const [reply] = repliesTo(service, orderId);
            assert.deepEqual([reply.type, reply.payload, reply.causationId], [
              "inventory.reserved",
              { orderId },
              command.id,
            ]);
            // The relay marks the row sent after the broker confirms it, so the reply can be seen first.
            await eventually(
              async () => (await outboxOf(orderId)).every((row) => row.published),
              "the reply's outbox row marked sent",
            );
            assert.equal((await outboxOf(orderId)).length, 1);
            assert.equal(await reservedOf(productId), 2);
          },
        );

        await t.step(
          "a command whose reply cannot be written leaves no change; handled again, it has both",
          async () => {
            // The database itself refuses the reply, after the reservation was made in the transaction.
            await service.sql.unsafe(`
              create function refuse_outbox_rows() returns trigger language plpgsql as $$
              begin raise exception 'the outbox refuses rows in this test'; end $$;
              create trigger refuse_outbox_rows before insert on outbox
              for each row execute function refuse_outbox_rows();`);
            const productId = await stocked(5);
            const orderId = newOrderId();
            const lines = [{ productId, quantity: 2 }];
            let command;
            try {
              command = await send(service, "inventory.reserve", { orderId, lines });
              await eventually(
                () =>
                  service.bus.deadLetters(inventoryQueue).some((letter) =>
                    letter.envelope.id === command!.id
                  ),
                "the command to fail every try",
              );
            } finally {
              await service.sql.unsafe(`
                drop trigger refuse_outbox_rows on outbox;
                drop function refuse_outbox_rows();`);
            }
            assert.equal(await reservedOf(productId), 0, "the reservation rolled back with its reply");
            assert.equal(await store.findReservation(orderId), undefined);
            assert.deepEqual(await outboxOf(orderId), []);
            assert.equal(await inInbox(command.id), false, "not recorded as handled, so it is handled again");
            assert.deepEqual(repliesTo(service, orderId), []);

            await send(service, "inventory.reserve", { orderId, lines }, command.id);
            await awaitReplies(orderId, 1);
            assert.deepEqual(
              repliesTo(service, orderId).map((reply) => [reply.type, reply.causationId]),
              [["inventory.reserved", command.id]],
            );
            assert.equal(await reservedOf(productId), 2);
            assert.equal(await inInbox(command.id), true);
          },
        );

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
          await eventually(() => skipped(created.id) === 1, "the redelivery to be skipped");
          assert.equal(handled(created.id), 1);
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
        await eventually(
          () => repliesTo(service, forgotten).length === 1,
          "the expiry to be announced",
          10_000,
        );
        const [event] = repliesTo(service, forgotten);
        assert.deepEqual([event.type, event.payload, event.causationId], [
          "inventory.released",
          { orderId: forgotten },
          undefined,
        ]);
        assert.equal((await service.store.stockLevel(productId))!.reserved, 0);
        assert.equal((await service.store.findReservation(forgotten))!.status, "expired");
        const written = await service.sql<{ id: string; type: string }[]>`
          select id, type from outbox where correlation_id = ${forgotten}`;
        assert.deepEqual(
          Array.from(written, (row) => ({ ...row })),
          [{ id: event.id, type: "inventory.released" }],
          "announced through the outbox",
        );

        // The order is paid for later, but another order has taken the units meanwhile.
        await service.inventory.reserve(newOrderId(), [{ productId, quantity: 1 }]);
        const commit = await send(service, "inventory.commit", { orderId: forgotten });
        await eventually(() => repliesTo(service, forgotten).length === 2, "the commit's answer", 10_000);
        const answer = repliesTo(service, forgotten)[1];
        assert.deepEqual([answer.type, answer.payload, answer.causationId], [
          "inventory.commit_failed",
          { orderId: forgotten, reason: "out_of_stock" },
          commit.id,
        ]);
        assert.deepEqual(
          [
            (await service.store.stockLevel(productId))!.onHand,
            (await service.store.stockLevel(productId))!.reserved,
          ],
          [3, 1],
        );
      } finally {
        await service.close();
      }
    },
  );
}
