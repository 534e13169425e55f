/**
 * The cargo service through HTTP, as admins, customers and anyone with a tracking code use it, on
 * both PostgreSQL targets (on real PostgreSQL through real RabbitMQ when it is there).
 */
import assert from "node:assert/strict";
import { amqpTarget, postgresTargets } from "@multishop/kit/testing";
import { seedCarriers } from "./seed.ts";
import { carrierBody, startTestCargo } from "./test_support.ts";

const missingId = "00000000-0000-4000-8000-000000000000";
const missingCode = "MS2222222222";

const targets = await postgresTargets();
const rabbit = await amqpTarget();
const realBroker = (targetName: string) => (targetName === "real" && !rabbit.skip ? rabbit.url() : undefined);

type Event = { status: string; occurredAt: string; place: string; note: string | null };

for (const target of targets) {
  const broker = realBroker(target.name);
  Deno.test({
    name: `cargo API on ${target.name} PostgreSQL${broker ? " and RabbitMQ" : ""}`,
    ignore: Boolean(target.skip),
  }, async (t) => {
    const service = await startTestCargo(target, { amqpUrl: broker });
    const { call, tokens } = service;
    const admin = await tokens.admin();
    const customerId = crypto.randomUUID();
    const customer = await tokens.customer(customerId);
    const asAdmin = (method: string, path: string, body?: unknown) =>
      call(method, path, { token: admin, body });

    /** A confirmed order of `userId` and its shipment as its owner sees it. */
    const shippedOrder = async (userId = customerId) => {
      const order = await service.confirmOrder({ userId });
      await service.waitForPublished(order.orderId, "cargo.shipment.created");
      const shipment = await asAdmin("GET", `/v1/shipments/by-order/${order.orderId}`);
      assert.equal(shipment.status, 200, JSON.stringify(shipment.body));
      return { order, shipment: shipment.body, code: shipment.body.trackingCode as string };
    };
    const track = (code: string, body: Record<string, unknown>) =>
      asAdmin("POST", `/v1/shipments/${code}/events`, body);

    try {
      await t.step("readiness checks PostgreSQL and messaging", async () => {
        const ready = await call("GET", "/health/ready");
        assert.equal(ready.status, 200);
        assert.deepEqual(ready.body.checks, { postgres: "ok", messaging: "ok" });
      });

      await t.step("admin routes: 401 without a token, 403 for a customer; nothing changes", async () => {
        const routes: [string, string, unknown?][] = [
          ["POST", "/v1/carriers", carrierBody()],
          ["GET", "/v1/carriers"],
          ["GET", `/v1/carriers/${missingId}`],
          ["PUT", `/v1/carriers/${missingId}`, carrierBody()],
          ["DELETE", `/v1/carriers/${missingId}`],
          ["GET", "/v1/shipments"],
          ["POST", `/v1/shipments/${missingCode}/events`, { status: "picked_up", place: "Seattle" }],
        ];
        for (const [method, path, body] of routes) {
          const anonymous = await call(method, path, { body });
          assert.equal(anonymous.status, 401, `${method} ${path}`);
          assert.equal(anonymous.headers.get("content-type"), "application/problem+json");
          assert.equal(
            (await call(method, path, { token: customer, body })).status,
            403,
            `${method} ${path}`,
          );
        }
        assert.equal((await call("GET", `/v1/shipments/by-order/${missingId}`)).status, 401);
        assert.equal((await asAdmin("GET", "/v1/carriers")).body.total, 0, "nothing was created");
      });

      await t.step("carriers: create with Location; names unique regardless of case (409)", async () => {
        const created = await asAdmin("POST", "/v1/carriers", {
          name: "Swift Parcel",
          phone: "+1 206 555 0142",
          website: "https://swiftparcel.example",
          active: true,
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.equal(created.headers.get("location"), `/v1/carriers/${created.body.id}`);
        const { id, createdAt, updatedAt, ...fields } = created.body;
        assert.match(id, /^[0-9a-f-]{36}$/);
        assert.ok(Date.parse(createdAt) && Date.parse(updatedAt));
        assert.deepEqual(fields, {
          name: "Swift Parcel",
          phone: "+1 206 555 0142",
          website: "https://swiftparcel.example",
          active: true,
        });
        const minimal = await asAdmin("POST", "/v1/carriers", { name: "Harbor Express", active: false });
        assert.equal(minimal.status, 201);
        assert.equal(minimal.body.phone, null);
        assert.equal(minimal.body.website, null);

        const clash = await asAdmin("POST", "/v1/carriers", { name: "  swift PARCEL ", active: true });
        assert.equal(clash.status, 409);
        assert.deepEqual(clash.body.errors.map((error: { field: string }) => error.field), ["name"]);
        const renamed = await asAdmin("PUT", `/v1/carriers/${minimal.body.id}`, {
          name: "SWIFT parcel",
          active: true,
        });
        assert.equal(renamed.status, 409);
        assert.equal((await asAdmin("GET", `/v1/carriers/${minimal.body.id}`)).body.name, "Harbor Express");
      });

      await t.step("carriers: bad input is a 400 naming each field, and creates nothing", async () => {
        const bad = await asAdmin("POST", "/v1/carriers", {
          name: "",
          phone: "call us",
          website: "javascript:alert(1)",
          active: "yes",
          rating: 5,
        });
        assert.equal(bad.status, 400);
        assert.deepEqual(bad.body.errors.map((error: { field: string }) => error.field).sort(), [
          "active",
          "name",
          "phone",
          "rating",
          "website",
        ]);
        const missing = await asAdmin("POST", "/v1/carriers", {});
        assert.deepEqual(missing.body.errors, [
          { field: "name", reason: "is required" },
          { field: "active", reason: "is required" },
        ]);
        assert.equal((await asAdmin("GET", "/v1/carriers/not-an-id")).status, 400);
        assert.equal((await asAdmin("GET", "/v1/carriers")).body.total, 2);
      });

      await t.step("carriers: read, replace, list with paging and the active filter, delete", async () => {
        const carrier =
          (await asAdmin("POST", "/v1/carriers", carrierBody({ website: "https://x.example" }))).body;
        const replaced = await asAdmin("PUT", `/v1/carriers/${carrier.id}`, {
          name: carrier.name,
          active: false,
        });
        assert.equal(replaced.status, 200);
        assert.equal(replaced.body.website, null, "a field left out is removed");
        assert.equal(replaced.body.active, false);
        assert.deepEqual((await asAdmin("GET", `/v1/carriers/${carrier.id}`)).body, replaced.body);

        const first = await asAdmin("GET", "/v1/carriers?limit=2");
        assert.equal(first.body.items.length, 2);
        assert.equal(first.body.total, 3);
        const second = await asAdmin("GET", `/v1/carriers?limit=2&cursor=${first.body.nextCursor}`);
        assert.equal(second.body.items.length, 1);
        assert.equal(second.body.nextCursor, null);
        assert.deepEqual(
          [...first.body.items, ...second.body.items].map((item: { name: string }) => item.name),
          ["Swift Parcel", "Harbor Express", carrier.name],
        );
        const inactive = await asAdmin("GET", "/v1/carriers?active=false");
        assert.deepEqual(inactive.body.items.map((item: { name: string }) => item.name), [
          "Harbor Express",
          carrier.name,
        ]);
        assert.equal((await asAdmin("GET", "/v1/carriers?cursor=nonsense")).status, 400);

        assert.equal((await asAdmin("DELETE", `/v1/carriers/${carrier.id}`)).status, 204);
        assert.equal((await asAdmin("GET", `/v1/carriers/${carrier.id}`)).status, 404);
        assert.equal((await asAdmin("DELETE", `/v1/carriers/${carrier.id}`)).status, 404);
        assert.equal((await asAdmin("PUT", `/v1/carriers/${missingId}`, carrierBody())).status, 404);
      });

      await t.step("seeding adds the demo carriers once", async () => {
        const names = await seedCarriers(service.store);
        assert.deepEqual(names, ["Northwind Freight"], "the two whose names exist are left alone");
        assert.deepEqual(await seedCarriers(service.store), []);
        // The demo carriers may take shipments; only Swift Parcel should, for the steps below.
        const listed = await asAdmin("GET", "/v1/carriers?active=true");
        for (
          const carrier of listed.body.items.filter((item: { name: string }) => item.name !== "Swift Parcel")
        ) {
          await asAdmin("PUT", `/v1/carriers/${carrier.id}`, { name: carrier.name, active: false });
        }
      });

      await t.step("a carrier with shipments cannot be deleted (409); deactivating it works", async () => {
        const { shipment } = await shippedOrder();
        const deleted = await asAdmin("DELETE", `/v1/carriers/${shipment.carrier.id}`);
        assert.equal(deleted.status, 409);
        assert.match(deleted.body.detail, /set `active` to false instead/);
        const carrier = (await asAdmin("GET", `/v1/carriers/${shipment.carrier.id}`)).body;
        const deactivated = await asAdmin("PUT", `/v1/carriers/${carrier.id}`, {
          name: carrier.name,
          phone: carrier.phone,
          website: carrier.website,
          active: false,
        });
        assert.equal(deactivated.status, 200);
        assert.equal(deactivated.body.active, false);
        const reactivated = await asAdmin("PUT", `/v1/carriers/${carrier.id}`, {
          ...deactivated.body,
          active: true,
        });
        assert.equal(reactivated.status, 400, "id and times are not fields to set");
        await asAdmin("PUT", `/v1/carriers/${carrier.id}`, {
          name: carrier.name,
          phone: carrier.phone,
          website: carrier.website,
          active: true,
        });
      });

      await t.step("public tracking: status, carrier, history, and only the city and country", async () => {
        const { order, code } = await shippedOrder();
        const tracked = await call("GET", `/v1/shipments/${code}`);
        assert.equal(tracked.status, 200, JSON.stringify(tracked.body));
        const { createdAt, events, ...rest } = tracked.body;
        assert.ok(Date.parse(createdAt));
        assert.deepEqual(rest, {
          trackingCode: code,
          status: "created",
          carrier: { name: "Swift Parcel", phone: "+1 206 555 0142", website: "https://swiftparcel.example" },
          destination: { city: "London", country: "United Kingdom" },
        });
        assert.deepEqual(events.map((event: Event) => [event.status, event.place, event.note]), [
          ["created", "Seattle", null],
        ]);
        const text = JSON.stringify(tracked.body);
        const { address } = order;
        for (const secret of [address.name, address.surname, address.email, address.phone, address.line1]) {
          assert.ok(!text.includes(secret), `tracking shows ${secret}`);
        }
        for (
          const secret of [address.line2!, address.zipCode, address.district, order.userId, order.orderId]
        ) {
          assert.ok(!text.includes(secret), `tracking shows ${secret}`);
        }
        assert.ok(!text.includes("Desk lamp"), "tracking shows what was ordered");
        assert.equal((await call("GET", `/v1/shipments/${code.toLowerCase()}`)).status, 200, "any case");
        assert.equal((await call("GET", `/v1/shipments/${missingCode}`)).status, 404);
        const malformed = await call("GET", "/v1/shipments/MS0000000000");
        assert.equal(malformed.status, 400);
        assert.equal(malformed.body.errors[0].field, "path.trackingCode");
      });

      await t.step(
        "by order: the owner sees everything; another customer gets 404; admins see any",
        async () => {
          const { order, code, shipment } = await shippedOrder();
          const own = await call("GET", `/v1/shipments/by-order/${order.orderId}`, { token: customer });
          assert.equal(own.status, 200);
          assert.deepEqual(own.body, shipment);
          assert.equal(own.body.trackingCode, code);
          assert.equal(own.body.userId, customerId);
          assert.deepEqual(own.body.receiver, order.address);
          assert.deepEqual(own.body.lines, order.lines);
          assert.equal(own.body.sender.city, "Seattle");
          const stranger = await call("GET", `/v1/shipments/by-order/${order.orderId}`, {
            token: await tokens.customer(),
          });
          assert.equal(stranger.status, 404);
          const unknown = await call("GET", `/v1/shipments/by-order/${crypto.randomUUID()}`, {
            token: customer,
          });
          assert.equal(unknown.status, 404);
          assert.deepEqual(
            stranger.body.detail,
            unknown.body.detail,
            "another's order reads like a missing one",
          );
        },
      );

      await t.step("tracking events advance created..delivered, each status change published", async () => {
        const { order, code } = await shippedOrder();
        const steps: [string, string][] = [
          ["picked_up", "Seattle"],
          ["in_transit", "Seattle hub"],
          ["in_transit", "Memphis hub"],
          ["out_for_delivery", "London depot"],
          ["in_transit", "London depot"],
          ["out_for_delivery", "London depot"],
          ["delivered", "London"],
        ];
        for (const [status, place] of steps) {
          const added = await track(code, {
            status,
            place,
            note: status === "delivered" ? "left with a neighbour" : undefined,
          });
          assert.equal(added.status, 201, `${status}: ${JSON.stringify(added.body)}`);
          assert.equal(added.body.status, status);
        }
        // The hub scan (in_transit again) changes no status, so six changes went out for seven events.
        const changes = await service.waitForPublished(order.orderId, "cargo.shipment.status_changed", 6);
        assert.deepEqual(
          changes.map((change) => {
            const { previousStatus, status } = change.payload as { previousStatus: string; status: string };
            return `${previousStatus}>${status}`;
          }),
          [
            "created>picked_up",
            "picked_up>in_transit",
            "in_transit>out_for_delivery",
            "out_for_delivery>in_transit",
            "in_transit>out_for_delivery",
            "out_for_delivery>delivered",
          ],
        );
        assert.ok(changes.every((change) => change.correlationId === order.orderId));
        const tracked = (await call("GET", `/v1/shipments/${code}`)).body;
        assert.equal(tracked.status, "delivered");
        assert.deepEqual(
          tracked.events.map((event: Event) => [event.status, event.place]),
          [["created", "Seattle"], ...steps],
        );
        assert.equal(tracked.events.at(-1).note, "left with a neighbour");
        const times = tracked.events.map((event: Event) => Date.parse(event.occurredAt));
        assert.deepEqual(times, [...times].sort((a, b) => a - b), "the history moves forward");

        const after = await track(code, { status: "returned", place: "London" });
        assert.equal(after.status, 409);
        assert.equal(after.body.currentStatus, "delivered");
        assert.match(after.body.detail, /delivered, which is final/);
      });

      await t.step(
        "an invalid transition answers 409 naming the current status; nothing is recorded",
        async () => {
          const { code } = await shippedOrder();
          for (const status of ["delivered", "in_transit", "returned", "out_for_delivery"]) {
            const refused = await track(code, { status, place: "Seattle" });
            assert.equal(refused.status, 409, status);
            assert.equal(refused.body.currentStatus, "created");
            assert.deepEqual(refused.body.allowedStatuses, ["picked_up"]);
            assert.match(refused.body.detail, new RegExp(`created; it can move to picked_up, not ${status}`));
          }
          const tracked = (await call("GET", `/v1/shipments/${code}`)).body;
          assert.equal(tracked.status, "created");
          assert.equal(tracked.events.length, 1);
        },
      );

      await t.step("event times: given ones kept; future or before the previous event -> 422", async () => {
        const { code } = await shippedOrder();
        const created = Date.parse((await call("GET", `/v1/shipments/${code}`)).body.createdAt);
        const future = new Date(Date.now() + 60 * 60_000).toISOString();
        const early = new Date(created - 60_000).toISOString();
        for (const occurredAt of [future, early]) {
          const refused = await track(code, { status: "picked_up", place: "Seattle", occurredAt });
          assert.equal(refused.status, 422, occurredAt);
          assert.deepEqual(refused.body.errors.map((error: { field: string }) => error.field), [
            "occurredAt",
          ]);
        }
        const at = new Date(created + 1_000).toISOString();
        const kept = await track(code, {
          status: "picked_up",
          place: "Seattle",
          occurredAt: at.replace("Z", "+00:00"),
        });
        assert.equal(kept.status, 201);
        assert.equal(kept.body.events.at(-1).occurredAt, at);
        const before = await track(code, {
          status: "in_transit",
          place: "Hub",
          occurredAt: new Date(created).toISOString(),
        });
        assert.equal(before.status, 422, "before the pick-up");
        assert.equal((await call("GET", `/v1/shipments/${code}`)).body.events.length, 2);
      });

      await t.step("tracking events: bad input 400, unknown code 404", async () => {
        const { code } = await shippedOrder();
        const bad = await track(code, { status: "lost", place: "", occurredAt: "yesterday", by: "me" });
        assert.equal(bad.status, 400);
        assert.deepEqual(bad.body.errors.map((error: { field: string }) => error.field).sort(), [
          "by",
          "occurredAt",
          "place",
          "status",
        ]);
        assert.equal((await track(code, { status: "cancelled", place: "Seattle" })).status, 400);
        assert.equal((await track(missingCode, { status: "picked_up", place: "Seattle" })).status, 404);
        assert.equal((await call("GET", `/v1/shipments/${code}`)).body.events.length, 1);
      });

      await t.step("concurrent events on one shipment: only one of two pick-ups passes", async () => {
        const { code } = await shippedOrder();
        const results = await Promise.all(
          Array.from({ length: 2 }, () => track(code, { status: "picked_up", place: "Seattle" })),
        );
        assert.deepEqual(results.map((result) => result.status).sort(), [201, 409]);
        const tracked = (await call("GET", `/v1/shipments/${code}`)).body;
        assert.deepEqual(tracked.events.map((event: Event) => event.status), ["created", "picked_up"]);
      });

      await t.step("admins list shipments newest first, by status, in pages", async () => {
        const all = await asAdmin("GET", "/v1/shipments?limit=100");
        assert.equal(all.status, 200);
        assert.equal(all.body.items.length, all.body.total);
        const times = all.body.items.map((item: { createdAt: string }) => Date.parse(item.createdAt));
        assert.deepEqual(times, [...times].sort((a, b) => b - a));
        assert.ok(!("events" in all.body.items[0]), "the list leaves the history out");

        const delivered = await asAdmin("GET", "/v1/shipments?status=delivered");
        assert.equal(delivered.body.total, 1);
        assert.ok(delivered.body.items.every((item: { status: string }) => item.status === "delivered"));

        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page: { body: { items: { id: string }[]; nextCursor: string | null } } = await asAdmin(
            "GET",
            `/v1/shipments?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
          );
          assert.ok(page.body.items.length <= 2);
          seen.push(...page.body.items.map((item) => item.id));
          cursor = page.body.nextCursor;
        } while (cursor);
        assert.deepEqual(seen, all.body.items.map((item: { id: string }) => item.id));
        assert.equal((await asAdmin("GET", "/v1/shipments?status=lost")).status, 400);
      });
    } finally {
      await service.close();
    }
  });
}
