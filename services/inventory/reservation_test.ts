/**
 * Reserve, commit, release and expiry as the checkout will drive them: no overselling under
 * concurrent checkouts, all lines or none, no deadlock whatever order lines come in, and every step
 * idempotent per order. On real PostgreSQL the checkouts race on a pool of several connections;
 * PGlite serves one connection, so there they take turns.
 */
import assert from "node:assert/strict";
import { connectPostgres } from "@multishop/kit/postgres";
import { postgresTargets } from "@multishop/kit/testing";
import { type Reservation, ReservationError, type ReservationLine } from "./domain.ts";
import { newOrderId, newProductId, startTestInventory } from "./test_support.ts";

const isReservationError = (kind: ReservationError["kind"]) => (error: unknown) =>
  error instanceof ReservationError && error.kind === kind;

for (const target of await postgresTargets()) {
  Deno.test(
    { name: `reservations on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) },
    async (t) => {
      const service = await startTestInventory(target);
      const { inventory, store } = service;

      const stocked = async (onHand: number) => {
        const productId = newProductId();
        await inventory.setOnHand(productId, onHand);
        return productId;
      };
      const level = async (productId: string) => {
        const { onHand, reserved } = (await store.stockLevel(productId))!;
        return { onHand, reserved };
      };
      /** What the reservations table holds for these orders, per product, in status `reserved`. */
      const heldByOrders = async (orderIds: string[]) => {
        const held = new Map<string, number>();
        for (const orderId of orderIds) {
          const reservation = await store.findReservation(orderId);
          if (reservation?.status !== "reserved") continue;
          for (const line of reservation.lines) {
            held.set(line.productId, (held.get(line.productId) ?? 0) + line.quantity);
          }
        }
        return held;
      };

      try {
        await t.step("200 checkouts race for 50 units: exactly 50 reserved, 150 out of stock", async () => {
          const productId = await stocked(50);
          // On a real server, watch the row from another connection while the checkouts race.
          const observer = service.poolSize > 1
            ? connectPostgres(service.database.url, { max: 1, applicationName: "test-observer" })
            : undefined;
          let racing = true;
          let samples = 0;
          let lowestFree = Infinity;
          let mostConnectionsAtWork = 0;
          const watching = (async () => {
            while (observer && racing) {
              const [row] = await observer<{ free: number; at_work: number }[]>`
              select s.on_hand - s.reserved as free,
                (select count(*)::int from pg_stat_activity
                 where datname = current_database() and application_name = 'inventory' and state <> 'idle')
                as at_work
              from stock s where s.product_id = ${productId}`;
              lowestFree = Math.min(lowestFree, row.free);
              mostConnectionsAtWork = Math.max(mostConnectionsAtWork, row.at_work);
              samples++;
            }
          })();
          const orderIds = Array.from({ length: 200 }, newOrderId);
          const results = await Promise.all(
            orderIds.map((orderId) => inventory.reserve(orderId, [{ productId, quantity: 1 }])),
          ).finally(() => racing = false);
          await watching;

          const reserved = results.filter((r) => r.status === "reserved");
          const failed = results.filter((r) => r.status === "failed");
          assert.equal(reserved.length, 50);
          assert.equal(failed.length, 150);
          assert.ok(failed.every((r) => r.outOfStock.length === 1 && r.outOfStock[0] === productId));
          assert.deepEqual(await level(productId), { onHand: 50, reserved: 50 });
          assert.equal(
            (await heldByOrders(orderIds)).get(productId),
            50,
            "the table's rows add up to reserved",
          );
          assert.deepEqual((await inventory.availability([productId]))[0], {
            productId,
            available: 0,
            inStock: false,
          });
          if (observer) {
            await observer.end();
            assert.ok(samples > 0);
            assert.ok(lowestFree >= 0, `on hand minus reserved went down to ${lowestFree}`);
            // The race was real: several of the service's connections were in a query at once.
            assert.ok(mostConnectionsAtWork > 1, `at most ${mostConnectionsAtWork} connections were at work`);
          }
        });

        await t.step("an order with one line that cannot be covered reserves nothing", async () => {
          const plenty = await stocked(10);
          const scarce = await stocked(1);
          const retired = await stocked(10);
          await inventory.retireProduct(retired);
          const unknown = newProductId();
          const result = await inventory.reserve(newOrderId(), [
            { productId: plenty, quantity: 3 },
            { productId: scarce, quantity: 2 },
            { productId: retired, quantity: 1 },
            { productId: unknown, quantity: 1 },
          ]);
          assert.equal(result.status, "failed");
          assert.deepEqual(new Set(result.outOfStock), new Set([scarce, retired, unknown]));
          assert.equal(result.expiresAt, null);
          assert.deepEqual(
            await level(plenty),
            { onHand: 10, reserved: 0 },
            "the coverable line took nothing",
          );
          assert.deepEqual(await level(scarce), { onHand: 1, reserved: 0 });
          assert.equal(
            await store.stockLevel(unknown),
            undefined,
            "no record is made for an unknown product",
          );

          const fits = await inventory.reserve(newOrderId(), [
            { productId: plenty, quantity: 3 },
            { productId: scarce, quantity: 1 },
          ]);
          assert.equal(fits.status, "reserved");
          assert.deepEqual(await level(scarce), { onHand: 1, reserved: 1 }, "the last unit can be taken");
        });

        await t.step("a repeated reserve answers the first outcome and holds nothing more", async () => {
          const productId = await stocked(5);
          const orderId = newOrderId();
          const lines = [{ productId, quantity: 2 }];
          const first = await inventory.reserve(orderId, lines);
          assert.equal(first.status, "reserved");
          assert.ok(first.expiresAt);
          // Redelivered commands, some at the same time, and the same lines split differently.
          const again = await Promise.all([
            ...Array.from({ length: 5 }, () => inventory.reserve(orderId, lines)),
            inventory.reserve(orderId, [{ productId, quantity: 1 }, { productId, quantity: 1 }]),
          ]);
          for (const repeat of again) assert.deepEqual(repeat, first);
          assert.deepEqual(await level(productId), { onHand: 5, reserved: 2 });

          await assert.rejects(
            inventory.reserve(orderId, [{ productId, quantity: 3 }]),
            isReservationError("mismatch"),
            "the same order id for other lines is refused, not answered",
          );

          const failedOrder = newOrderId();
          const tooMany = [{ productId, quantity: 4 }];
          assert.equal((await inventory.reserve(failedOrder, tooMany)).status, "failed");
          await inventory.setOnHand(productId, 50);
          const replayed = await inventory.reserve(failedOrder, tooMany);
          assert.equal(replayed.status, "failed", "a failed reserve stays failed once stock arrives");
          assert.deepEqual(replayed.outOfStock, [productId]);
          assert.deepEqual(await level(productId), { onHand: 50, reserved: 2 });
        });

        await t.step(
          "commit takes the units off the shelf, once; a committed reservation stays",
          async () => {
            const productId = await stocked(10);
            const orderId = newOrderId();
            await inventory.reserve(orderId, [{ productId, quantity: 3 }]);
            assert.deepEqual(await level(productId), { onHand: 10, reserved: 3 });

            const committed = await Promise.all([inventory.commit(orderId), inventory.commit(orderId)]);
            assert.deepEqual(committed.map((r) => r.status), ["committed", "committed"]);
            assert.deepEqual(
              await level(productId),
              { onHand: 7, reserved: 0 },
              "one effect for two commits",
            );
            assert.equal((await inventory.commit(orderId)).status, "committed");

            await assert.rejects(inventory.release(orderId), isReservationError("committed"));
            assert.deepEqual(await level(productId), { onHand: 7, reserved: 0 });
            assert.equal(
              (await inventory.reserve(orderId, [{ productId, quantity: 3 }])).status,
              "committed",
            );
          },
        );

        await t.step(
          "release frees the units, once; a released reservation cannot be committed",
          async () => {
            const productId = await stocked(4);
            const orderId = newOrderId();
            await inventory.reserve(orderId, [{ productId, quantity: 4 }]);
            const blocked = await inventory.reserve(newOrderId(), [{ productId, quantity: 1 }]);
            assert.equal(blocked.status, "failed");

            const released = await Promise.all([inventory.release(orderId), inventory.release(orderId)]);
            assert.deepEqual(released.map((r) => r?.status), ["released", "released"]);
            assert.deepEqual(
              await level(productId),
              { onHand: 4, reserved: 0 },
              "one effect for two releases",
            );
            await assert.rejects(inventory.commit(orderId), isReservationError("not_reserved"));
            assert.equal(
              (await inventory.reserve(newOrderId(), [{ productId, quantity: 4 }])).status,
              "reserved",
            );
          },
        );

        await t.step("orders that hold nothing: release is a no-op, commit is refused", async () => {
          assert.equal(await inventory.release(newOrderId()), undefined, "a compensation may always run");
          await assert.rejects(inventory.commit(newOrderId()), isReservationError("not_found"));
          const productId = await stocked(0);
          const failedOrder = newOrderId();
          await inventory.reserve(failedOrder, [{ productId, quantity: 1 }]);
          assert.equal((await inventory.release(failedOrder))?.status, "failed");
          await assert.rejects(inventory.commit(failedOrder), isReservationError("not_reserved"));
          assert.deepEqual(await level(productId), { onHand: 0, reserved: 0 });
        });

        await t.step("expiry frees what is still held at its deadline, and only that", async () => {
          // In the past, so that the reservations of the other steps, on real time, are not yet due.
          const start = new Date("2020-01-01T10:00:00Z");
          service.setClock(start);
          try {
            const productId = await stocked(10);
            const forgotten = newOrderId();
            const confirmed = newOrderId();
            const later = newOrderId();
            await inventory.reserve(forgotten, [{ productId, quantity: 2 }]);
            await inventory.reserve(confirmed, [{ productId, quantity: 3 }]);
            await inventory.commit(confirmed);
            service.setClock(new Date(start.getTime() + 60_000));
            await inventory.reserve(later, [{ productId, quantity: 1 }]);
            assert.deepEqual(await level(productId), { onHand: 7, reserved: 3 });

            service.setClock(new Date(start.getTime() + 899_999));
            assert.deepEqual(await inventory.expire(), [], "nothing before the deadline (900 s)");

            service.setClock(new Date(start.getTime() + 900_000));
            const expired = await inventory.expire();
            assert.deepEqual(expired.map((r: Reservation) => [r.orderId, r.status]), [[
              forgotten,
              "expired",
            ]]);
            assert.deepEqual(await level(productId), { onHand: 7, reserved: 1 });
            assert.equal((await store.findReservation(confirmed))?.status, "committed");
            assert.deepEqual(await inventory.expire(), [], "expiring again changes nothing");

            service.setClock(new Date(start.getTime() + 3_600_000));
            assert.deepEqual((await inventory.expire()).map((r) => r.orderId), [later]);
            assert.deepEqual(await level(productId), { onHand: 7, reserved: 0 });
          } finally {
            service.setClock();
          }
        });

        await t.step(
          "a paid order whose reservation expired takes its units again if all are free, else none",
          async () => {
            const start = new Date("2020-01-01T10:00:00Z");
            service.setClock(start);
            try {
              const productId = await stocked(5);
              const [lucky, unlucky, newcomer] = [newOrderId(), newOrderId(), newOrderId()];
              await inventory.reserve(lucky, [{ productId, quantity: 2 }]);
              await inventory.reserve(unlucky, [{ productId, quantity: 3 }]);
              service.setClock(new Date(start.getTime() + 900_000));
              assert.deepEqual(
                (await inventory.expire()).map((r) => r.orderId).sort(),
                [lucky, unlucky].sort(),
              );
              assert.deepEqual(await level(productId), { onHand: 5, reserved: 0 });

              await inventory.reserve(newcomer, [{ productId, quantity: 3 }]);
              assert.equal((await inventory.commit(lucky)).status, "committed", "2 of the 2 free units");
              assert.deepEqual(await level(productId), { onHand: 3, reserved: 3 });
              assert.equal((await inventory.commit(unlucky)).status, "expired", "3 wanted, none free");
              assert.equal((await inventory.commit(unlucky)).status, "expired");
              assert.deepEqual(
                await level(productId),
                { onHand: 3, reserved: 3 },
                "the newcomer's units kept",
              );

              assert.equal((await inventory.release(unlucky))?.status, "released");
              await inventory.release(newcomer);
              await assert.rejects(inventory.commit(unlucky), isReservationError("not_reserved"));
              assert.deepEqual(await level(productId), { onHand: 3, reserved: 0 }, "released is final");
            } finally {
              service.setClock();
            }
          },
        );

        await t.step(
          "100 concurrent orders with shared products in every order of lines never deadlock",
          async () => {
            const [a, b, c] = [await stocked(1_000), await stocked(1_000), await stocked(1_000)];
            const orders: [string, ReservationLine[]][] = Array.from({ length: 100 }, (_, i) => {
              const products = [[a, b], [b, a], [a, b, c], [c, b, a], [b, c, a]][i % 5];
              return [newOrderId(), products.map((productId) => ({ productId, quantity: 1 + (i % 3) }))];
            });
            const firstHalf = orders.slice(0, 50);
            const reserved = await Promise.all(firstHalf.map(([id, lines]) => inventory.reserve(id, lines)));
            assert.ok(reserved.every((r) => r.status === "reserved"));

            // The first half commit or release while the second half reserve: every kind of lock at once.
            const [moved, more] = await Promise.all([
              Promise.all(
                firstHalf.map(([id], i) => i % 2 === 0 ? inventory.commit(id) : inventory.release(id)),
              ),
              Promise.all(orders.slice(50).map(([id, lines]) => inventory.reserve(id, lines))),
            ]);
            assert.ok(moved.every((r, i) => r?.status === (i % 2 === 0 ? "committed" : "released")));
            assert.ok(more.every((r) => r.status === "reserved"));

            const held = await heldByOrders(orders.map(([id]) => id));
            for (const productId of [a, b, c]) {
              const committed = firstHalf
                .filter((_, i) => i % 2 === 0)
                .flatMap(([, lines]) => lines)
                .filter((line) => line.productId === productId)
                .reduce((sum, line) => sum + line.quantity, 0);
              assert.deepEqual(await level(productId), {
                onHand: 1_000 - committed,
                reserved: held.get(productId) ?? 0,
              });
            }
          },
        );
      } finally {
        await service.close();
      }
    },
  );
}
