/**
 * The checkout under stress, against real servers where they matter: no oversell with 200 concurrent
 * checkouts (real PostgreSQL and RabbitMQ), every message delivered twice, and the order service
 * stopped mid-saga and started again on its database.
 */
import assert from "node:assert/strict";
import { amqpTarget, postgresTargets } from "@multishop/kit/testing";
import { duplicatingBus, eventually, hookable, startCheckout } from "./test_support.ts";

const targets = await postgresTargets();
const real = targets.find((target) => target.name === "real")!;
const rabbit = await amqpTarget();

/** On real PostgreSQL the saga's messages go through real RabbitMQ too; on PGlite, the in-process bus. */
const realBroker = (targetName: string) => (targetName === "real" && !rabbit.skip ? rabbit.url() : undefined);

Deno.test({
  name: "no oversell: 200 checkouts for 50 units on real PostgreSQL and RabbitMQ",
  ignore: Boolean(real.skip || rabbit.skip),
}, async () => {
  const shop = await startCheckout({ target: real, amqpUrl: rabbit.url() });
  try {
    const [product] = shop.products;
    await shop.inventory.setOnHand(product.id, 50);
    const customers = await Promise.all(
      Array.from({ length: 200 }, () => shop.customer([{ productId: product.id, quantity: 1 }])),
    );
    const placed = await Promise.all(customers.map((customer) => shop.place(customer)));
    assert.ok(placed.every((response) => response.status === 202), "every order was taken");
    const orders = await Promise.all(placed.map((response) => shop.settled(response.body.id, 50_000)));
    const confirmed = orders.filter((order) => order.status === "confirmed");
    const cancelled = orders.filter((order) => order.status === "cancelled");
    assert.equal(confirmed.length, 50);
    assert.equal(cancelled.length, 150);
    assert.ok(cancelled.every((order) => order.cancellationReason === "out_of_stock"));
    // An order is confirmed once its stock is committed.
    assert.deepEqual(
      await shop.stock(product.id),
      { onHand: 0, reserved: 0 },
      "50 units left the shelf, none held",
    );
    for (const order of confirmed) {
      assert.equal((await shop.payments.payment(order.id)).status, "captured");
    }
  } finally {
    await shop.close();
  }
});

