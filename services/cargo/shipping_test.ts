/**
 * Shipments made from the order service's events, on both PostgreSQL targets (on real PostgreSQL
 * through real RabbitMQ when it is there): exactly one per order however often or concurrently its
 * confirmation comes, the events published for them, cancellation, carriers' turns, the default
 * carrier, tracking-code clashes, and a confirmation parked while no carrier could take it.
 */
import assert from "node:assert/strict";
import { createEnvelope } from "@multishop/kit/messaging";
import { amqpTarget, postgresTargets, waitFor } from "@multishop/kit/testing";
import { orderEvents } from "@multishop/kit/contracts/orders";
import { trackingCodeFrom, trackingCodePattern, trackingCodeRandomLength } from "./domain.ts";
import { confirmedOrder, fixedTrackingCode, startTestCargo, type TestCargo } from "./test_support.ts";

const targets = await postgresTargets();
const rabbit = await amqpTarget();

/** On real PostgreSQL the messages go through real RabbitMQ too; on PGlite, the in-process bus. */
const realBroker = (targetName: string) => (targetName === "real" && !rabbit.skip ? rabbit.url() : undefined);

/**
 * Records a pick-up on the order's shipment and waits for its status change to go out. The outbox
 * publishes an order's events in order, so whatever was written before it has gone out by then.
 */
async function flushEvents(service: TestCargo, orderId: string) {
  const admin = await service.tokens.admin();
  const shipment = await service.call("GET", `/v1/shipments/by-order/${orderId}`, { token: admin });
  assert.equal(shipment.status, 200, JSON.stringify(shipment.body));
  const before = service.publishedFor(orderId, "cargo.shipment.status_changed").length;
  const picked = await service.call("POST", `/v1/shipments/${shipment.body.trackingCode}/events`, {
    token: admin,
    body: { status: "picked_up", place: "Seattle" },
  });
  assert.equal(picked.status, 201, JSON.stringify(picked.body));
  await service.waitForPublished(orderId, "cargo.shipment.status_changed", before + 1);
}

