/**
 * The checkout through a broker outage, against real PostgreSQL and real RabbitMQ: the services reach
 * the broker through a TCP proxy the test cuts while a burst of checkouts is mid-way and restores a
 * few seconds later (the shared broker itself keeps running for the other suites). Every order must
 * still reach a final state, with nothing lost and nothing applied twice.
 */
import assert from "node:assert/strict";
import type { MessageBus } from "@multishop/kit/messaging";
import { amqpTarget, postgresTargets, startTcpProxy, type TcpProxy } from "@multishop/kit/testing";
import { type Checkout, eventually, startCheckout } from "./test_support.ts";

const targets = await postgresTargets();
const real = targets.find((target) => target.name === "real")!;
const rabbit = await amqpTarget();

const customers = 30;
const inStock = 20;
/** The link to the broker is cut as the burst's `cutAtCharges`th payment.charge goes out: sagas are mid-way. */
const cutAtCharges = 3;
const outageMs = 2500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Counts the messages published once armed and cuts the proxy as the `cutAtCharges`th payment.charge
 * goes out (that publish then fails, and the outbox retries it): some sagas are charging, others
 * still reserving stock or the coupon, and replies are on their way.
 */
function cutMidSaga(proxy: TcpProxy) {
  const state = { armed: false, cutAt: 0, restoredAt: 0, published: {} as Record<string, number> };
  const cut = Promise.withResolvers<void>();
  const wrap = (bus: MessageBus): MessageBus => ({
    publish: (type, schema, payload, options) => {
      if (state.armed && !state.cutAt) {
        state.published[type] = (state.published[type] ?? 0) + 1;
        if (state.published["payment.charge"] >= cutAtCharges) {
          state.cutAt = Date.now();
          proxy.cut();
          cut.resolve();
        }
      }
      return bus.publish(type, schema, payload, options);
    },
    subscribe: bus.subscribe.bind(bus),
    ping: bus.ping.bind(bus),
    close: bus.close.bind(bus),
  });
  return { state, wrap, cut: cut.promise };
}

