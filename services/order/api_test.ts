/**
 * The order service through HTTP with the whole checkout beside it (catalog, basket, inventory,
 * payment, discount, in process on one bus), on both PostgreSQL targets: addresses, placing orders,
 * the saga's outcomes and their compensations, cancelling, and the status stream.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { cargoEvents } from "@multishop/kit/contracts/cargo";
import { postgresTargets } from "@multishop/kit/testing";
import type { ShipmentStatus } from "./domain.ts";
import { addressBody, type Checkout, eventually, hookable, startCheckout } from "./test_support.ts";

/** A command a test held back goes out as it was, validated when it was first published. */
const heldCommand = z.unknown();

/** Few, so that the bound on open event streams is quick to reach. */
const streamsPerUser = 2;

for (const target of await postgresTargets()) {
  Deno.test({ name: `orders on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) }, async (t) => {
    const { hooks, wrap } = hookable();
    // Short enough for the timeout step to be quick, long enough for any other step on a busy machine.
    const shop = await startCheckout({
      target,
      wrapBus: wrap,
      orderEnv: { STEP_TIMEOUT_SECONDS: "6", EVENT_STREAMS_PER_USER: String(streamsPerUser) },
    });
    const { call, products, inventory, discount, stock } = shop;
    const payment = (orderId: string) => shop.payments.payment(orderId).catch(() => undefined);
    const newCoupon = (overrides: Record<string, unknown> = {}) =>
      discount.createCoupon({
        code: `T${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`,
        type: "percentage",
        value: 10,
        active: true,
        ...overrides,
      });
    let nextProduct = 0;
    /** A product no other step uses, with `onHand` units. */
    const stocked = async (onHand: number) => {
      const product = products[nextProduct++];
      await inventory.setOnHand(product.id, onHand);
      return product;
    };
    const basketOf = async (customer: Awaited<ReturnType<Checkout["customer"]>>) =>
      (await call(customer.token, "GET", "/v1/basket", undefined, {}, "basket")).body;

    try {
      await t.step("addresses: the caller's own CRUD; another's address is 404", async () => {
        const [ann, bob] = [await shop.tokens.customer(), await shop.tokens.customer()];
        const created = await call(ann, "POST", "/v1/addresses", addressBody({ line2: "Flat 3" }));
        assert.equal(created.status, 201);
        assert.equal(created.body.line2, "Flat 3");
        const id = created.body.id;
        assert.equal((await call(ann, "GET", `/v1/addresses/${id}`)).body.city, "London");
        const replaced = await call(ann, "PUT", `/v1/addresses/${id}`, addressBody({ city: "Leeds" }));
        assert.equal(replaced.body.city, "Leeds");
        assert.equal(replaced.body.line2, null);
        assert.equal((await call(ann, "GET", "/v1/addresses")).body.items.length, 1);
        assert.equal((await call(bob, "GET", `/v1/addresses/${id}`)).status, 404);
        assert.equal((await call(bob, "PUT", `/v1/addresses/${id}`, addressBody())).status, 404);
        assert.equal((await call(bob, "DELETE", `/v1/addresses/${id}`)).status, 404);
        assert.deepEqual((await call(bob, "GET", "/v1/addresses")).body.items, []);
        const bad = await call(ann, "POST", "/v1/addresses", addressBody({ email: "nope", zipCode: "" }));
        assert.equal(bad.status, 400);
        assert.deepEqual(bad.body.errors.map((e: { field: string }) => e.field).sort(), ["email", "zipCode"]);
        assert.equal((await call(ann, "DELETE", `/v1/addresses/${id}`)).status, 204);
        assert.equal((await call(ann, "GET", `/v1/addresses/${id}`)).status, 404);
        assert.equal((await call(undefined, "GET", "/v1/addresses")).status, 401);
      });

      await t.step(
        "happy path: basket -> order -> confirmed; stock, coupon and payment recorded",
        async () => {
          const [a, b] = [await stocked(10), await stocked(10)];
          const coupon = await newCoupon();
          const customer = await shop.customer(
            [{ productId: a.id, quantity: 2 }, { productId: b.id, quantity: 1 }],
            coupon.code,
          );
          const placed = await shop.place(customer);
          assert.equal(placed.status, 202, JSON.stringify(placed.body));
          assert.equal(placed.body.status, "pending");
          const subtotal = a.price.amount * 2 + b.price.amount;
          const off = Math.floor(subtotal / 10);
          assert.deepEqual(
            placed.body.lines.map((l: { productId: string; quantity: number }) => l.quantity),
            [2, 1],
          );
          assert.deepEqual(placed.body.lines[0].unitPrice, a.price, "the price is the server's");
          assert.equal(placed.body.totals.subtotal.amount, subtotal);
          assert.equal(placed.body.totals.discount.amount, off);
          assert.equal(placed.body.totals.total.amount, subtotal - off);
          assert.equal(placed.body.couponCode, coupon.code);
          assert.equal(placed.body.address.city, "London");
          assert.ok(
            !JSON.stringify(placed.body).includes("4242424242424242"),
            "the card is not in the order",
          );

          const order = await shop.settled(placed.body.id);
          assert.equal(order.status, "confirmed");
          assert.equal(order.cancellationReason, null);
          // Confirming sends the stock commit; the inventory applies it right after.
          await eventually(
            async () => JSON.stringify(await stock(a.id)) === JSON.stringify({ onHand: 8, reserved: 0 }),
            "stock committed",
          );
          assert.deepEqual(await stock(b.id), { onHand: 9, reserved: 0 });
          await eventually(
            async () => await shop.redemption(order.id) === "committed",
            "coupon use committed",
          );
          assert.equal((await discount.coupon(coupon.id)).used, 1);
          const paid = await payment(order.id);
          assert.equal(paid?.status, "captured");
          assert.equal(paid?.amount.amount, subtotal - off);
          await eventually(async () => (await basketOf(customer)).lines.length === 0, "basket cleared");
          const read = await call(customer.token, "GET", `/v1/orders/${order.id}`);
          assert.equal(read.body.status, "confirmed");
        },
      );

      await t.step("declined card: cancelled payment_declined; stock and coupon released", async () => {
        const product = await stocked(5);
        const coupon = await newCoupon();
        const customer = await shop.customer([{ productId: product.id, quantity: 2 }], coupon.code);
        const placed = await shop.place(customer, "4000000000000002");
        const order = await shop.settled(placed.body.id);
        assert.equal(order.status, "cancelled");
        assert.equal(order.cancellationReason, "payment_declined");
        await eventually(async () => (await stock(product.id)).reserved === 0, "stock released");
        assert.equal((await stock(product.id)).onHand, 5);
        await eventually(async () => await shop.redemption(order.id) === "released", "coupon released");
        assert.equal((await discount.coupon(coupon.id)).used, 0);
        assert.equal((await payment(order.id))?.status, "failed");
        assert.equal((await basketOf(customer)).lines.length, 1, "a failed order leaves the basket");
      });

      await t.step("out of stock: cancelled out_of_stock; nothing charged, coupon untouched", async () => {
        const [plenty, scarce] = [await stocked(10), await stocked(1)];
        const coupon = await newCoupon();
        const customer = await shop.customer([
          { productId: plenty.id, quantity: 1 },
          { productId: scarce.id, quantity: 2 },
        ], coupon.code);
        const order = await shop.settled((await shop.place(customer)).body.id);
        assert.equal(order.cancellationReason, "out_of_stock");
        assert.deepEqual(await stock(plenty.id), { onHand: 10, reserved: 0 }, "all lines or none");
        assert.equal(await payment(order.id), undefined);
        assert.equal(await shop.redemption(order.id), undefined);
      });

      await t.step("coupon gone by the time it is redeemed: coupon_invalid; stock released", async () => {
        const product = await stocked(5);
        const coupon = await newCoupon();
        const customer = await shop.customer([{ productId: product.id, quantity: 1 }], coupon.code);
        // The coupon is switched off between the basket's check and the checkout's redemption.
        hooks.before = async (type) => {
          if (type !== "discount.reserve") return;
          hooks.before = undefined;
          await discount.replaceCoupon(coupon.id, {
            code: coupon.code,
            type: "percentage",
            value: 10,
            active: false,
          });
        };
        const order = await shop.settled((await shop.place(customer)).body.id);
        assert.equal(order.cancellationReason, "coupon_invalid");
        await eventually(async () => (await stock(product.id)).reserved === 0, "stock released");
        assert.equal(await payment(order.id), undefined);
      });

      await t.step(
        "a step without a reply times out: cancelled timeout; stock and coupon released",
        async () => {
          const product = await stocked(5);
          const coupon = await newCoupon();
          const customer = await shop.customer([{ productId: product.id, quantity: 1 }], coupon.code);
          hooks.before = (type) => Promise.resolve(type === "payment.charge" ? "drop" : undefined);
          try {
            const order = await shop.settled((await shop.place(customer)).body.id);
            assert.equal(order.cancellationReason, "timeout");
            await eventually(async () => (await stock(product.id)).reserved === 0, "stock released");
            await eventually(async () => await shop.redemption(order.id) === "released", "coupon released");
            assert.equal(await payment(order.id), undefined);
          } finally {
            hooks.before = undefined;
          }
        },
      );

      await t.step("Idempotency-Key: a repeat answers the same order; another body is 422", async () => {
        const product = await stocked(5);
        const customer = await shop.customer([{ productId: product.id, quantity: 1 }]);
        const key = crypto.randomUUID();
        const first = await shop.place(customer, "4242424242424242", key);
        assert.equal(first.status, 202);
        const again = await shop.place(customer, "4242424242424242", key);
        assert.equal(again.status, 202);
        assert.equal(again.body.id, first.body.id);
        const other = await shop.place(customer, "5555555555554444", key);
        assert.equal(other.status, 422);
        assert.equal(other.body.errors[0].field, "header.idempotency-key");
        const missing = await call(customer.token, "POST", "/v1/orders", {
          addressId: customer.addressId,
          payment: { cardNumber: "4242424242424242", expMonth: 12, expYear: 2040, cvc: "123", holder: "A" },
        });
        assert.equal(missing.status, 400);
        await shop.settled(first.body.id);
        const mine = await call(customer.token, "GET", "/v1/orders");
        assert.deepEqual(mine.body.items.map((o: { id: string }) => o.id), [first.body.id], "one order");
      });

      await t.step("refused orders: empty basket, someone else's address, a bad card", async () => {
        const empty = await shop.customer([]);
        const placed = await shop.place(empty);
        assert.equal(placed.status, 422);
        assert.match(placed.body.type, /empty-basket/);
        const product = await stocked(5);
        const customer = await shop.customer([{ productId: product.id, quantity: 1 }]);
        const foreign = await shop.place({ token: customer.token, addressId: empty.addressId });
        assert.equal(foreign.status, 422);
        assert.equal(foreign.body.errors[0].field, "addressId");
        const badCard = await shop.place(customer, "4242424242424241");
        assert.equal(badCard.status, 400);
        assert.equal(badCard.body.errors[0].field, "payment.cardNumber");
      });

      await t.step("reading: own orders only, paged; admins see all and filter by status", async () => {
        const product = await stocked(20);
        const customer = await shop.customer([{ productId: product.id, quantity: 1 }]);
        const ids = [];
        for (let i = 0; i < 3; i++) {
          // A confirmed order empties the basket (asynchronously), so each further order waits for
          // that and then puts the product back.
          if (i > 0) {
            await eventually(async () => (await basketOf(customer)).lines.length === 0, "basket emptied");
            const refill = await call(
              customer.token,
              "PUT",
              `/v1/basket/items/${product.id}`,
              { quantity: 1 },
              {},
              "basket",
            );
            assert.equal(refill.status, 200);
          }
          const placed = await shop.place(customer);
          assert.equal(placed.status, 202, JSON.stringify(placed.body));
          ids.push(placed.body.id);
          await shop.settled(placed.body.id);
        }
        const first = await call(customer.token, "GET", "/v1/orders?limit=2");
        assert.deepEqual(first.body.items.map((o: { id: string }) => o.id), ids.slice(1).reverse());
        const second = await call(
          customer.token,
          "GET",
          `/v1/orders?limit=2&cursor=${first.body.nextCursor}`,
        );
        assert.deepEqual(second.body.items.map((o: { id: string }) => o.id), [ids[0]]);
        assert.equal(second.body.nextCursor, null);
        const stranger = await shop.tokens.customer();
        assert.equal((await call(stranger, "GET", `/v1/orders/${ids[0]}`)).status, 404);
        assert.equal((await call(stranger, "POST", `/v1/orders/${ids[0]}/cancel`)).status, 404);
        assert.equal((await call(stranger, "GET", "/v1/orders?all=true")).status, 403);
        const admin = await shop.tokens.admin();
        assert.equal((await call(admin, "GET", `/v1/orders/${ids[0]}`)).body.id, ids[0]);
        const cancelled = await call(admin, "GET", "/v1/orders?all=true&status=cancelled&limit=100");
        assert.ok(cancelled.body.items.length >= 4);
        assert.ok(cancelled.body.items.every((o: { status: string }) => o.status === "cancelled"));
        assert.equal((await call(admin, "GET", "/v1/orders?status=lost")).status, 400);
      });

      await t.step("the shipment's progress: tracking code, shipped, delivered, each once", async () => {
        const product = await stocked(5);
        const customer = await shop.customer([{ productId: product.id, quantity: 1 }]);
        const order = await shop.settled((await shop.place(customer)).body.id);
        assert.equal(order.status, "confirmed");
        const shipment = {
          shipmentId: crypto.randomUUID(),
          orderId: order.id,
          userId: customer.userId,
          trackingCode: "MS7K2P9QXH4R",
        };
        const report = async (
          previousStatus: ShipmentStatus,
          status: ShipmentStatus,
          id = crypto.randomUUID(),
        ) =>
          await shop.bus.publish(
            "cargo.shipment.status_changed",
            cargoEvents["cargo.shipment.status_changed"],
            { ...shipment, previousStatus, status },
            { id, correlationId: order.id },
          );
        const read = async () => (await call(customer.token, "GET", `/v1/orders/${order.id}`)).body;
        await shop.bus.publish("cargo.shipment.created", cargoEvents["cargo.shipment.created"], {
          ...shipment,
          carrierId: crypto.randomUUID(),
        }, { correlationId: order.id });
        await eventually(async () => (await read()).trackingCode === shipment.trackingCode, "tracking code");
        const pickedUp = crypto.randomUUID();
        await report("created", "picked_up", pickedUp);
        await eventually(async () => (await read()).status === "shipped", "shipped");
        await report("created", "picked_up", pickedUp);
        await report("picked_up", "in_transit");
        await report("in_transit", "delivered");
        await eventually(async () => (await read()).status === "delivered", "delivered");
        assert.equal((await call(customer.token, "POST", `/v1/orders/${order.id}/cancel`)).status, 409);
      });

      await t.step("a coupon worth the whole basket: a total of 0 is confirmed, charged 0", async () => {
        const product = await stocked(3);
        const coupon = await newCoupon({ type: "fixed", value: 10_000_000 });
        const customer = await shop.customer([{ productId: product.id, quantity: 1 }], coupon.code);
        const placed = await shop.place(customer);
        assert.equal(placed.status, 202);
        assert.equal(placed.body.totals.total.amount, 0);
        assert.equal(placed.body.totals.discount.amount, placed.body.totals.subtotal.amount);
        const order = await shop.settled(placed.body.id);
        assert.equal(order.status, "confirmed");
        const paid = await payment(order.id);
        assert.equal(paid?.amount.amount, 0);
        await eventually(async () => await shop.redemption(order.id) === "committed", "coupon use committed");
      });

      await t.step("order counts per status: for admins and the dashboard's client only", async () => {
        const admin = await shop.tokens.admin();
        const counts = await call(admin, "GET", "/v1/orders/stats");
        assert.equal(counts.status, 200);
        assert.deepEqual(Object.keys(counts.body).sort(), [
          "cancelled",
          "confirmed",
          "delivered",
          "pending",
          "shipped",
        ]);
        assert.ok(counts.body.confirmed >= 1, "the happy path's order is counted");
        const dashboard = await shop.tokens.client("dashboard", ["stats:read"]);
        assert.deepEqual((await call(dashboard, "GET", "/v1/orders/stats")).body, counts.body);
        assert.equal((await call(await shop.tokens.customer(), "GET", "/v1/orders/stats")).status, 403);
        assert.equal(
          (await call(await shop.tokens.client("other", ["users:read"]), "GET", "/v1/orders/stats")).status,
          403,
        );
      });

      await t.step(
        "cancel a confirmed order: refunded, stock back on the shelf, coupon use returned; twice is 409",
        async () => {
          const product = await stocked(5);
          const coupon = await newCoupon({ usageLimit: 1 });
          const customer = await shop.customer([{ productId: product.id, quantity: 2 }], coupon.code);
          const order = await shop.settled((await shop.place(customer)).body.id);
          assert.equal(order.status, "confirmed");
          await eventually(
            async () =>
              JSON.stringify(await stock(product.id)) === JSON.stringify({ onHand: 3, reserved: 0 }),
            "stock committed",
          );
          await eventually(async () => await shop.redemption(order.id) === "committed", "coupon committed");
          const cancelled = await call(customer.token, "POST", `/v1/orders/${order.id}/cancel`);
          assert.equal(cancelled.status, 200);
          assert.equal(cancelled.body.status, "cancelled");
          assert.equal(cancelled.body.cancellationReason, "user_cancelled");
          await eventually(async () => (await payment(order.id))?.status === "refunded", "payment refunded");
          await eventually(
            async () =>
              JSON.stringify(await stock(product.id)) === JSON.stringify({ onHand: 5, reserved: 0 }),
            "stock returned",
          );
          await eventually(async () => await shop.redemption(order.id) === "returned", "coupon returned");
          assert.equal((await discount.coupon(coupon.id)).used, 0, "the single-use coupon can be used again");
          assert.equal((await call(customer.token, "POST", `/v1/orders/${order.id}/cancel`)).status, 409);
        },
      );

      await t.step("cancel while pending: compensated, and a late reply is undone", async () => {
        const product = await stocked(5);
        const customer = await shop.customer([{ productId: product.id, quantity: 1 }]);
        // The charge command is held back until the customer has cancelled, then delivered late:
        // the payment it captures is refunded.
        const held = Promise.withResolvers<Record<string, unknown>>();
        hooks.before = (type, payload) => {
          if (type !== "payment.charge") return Promise.resolve();
          hooks.before = undefined;
          held.resolve(payload);
          return Promise.resolve("drop");
        };
        const placed = await shop.place(customer);
        const charge = await held.promise;
        const cancelled = await call(customer.token, "POST", `/v1/orders/${placed.body.id}/cancel`);
        assert.equal(cancelled.status, 200);
        assert.equal(cancelled.body.cancellationReason, "user_cancelled");
        await shop.bus.publish("payment.charge", heldCommand, charge, {
          correlationId: placed.body.id,
        });
        await eventually(
          async () => (await payment(placed.body.id))?.status === "refunded",
          "late charge refunded",
        );
        await eventually(async () => (await stock(product.id)).reserved === 0, "stock released");
        assert.equal((await stock(product.id)).onHand, 5);
        assert.equal((await shop.stored(placed.body.id))?.status, "cancelled");
      });

      await t.step(
        "events: the status now, then each change; the stream ends with the checkout",
        async () => {
          const product = await stocked(5);
          const customer = await shop.customer([{ productId: product.id, quantity: 1 }]);
          // The stock command is held back until the stream has shown `pending`.
          const held = Promise.withResolvers<Record<string, unknown>>();
          hooks.before = (type, payload) => {
            if (type !== "inventory.reserve") return Promise.resolve();
            hooks.before = undefined;
            held.resolve(payload);
            return Promise.resolve("drop");
          };
          const placed = await shop.place(customer);
          const response = await fetch(`${shop.orderUrl}/v1/orders/${placed.body.id}/events`, {
            headers: { authorization: `Bearer ${customer.token}` },
          });
          assert.equal(response.status, 200);
          assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
          const statuses: string[] = [];
          let buffer = "";
          // The stream goes on after confirmed (shipped and delivered follow), so reading stops there.
          read: for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) {
            buffer += chunk;
            for (let end; (end = buffer.indexOf("\n\n")) >= 0; buffer = buffer.slice(end + 2)) {
              const data = buffer.slice(0, end).split("\n").find((line) => line.startsWith("data:"));
              if (!data) continue;
              statuses.push(JSON.parse(data.slice(5)).status);
              if (statuses.at(-1) === "confirmed") break read;
              if (statuses.length === 1) {
                await shop.bus.publish(
                  "inventory.reserve",
                  heldCommand,
                  await held.promise,
                  {
                    correlationId: placed.body.id,
                  },
                );
              }
            }
          }
          assert.deepEqual(statuses, ["pending", "confirmed"]);
          const stranger = await shop.tokens.customer();
          const refused = await fetch(`${shop.orderUrl}/v1/orders/${placed.body.id}/events`, {
            headers: { authorization: `Bearer ${stranger}` },
          });
          await refused.body?.cancel();
          assert.equal(refused.status, 404);
        },
      );

      await t.step(
        "events: a user holds a bounded number of streams; closing one frees its slot",
        async () => {
          const customer = await shop.customer([{ productId: (await stocked(5)).id, quantity: 1 }]);
          const placed = await shop.place(customer);
          // A confirmed order's stream stays open: shipping is still to come.
          assert.equal((await shop.settled(placed.body.id)).status, "confirmed");
          const watch = (token: string) =>
            fetch(`${shop.orderUrl}/v1/orders/${placed.body.id}/events`, {
              headers: { authorization: `Bearer ${token}` },
            });
          const open = [];
          for (let i = 0; i < streamsPerUser; i++) {
            const stream = await watch(customer.token);
            assert.equal(stream.status, 200);
            assert.equal(stream.headers.get("cache-control"), "no-store", "the stream is the customer's");
            open.push(stream);
          }
          const refused = await watch(customer.token);
          assert.equal(refused.status, 429);
          assert.equal(refused.headers.get("retry-after"), "10");
          assert.equal(refused.headers.get("content-type"), "application/problem+json");
          assert.equal((await refused.json()).type, "urn:multishop:problem:too-many-streams");

          const admin = await watch(await shop.tokens.admin());
          assert.equal(admin.status, 200, "another user's streams are counted apart");
          await admin.body!.cancel();

          await open.pop()!.body!.cancel();
          await eventually(async () => {
            const again = await watch(customer.token);
            if (again.status !== 200) {
              await again.body?.cancel();
              return false;
            }
            open.push(again);
            return true;
          }, "the closed stream's slot to be free");
          for (const stream of open) await stream.body!.cancel();
        },
      );

      await t.step("personal answers carry Cache-Control: no-store", async () => {
        const customer = await shop.tokens.customer();
        for (const path of ["/v1/orders", "/v1/addresses"]) {
          const response = await call(customer, "GET", path);
          assert.equal(response.status, 200);
          assert.equal(response.headers.get("cache-control"), "no-store", path);
        }
        const admin = await call(await shop.tokens.admin(), "GET", "/v1/orders/stats");
        assert.equal(admin.headers.get("cache-control"), "no-store", "admin figures");
        const created = await call(customer, "POST", "/v1/addresses", addressBody());
        assert.equal(created.headers.get("cache-control"), "no-store");
      });

      await t.step("paging cursors and ids are refused as the document says", async () => {
        const customer = await shop.tokens.customer();
        const notBase64url = await call(customer, "GET", "/v1/orders?cursor=a%2Bb");
        assert.equal(notBase64url.status, 400);
        assert.deepEqual(notBase64url.body.errors, [{
          field: "query.cursor",
          reason: "is not a cursor from this list",
        }]);
        // Hex in the UUID's shape, but neither version nor variant is the RFC's.
        const notRfcUuid = await call(customer, "GET", "/v1/orders/00000000-0000-0000-c000-000000000001");
        assert.equal(notRfcUuid.status, 400);
        const document = (await call(undefined, "GET", "/openapi.json")).body;
        const id = document.paths["/v1/orders/{id}"].get.parameters[0].schema;
        assert.ok(
          !new RegExp(id.pattern).test("00000000-0000-0000-c000-000000000001"),
          "the pattern says so",
        );
        assert.ok(new RegExp(id.pattern).test(crypto.randomUUID()));
      });
    } finally {
      hooks.before = undefined;
      await shop.close();
    }
  });
}