for (const target of targets) {
  const broker = realBroker(target.name);
  const on = `${target.name} PostgreSQL${broker ? " and RabbitMQ" : ""}`;

  Deno.test({ name: `shipments from order events on ${on}`, ignore: Boolean(target.skip) }, async (t) => {
    const service = await startTestCargo(target, { amqpUrl: broker });
    const { call, tokens } = service;
    const admin = await tokens.admin();
    const shipmentOf = (orderId: string) =>
      call("GET", `/v1/shipments/by-order/${orderId}`, { token: admin });
    const carrier = await service.addCarrier({ name: "Swift Parcel" });

    try {
      await t.step(
        "order.confirmed -> a shipment, and cargo.shipment.created naming its causes",
        async () => {
          const order = await service.confirmOrder();
          const [created] = await service.waitForPublished(order.orderId, "cargo.shipment.created");
          const shipment = await shipmentOf(order.orderId);
          assert.equal(shipment.status, 200);
          assert.match(shipment.body.trackingCode, trackingCodePattern);
          assert.deepEqual(created.payload, {
            shipmentId: shipment.body.id,
            orderId: order.orderId,
            userId: order.userId,
            trackingCode: shipment.body.trackingCode,
            carrierId: carrier.id,
          });
          assert.equal(created.correlationId, order.orderId);
          assert.equal(created.causationId, order.messageId);
          assert.equal(shipment.body.status, "created");
          assert.deepEqual(shipment.body.receiver, order.address);
          assert.deepEqual(shipment.body.lines, order.lines);
          assert.equal(shipment.body.sender.name, "MultiShop", "the shop sends, as configured by default");
          assert.deepEqual(
            shipment.body.events.map((
              event: { status: string; place: string },
            ) => [event.status, event.place]),
            [["created", "Seattle"]],
          );
        },
      );

      await t.step("the same message delivered twice: one shipment, one created event", async () => {
        const payload = confirmedOrder();
        const messageId = crypto.randomUUID();
        await service.confirmOrder(payload, messageId);
        await service.confirmOrder(payload, messageId);
        await service.waitForHandled(messageId, 2);
        // And once more, awaited, straight to the handler.
        const again = createEnvelope("order.confirmed", payload, {
          id: messageId,
          correlationId: payload.orderId,
        });
        await service.cargo.handle(again);
        await flushEvents(service, payload.orderId);
        assert.equal(service.publishedFor(payload.orderId, "cargo.shipment.created").length, 1);
        const listed = await call("GET", "/v1/shipments?limit=100", { token: admin });
        assert.equal(
          listed.body.items.filter((item: { orderId: string }) => item.orderId === payload.orderId).length,
          1,
        );
      });

      await t.step("two distinct deliveries of one confirmation racing: one shipment", async () => {
        const viaBus = confirmedOrder();
        const [first, second] = [crypto.randomUUID(), crypto.randomUUID()];
        await Promise.all([service.confirmOrder(viaBus, first), service.confirmOrder(viaBus, second)]);
        await service.waitForHandled(first);
        await service.waitForHandled(second);

        // Straight to the handler, several at once: on a real server each runs on its own connection.
        const direct = confirmedOrder();
        const envelopes = Array.from(
          { length: 4 },
          () => createEnvelope("order.confirmed", direct, { correlationId: direct.orderId }),
        );
        await Promise.all(envelopes.map((envelope) => service.cargo.handle(envelope)));

        for (const order of [viaBus, direct]) {
          await flushEvents(service, order.orderId);
          assert.equal(
            service.publishedFor(order.orderId, "cargo.shipment.created").length,
            1,
            order.orderId,
          );
          assert.equal((await shipmentOf(order.orderId)).body.status, "picked_up");
        }
      });

      await t.step("a cancelled order cancels its shipment while it is still created", async () => {
        const order = await service.confirmOrder();
        await service.waitForPublished(order.orderId, "cargo.shipment.created");
        const cancelId = await service.cancelOrder(order, "confirmed");
        const [changed] = await service.waitForPublished(order.orderId, "cargo.shipment.status_changed");
        const shipment = await shipmentOf(order.orderId);
        assert.equal(shipment.body.status, "cancelled");
        assert.deepEqual(changed.payload, {
          shipmentId: shipment.body.id,
          orderId: order.orderId,
          userId: order.userId,
          trackingCode: shipment.body.trackingCode,
          status: "cancelled",
          previousStatus: "created",
        });
        assert.equal(changed.correlationId, order.orderId);
        assert.equal(changed.causationId, cancelId);
        assert.deepEqual(shipment.body.events.map((event: { status: string }) => event.status), [
          "created",
          "cancelled",
        ]);
        const late = await call("POST", `/v1/shipments/${shipment.body.trackingCode}/events`, {
          token: admin,
          body: { status: "picked_up", place: "Seattle" },
        });
        assert.equal(late.status, 409);
        assert.equal(late.body.currentStatus, "cancelled");
      });

      await t.step("a shipment already picked up goes on when its order is cancelled", async () => {
        const order = await service.confirmOrder();
        await service.waitForPublished(order.orderId, "cargo.shipment.created");
        await flushEvents(service, order.orderId);
        await service.waitForHandled(await service.cancelOrder(order, "confirmed"));
        const shipment = await shipmentOf(order.orderId);
        assert.equal(shipment.body.status, "picked_up");
        assert.deepEqual(shipment.body.events.map((event: { status: string }) => event.status), [
          "created",
          "picked_up",
        ]);
      });

      await t.step("other status changes of an order move nothing", async () => {
        const order = await service.confirmOrder();
        await service.waitForPublished(order.orderId, "cargo.shipment.created");
        const id = crypto.randomUUID();
        await service.bus.publish("order.status_changed", orderEvents["order.status_changed"], {
          orderId: order.orderId,
          userId: order.userId,
          status: "shipped",
          previousStatus: "confirmed",
          cancellationReason: null,
        }, { id, correlationId: order.orderId });
        await service.waitForHandled(id);
        assert.equal((await shipmentOf(order.orderId)).body.status, "created");
      });

      await t.step("an order cancelled before its confirmation arrives ships nothing", async () => {
        const order = confirmedOrder();
        await service.waitForHandled(await service.cancelOrder(order, "confirmed"));
        const { messageId } = await service.confirmOrder(order);
        await service.waitForHandled(messageId);
        assert.equal((await shipmentOf(order.orderId)).status, 404);
      });
    } finally {
      await service.close();
    }
  });

  Deno.test({
    name: `carriers take turns; tracking codes never clash, on ${on}`,
    ignore: Boolean(target.skip),
  }, async (t) => {
    const forcedCodes: string[] = [];
    const service = await startTestCargo(target, {
      amqpUrl: broker,
      trackingCode: () =>
        forcedCodes.shift() ??
          trackingCodeFrom(crypto.getRandomValues(new Uint8Array(trackingCodeRandomLength))),
    });
    const admin = await service.tokens.admin();
    const shipmentOf = (orderId: string) =>
      service.call("GET", `/v1/shipments/by-order/${orderId}`, { token: admin });

    try {
      await t.step("without an active carrier, order.confirmed fails saying what to do", async () => {
        await service.addCarrier({ active: false });
        const order = confirmedOrder();
        await assert.rejects(
          service.cargo.handle(createEnvelope("order.confirmed", order, { correlationId: order.orderId })),
          /there is no active carrier: create or activate one at \/v1\/carriers/,
        );
      });

      await t.step(
        "shipments made at once spread evenly over the active carriers, never an inactive one",
        async () => {
          const active = [await service.addCarrier(), await service.addCarrier(), await service.addCarrier()];
          const inactive = await service.addCarrier({ active: false, name: "Retired Carrier" });
          const orders = Array.from({ length: 9 }, () => confirmedOrder());
          await Promise.all(
            orders.map((order) =>
              service.cargo.handle(createEnvelope("order.confirmed", order, { correlationId: order.orderId }))
            ),
          );
          const carriers = await Promise.all(
            orders.map(async (order) => (await shipmentOf(order.orderId)).body.carrier.id),
          );
          for (const carrier of active) {
            assert.equal(carriers.filter((id) => id === carrier.id).length, 3, carrier.name);
          }
          assert.ok(!carriers.includes(inactive.id));
        },
      );

      await t.step("a tracking code already taken is drawn again", async () => {
        // Queued before the order is confirmed: the handler may run before the broker confirms the publish.
        forcedCodes.push(fixedTrackingCode("A"));
        const first = await service.confirmOrder();
        await service.waitForHandled(first.messageId);
        assert.equal((await shipmentOf(first.orderId)).body.trackingCode, fixedTrackingCode("A"));

        forcedCodes.push(fixedTrackingCode("A"), fixedTrackingCode("A"), fixedTrackingCode("B"));
        const second = await service.confirmOrder();
        await service.waitForHandled(second.messageId);
        assert.equal((await shipmentOf(second.orderId)).body.trackingCode, fixedTrackingCode("B"));
      });

      await t.step("when every draw is taken the handler fails rather than loop", async () => {
        forcedCodes.push(...Array.from({ length: 5 }, () => fixedTrackingCode("A")));
        const order = confirmedOrder();
        await assert.rejects(
          service.cargo.handle(createEnvelope("order.confirmed", order, { correlationId: order.orderId })),
          /every one of 5 fresh tracking codes was taken/,
        );
        assert.equal(forcedCodes.length, 0);
        assert.equal((await shipmentOf(order.orderId)).status, 404);
      });
    } finally {
      await service.close();
    }
  });

  Deno.test({
    name:
      `no carrier: the confirmation is parked, then replayed once there is one, on ${target.name} PostgreSQL`,
    ignore: Boolean(target.skip),
  }, async (t) => {
    // The in-process bus, whose dead letters the test can read and replay.
    const service = await startTestCargo(target, { env: { CARGO_DEFAULT_CARRIER: "harbor express" } });
    const inProcess = service.inProcess!;
    const admin = await service.tokens.admin();
    const shipmentOf = (orderId: string) =>
      service.call("GET", `/v1/shipments/by-order/${orderId}`, { token: admin });

    try {
      await t.step(
        "without the default carrier active, order.confirmed fails every try and is parked",
        async () => {
          await service.addCarrier({ name: "Swift Parcel" });
          const harbor = await service.addCarrier({ name: "Harbor Express", active: false });
          const order = await service.confirmOrder();
          await waitFor("the confirmation parked", () => inProcess.deadLetters("cargo").length === 1);
          const [parked] = inProcess.deadLetters("cargo");
          assert.equal(parked.envelope.id, order.messageId);
          assert.match(
            parked.error,
            /CARGO_DEFAULT_CARRIER is "harbor express", which is not an active carrier/,
          );
          assert.equal((await shipmentOf(order.orderId)).status, 404);

          const activated = await service.call("PUT", `/v1/carriers/${harbor.id}`, {
            token: admin,
            body: { name: harbor.name, phone: harbor.phone, active: true },
          });
          assert.equal(activated.status, 200);
          assert.equal(inProcess.replayDeadLetters("cargo"), 1);
          await service.waitForPublished(order.orderId, "cargo.shipment.created");
          const shipment = await shipmentOf(order.orderId);
          assert.equal(shipment.body.carrier.id, harbor.id, "the default carrier takes it, not Swift Parcel");
        },
      );

      await t.step("every shipment goes with the default carrier", async () => {
        const orders = [
          await service.confirmOrder(),
          await service.confirmOrder(),
          await service.confirmOrder(),
        ];
        for (const order of orders) {
          await service.waitForPublished(order.orderId, "cargo.shipment.created");
          assert.equal((await shipmentOf(order.orderId)).body.carrier.name, "Harbor Express");
        }
      });
    } finally {
      await service.close();
    }
  });
}