Deno.test({
  name:
    "broker outage mid-burst: every order settles, nothing lost or applied twice (real PostgreSQL, RabbitMQ)",
  ignore: Boolean(real.skip || rabbit.skip),
}, async () => {
  const started = Date.now();
  const proxy = await startTcpProxy(rabbit.url(), 5672);
  const outage = cutMidSaga(proxy);
  let shop: Checkout | undefined;
  try {
    const checkout = await startCheckout({
      target: real,
      amqpUrl: proxy.url,
      wrapBus: outage.wrap,
      // Longer than the test waits: a lost message shows as an order left pending, not as a timeout.
      orderEnv: { STEP_TIMEOUT_SECONDS: "300" },
    });
    shop = checkout;
    const [product] = checkout.products;
    await checkout.inventory.setOnHand(product.id, inStock);
    const coupon = await checkout.discount.createCoupon({
      code: `OUT${crypto.randomUUID().slice(0, 8)}`,
      type: "percentage",
      value: 10,
      active: true,
    });
    const buyers = await Promise.all(
      Array.from(
        { length: customers },
        () => checkout.customer([{ productId: product.id, quantity: 1 }], coupon.code),
      ),
    );

    outage.state.armed = true;
    const placing = Promise.all(buyers.map((buyer) => checkout.place(buyer)));
    const cutOrTimeout = await Promise.race([outage.cut.then(() => true), sleep(20_000).then(() => false)]);
    assert.ok(cutOrTimeout, `the burst never got to ${cutAtCharges} charges`);
    // The services really lose the broker: their bus stops answering while the link is down.
    let brokerLost = false;
    while (Date.now() < outage.state.cutAt + outageMs) {
      brokerLost ||= await checkout.bus.ping().then(() => false, () => true);
      await sleep(50);
    }
    assert.ok(brokerLost, "the bus noticed the outage");
    outage.state.restoredAt = Date.now();
    proxy.restore();

    const placed = await placing;
    assert.ok(placed.every((response) => response.status === 202), "every order was taken");
    const ids = placed.map((response) => response.body.id as string);
    assert.equal(new Set(ids).size, customers, "one order per customer");

    const deadline = Date.now() + 60_000;
    const orders = await Promise.all(ids.map((id) => checkout.settled(id, deadline - Date.now())));
    const settledAt = Date.now();
    const confirmed = orders.filter((order) => order.status === "confirmed");
    const cancelled = orders.filter((order) => order.status === "cancelled");
    console.log(
      `cut after ${JSON.stringify(outage.state.published)}, ` +
        `${outage.state.restoredAt - outage.state.cutAt} ms down; all settled ` +
        `${settledAt - outage.state.restoredAt} ms after the restore: ${confirmed.length} confirmed, ` +
        `${cancelled.length} cancelled (${cancelled.map((order) => order.cancellationReason).join(", ")})`,
    );
    assert.equal(confirmed.length + cancelled.length, customers, "every order confirmed or cancelled");
    // No step timed out (the timeout is far off), so no message was lost: the stock decides alone.
    assert.ok(
      cancelled.every((order) => order.cancellationReason === "out_of_stock"),
      `cancelled only for want of stock: ${cancelled.map((order) => order.cancellationReason).join(", ")}`,
    );
    assert.ok(confirmed.length <= inStock, `no oversell: ${confirmed.length} confirmed`);
    assert.equal(confirmed.length, inStock, "all the stock sold");
    assert.equal(cancelled.length, customers - inStock);

    // Stock: the confirmed orders' units left the shelf once each, nothing stays reserved.
    await eventually(
      async () => {
        const level = await checkout.inventory.stockLevel(product.id);
        return level.onHand === inStock - confirmed.length && level.reserved === 0;
      },
      "the confirmed units committed and the rest released",
      20_000,
    );
    const level = await checkout.inventory.stockLevel(product.id);
    assert.deepEqual({ onHand: level.onHand, reserved: level.reserved }, {
      onHand: inStock - confirmed.length,
      reserved: 0,
    });

    // Payments: exactly one captured payment per confirmed order, for its total; none for the others.
    for (const order of confirmed) {
      const payment = await checkout.payments.payment(order.id);
      assert.equal(payment.status, "captured", `order ${order.id} paid`);
      assert.equal(payment.amount.amount, order.total, `order ${order.id} charged its total once`);
    }
    for (const order of cancelled) {
      const payment = await checkout.payments.payment(order.id).catch(() => undefined);
      assert.ok(
        payment === undefined || payment.status === "refunded" || payment.status === "failed",
        `cancelled order ${order.id} has no captured payment (${payment?.status})`,
      );
    }

    // The coupon: used once per confirmed order, its redemptions committed or never made.
    for (const order of confirmed) {
      await eventually(
        async () => await checkout.redemption(order.id) === "committed",
        `order ${order.id}'s coupon committed`,
        20_000,
      );
    }
    for (const order of cancelled) {
      const redemption = await checkout.redemption(order.id);
      assert.ok(redemption === undefined || redemption === "released", `${order.id}: ${redemption}`);
    }
    assert.equal((await checkout.discount.coupon(coupon.id)).used, confirmed.length, "coupon uses");

    // order.confirmed reached the basket: each confirmed customer's basket is empty, the others' kept.
    const byOrder = new Map(ids.map((id, index) => [id, buyers[index]]));
    for (const order of confirmed) {
      const buyer = byOrder.get(order.id)!;
      await eventually(
        async () => {
          const basket = await checkout.call(buyer.token, "GET", "/v1/basket", undefined, {}, "basket");
          return basket.status === 200 && basket.body.lines.length === 0;
        },
        `order ${order.id}'s basket emptied`,
        20_000,
      );
    }
    for (const order of cancelled) {
      const buyer = byOrder.get(order.id)!;
      const basket = await checkout.call(buyer.token, "GET", "/v1/basket", undefined, {}, "basket");
      assert.equal(basket.body.lines.length, 1, `order ${order.id}'s basket kept`);
    }
    console.log(`outage test done in ${Date.now() - started} ms`);
  } finally {
    // A failure during the outage must not leave the harness unable to reach the broker to clean up.
    proxy.restore();
    await shop?.close();
    await proxy.close();
  }
});
