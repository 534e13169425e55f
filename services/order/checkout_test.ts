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
    // Confirmed orders commit their stock after the confirmation.
    await eventually(
      async () => (await shop.inventory.stockLevel(product.id)).onHand === 0,
      "50 units left the shelf",
    );
    assert.equal((await shop.inventory.stockLevel(product.id)).reserved, 0, "none stays reserved");
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
      assert.deepEqual(
        await shop.inventory.stockLevel(paid.id).then(({ onHand, reserved }) => ({ onHand, reserved })),
        {
          onHand: 7,
          reserved: 0,
        },
      );
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
      // Confirming sends the stock commit; the inventory applies it right after.
      await eventually(async () => {
        const { onHand, reserved } = await shop.inventory.stockLevel(product.id);
        return onHand === 3 && reserved === 0;
      }, "stock committed");
      assert.equal((await shop.payments.payment(order.id)).status, "captured");
    } finally {
      await shop.close();
    }
  });
}