for (const target of targets) {
  Deno.test({
    name: `every message delivered twice: the same outcome, on ${target.name} PostgreSQL${
      realBroker(target.name) ? " and RabbitMQ" : ""
    }`,
    ignore: Boolean(target.skip),
  }, async () => {
    const shop = await startCheckout({ target, wrapBus: duplicatingBus, amqpUrl: realBroker(target.name) });
    try {
      const [paid, declined] = shop.products;
      await shop.inventory.setOnHand(paid.id, 10);
      await shop.inventory.setOnHand(declined.id, 10);
      const coupon = await shop.discount.createCoupon({
        code: `DUP${crypto.randomUUID().slice(0, 8)}`,
        type: "percentage",
        value: 10,
        active: true,
      });
      const buyer = await shop.customer([{ productId: paid.id, quantity: 3 }], coupon.code);
      const order = await shop.settled((await shop.place(buyer)).body.id);
      assert.equal(order.status, "confirmed");
      await eventually(async () => await shop.redemption(order.id) === "committed", "coupon committed");
      assert.deepEqual(await shop.stock(paid.id), { onHand: 7, reserved: 0 });
      assert.equal((await shop.discount.coupon(coupon.id)).used, 1);
      const payment = await shop.payments.payment(order.id);
      assert.equal(payment.status, "captured");
      assert.equal(payment.amount.amount, order.total);

      const unlucky = await shop.customer([{ productId: declined.id, quantity: 2 }], coupon.code);
      const failed = await shop.settled((await shop.place(unlucky, "4000000000000002")).body.id);
      assert.equal(failed.cancellationReason, "payment_declined");
      await eventually(async () => await shop.redemption(failed.id) === "released", "coupon released");
      await eventually(
        async () => (await shop.inventory.stockLevel(declined.id)).reserved === 0,
        "stock released",
      );
      assert.equal((await shop.inventory.stockLevel(declined.id)).onHand, 10);
      assert.equal((await shop.discount.coupon(coupon.id)).used, 1);
    } finally {
      await shop.close();
    }
  });

  Deno.test({
    name: `the order service stopped mid-saga: a new instance completes it, on ${target.name} PostgreSQL${
      realBroker(target.name) ? " and RabbitMQ" : ""
    }`,
    ignore: Boolean(target.skip),
  }, async () => {
    const { hooks, wrap } = hookable();
    const shop = await startCheckout({ target, wrapBus: wrap, amqpUrl: realBroker(target.name) });
    try {
      const [product] = shop.products;
      await shop.inventory.setOnHand(product.id, 5);
      const customer = await shop.customer([{ productId: product.id, quantity: 2 }]);
      // The service goes away just as the stock is reserved: the reply finds no instance running.
      const stopped = Promise.withResolvers<void>();
      hooks.before = async (type) => {
        if (type !== "inventory.reserved") return;
        hooks.before = undefined;
        await shop.stopOrder();
        stopped.resolve();
      };
      const placed = await shop.place(customer);
      await stopped.promise;
      await shop.restartOrder();
      const order = await shop.settled(placed.body.id);
      assert.equal(order.status, "confirmed");
      assert.deepEqual(await shop.stock(product.id), { onHand: 3, reserved: 0 }, "the stock was committed");
      assert.equal((await shop.payments.payment(order.id)).status, "captured");
    } finally {
      await shop.close();
    }
  });

  Deno.test({
    name:
      `paid after its reservation expired: committed if the units are there, else refunded, on ${target.name} ` +
      `PostgreSQL${realBroker(target.name) ? " and RabbitMQ" : ""}`,
    ignore: Boolean(target.skip),
  }, async () => {
    const { hooks, wrap } = hookable();
    // Reservations expire after a second, when the test sweeps them.
    const shop = await startCheckout({
      target,
      wrapBus: wrap,
      amqpUrl: realBroker(target.name),
      inventoryEnv: { RESERVATION_TTL_SECONDS: "1", RESERVATION_SWEEP_SECONDS: "3600" },
    });
    /** Places the order; the order service goes away as the payment is answered, for longer than the reservation lasts. */
    const paidWhileAway = async (customer: Awaited<ReturnType<typeof shop.customer>>) => {
      const stopped = Promise.withResolvers<void>();
      hooks.before = async (type) => {
        if (type !== "payment.charged") return;
        hooks.before = undefined;
        await shop.stopOrder();
        stopped.resolve();
      };
      const orderId: string = (await shop.place(customer)).body.id;
      await stopped.promise;
      const expired = new Set<string>();
      await eventually(async () => {
        for (const reservation of await shop.inventory.expire()) expired.add(reservation.orderId);
        return expired.has(orderId);
      }, "the reservation to expire");
      return orderId;
    };
    try {
      const [product] = shop.products;
      await shop.inventory.setOnHand(product.id, 3);

      const lucky = await paidWhileAway(await shop.customer([{ productId: product.id, quantity: 1 }]));
      assert.deepEqual(await shop.stock(product.id), { onHand: 3, reserved: 0 }, "expired: nothing held");
      await shop.restartOrder();
      assert.equal((await shop.settled(lucky)).status, "confirmed", "its unit was still there");
      assert.deepEqual(await shop.stock(product.id), { onHand: 2, reserved: 0 });
      assert.equal((await shop.payments.payment(lucky)).status, "captured");

      const coupon = await shop.discount.createCoupon({
        code: `LATE${crypto.randomUUID().slice(0, 8)}`,
        type: "percentage",
        value: 10,
        active: true,
      });
      const customer = await shop.customer([{ productId: product.id, quantity: 2 }], coupon.code);
      const unlucky = await paidWhileAway(customer);
      // Meanwhile another order takes the units the expired reservation let go.
      await shop.inventory.reserve(crypto.randomUUID(), [{ productId: product.id, quantity: 2 }]);
      await shop.restartOrder();
      const cancelled = await shop.settled(unlucky);
      assert.deepEqual([cancelled.status, cancelled.cancellationReason], ["cancelled", "out_of_stock"]);
      await eventually(
        async () => (await shop.payments.payment(unlucky)).status === "refunded",
        "the charge refunded",
      );
      await eventually(async () => await shop.redemption(unlucky) === "released", "the coupon released");
      assert.equal((await shop.discount.coupon(coupon.id)).used, 0);
      assert.deepEqual(
        await shop.stock(product.id),
        { onHand: 2, reserved: 2 },
        "the other order keeps its units",
      );
    } finally {
      await shop.close();
    }
  });
}
