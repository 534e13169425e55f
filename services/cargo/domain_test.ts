/** The shipment rules, without a database: transitions, event times, tracking codes, carriers' turns, privacy. */
import assert from "node:assert/strict";
import {
  allowedAfter,
  cancelledWithOrder,
  type Carrier,
  carrierInput,
  clockSkewMs,
  eventTime,
  NoCarrierError,
  pickCarrier,
  publicTracking,
  shipmentStatuses,
  type ShipmentWithEvents,
  trackingCodeAlphabet,
  trackingCodeFrom,
  trackingCodePattern,
  trackingEventInput,
  trackingStatuses,
  transitionRefusal,
} from "./domain.ts";

Deno.test("a shipment moves created -> picked_up -> in_transit -> out_for_delivery -> delivered", () => {
  assert.equal(transitionRefusal("created", "picked_up"), undefined);
  assert.equal(transitionRefusal("picked_up", "in_transit"), undefined);
  assert.equal(transitionRefusal("in_transit", "out_for_delivery"), undefined);
  assert.equal(transitionRefusal("out_for_delivery", "delivered"), undefined);
});

Deno.test("hub scans repeat in_transit; a failed delivery attempt goes back to in_transit", () => {
  assert.equal(transitionRefusal("in_transit", "in_transit"), undefined);
  assert.equal(transitionRefusal("out_for_delivery", "in_transit"), undefined);
});

Deno.test("only a shipment in transit or out for delivery can be returned", () => {
  assert.equal(transitionRefusal("in_transit", "returned"), undefined);
  assert.equal(transitionRefusal("out_for_delivery", "returned"), undefined);
  assert.match(transitionRefusal("created", "returned")!, /created; it can move to picked_up, not returned/);
  assert.match(
    transitionRefusal("picked_up", "returned")!,
    /picked_up; it can move to in_transit, not returned/,
  );
});

Deno.test("delivered, returned and cancelled are final", () => {
  for (const final of ["delivered", "returned", "cancelled"] as const) {
    assert.deepEqual(allowedAfter(final), []);
    for (const next of trackingStatuses) {
      assert.equal(transitionRefusal(final, next), `the shipment is ${final}, which is final`);
    }
  }
});

Deno.test("every step not in the table is refused, naming the current status", () => {
  const allowed = new Set([
    "created>picked_up",
    "picked_up>in_transit",
    "in_transit>in_transit",
    "in_transit>out_for_delivery",
    "in_transit>returned",
    "out_for_delivery>delivered",
    "out_for_delivery>in_transit",
    "out_for_delivery>returned",
  ]);
  for (const current of shipmentStatuses) {
    for (const next of trackingStatuses) {
      const refusal = transitionRefusal(current, next);
      if (allowed.has(`${current}>${next}`)) assert.equal(refusal, undefined, `${current} -> ${next}`);
      else assert.ok(refusal?.startsWith(`the shipment is ${current}`), `${current} -> ${next}: ${refusal}`);
    }
  }
});

Deno.test("a cancelled order takes back only a shipment the carrier has not picked up", () => {
  assert.equal(cancelledWithOrder("created"), true);
  for (const status of shipmentStatuses.filter((status) => status !== "created")) {
    assert.equal(cancelledWithOrder(status), false, status);
  }
});

Deno.test("event time: now by default, never before the previous event", () => {
  const now = new Date("2026-03-10T12:00:00Z");
  assert.deepEqual(eventTime(undefined, now, new Date("2026-03-10T11:00:00Z")), { time: now });
  // The previous event came from an instance whose clock runs ahead: the history still moves forward.
  const ahead = new Date("2026-03-10T12:00:01Z");
  assert.deepEqual(eventTime(undefined, now, ahead), { time: ahead });
});

Deno.test("event time: a given time is kept unless in the future or before the previous event", () => {
  const now = new Date("2026-03-10T12:00:00Z");
  const previous = new Date("2026-03-10T09:00:00Z");
  const at = (iso: string) => eventTime(new Date(iso), now, previous);
  assert.deepEqual(at("2026-03-10T10:30:00Z"), { time: new Date("2026-03-10T10:30:00Z") });
  assert.deepEqual(at("2026-03-10T09:00:00Z"), { time: previous }, "the previous event's instant is fine");
  assert.deepEqual(eventTime(new Date(now.getTime() + clockSkewMs), now, previous), {
    time: new Date(now.getTime() + clockSkewMs),
  }, "a scanner's clock a little ahead is tolerated");
  assert.match((at("2026-03-10T12:06:00Z") as { reason: string }).reason, /must not be in the future/);
  assert.match(
    (at("2026-03-10T08:59:59Z") as { reason: string }).reason,
    /must not be before the shipment's previous event, at 2026-03-10T09:00:00.000Z/,
  );
});

Deno.test("tracking codes: MS and ten characters of the unambiguous alphabet", () => {
  assert.equal(trackingCodeAlphabet.length, 32);
  for (const ambiguous of ["0", "O", "1", "I"]) {
    assert.ok(!trackingCodeAlphabet.includes(ambiguous), ambiguous);
  }
  assert.equal(trackingCodeFrom(new Uint8Array(10)), "MS2222222222");
  assert.equal(trackingCodeFrom(new Uint8Array(10).fill(255)), "MSZZZZZZZZZZ");
  // Each byte's low five bits pick the character, so every byte value maps evenly.
  assert.equal(trackingCodeFrom(Uint8Array.from([0, 32, 64, 96, 128, 160, 192, 224, 1, 33])), "MS2222222233");
  for (let i = 0; i < 200; i++) {
    assert.match(trackingCodeFrom(crypto.getRandomValues(new Uint8Array(10))), trackingCodePattern);
  }
  assert.throws(() => trackingCodeFrom(new Uint8Array(9)), /10 random bytes, not 9/);
});

const carrier = (name: string, overrides: Partial<Carrier> = {}): Carrier => ({
  id: `id-${name}`,
  name,
  phone: null,
  website: null,
  active: true,
  createdAt: new Date(),
  updatedAt: new Date(),
  ...overrides,
});

Deno.test("carriers take turns: each turn number picks the next active carrier", () => {
  const active = [carrier("A"), carrier("B"), carrier("C")];
  // Turns come from a bigint sequence; beyond 2^53 the pick must still be exact.
  const picked = [0n, 1n, 2n, 3n, 4n, 5n, 3n * 2n ** 60n].map((turn) =>
    pickCarrier(active, undefined, turn).name
  );
  assert.deepEqual(picked, ["A", "B", "C", "A", "B", "C", "A"]);
});

Deno.test("the configured default carrier takes every shipment; its name in any case", () => {
  const active = [carrier("Swift Parcel"), carrier("Harbor Express")];
  for (const turn of [0n, 1n, 2n]) {
    assert.equal(pickCarrier(active, "harbor EXPRESS", turn).name, "Harbor Express");
  }
});

Deno.test("no carrier to take a shipment is an error that says what to do", () => {
  assert.throws(() => pickCarrier([], undefined, 1n), NoCarrierError);
  assert.throws(
    () => pickCarrier([], undefined, 1n),
    /no active carrier: create or activate one at \/v1\/carriers/,
  );
  assert.throws(
    () => pickCarrier([carrier("Swift Parcel")], "Harbor Express", 1n),
    /CARGO_DEFAULT_CARRIER is "Harbor Express", which is not an active carrier/,
  );
});

Deno.test("public tracking shows the receiver's city and country and nothing personal", () => {
  const shipment: ShipmentWithEvents = {
    id: "s1",
    orderId: "o1",
    userId: "u1",
    trackingCode: "MSABCDEFGHJK",
    status: "in_transit",
    carrier: { id: "c1", name: "Swift Parcel", phone: "+1 555 0100", website: null },
    sender: {
      name: "MultiShop",
      phone: "+1 206 555 0100",
      email: "shipping@multishop.example",
      country: "United States",
      city: "Seattle",
      district: "SoDo",
      line1: "1200 1st Ave S",
      zipCode: "98134",
    },
    receiver: {
      name: "Ada",
      surname: "Lovelace",
      email: "ada@example.com",
      phone: "+44 20 7946 0000",
      country: "United Kingdom",
      city: "London",
      district: "Marylebone",
      line1: "12 St James's Square",
      line2: null,
      zipCode: "SW1Y 4JH",
    },
    lines: [{ productId: "p1", name: "Lamp", unitPrice: { amount: 100, currency: "USD" }, quantity: 1 }],
    createdAt: new Date("2026-03-10T09:00:00Z"),
    updatedAt: new Date("2026-03-10T10:00:00Z"),
    events: [{
      status: "created",
      occurredAt: new Date("2026-03-10T09:00:00Z"),
      place: "Seattle",
      note: null,
    }],
  };
  const shown = publicTracking(shipment);
  assert.deepEqual(shown, {
    trackingCode: "MSABCDEFGHJK",
    status: "in_transit",
    carrier: { name: "Swift Parcel", phone: "+1 555 0100", website: null },
    destination: { city: "London", country: "United Kingdom" },
    createdAt: shipment.createdAt,
    events: shipment.events,
  });
  const text = JSON.stringify(shown);
  for (
    const secret of [
      "Ada",
      "Lovelace",
      "ada@example.com",
      "7946",
      "St James",
      "SW1Y",
      "Marylebone",
      "u1",
      "o1",
    ]
  ) {
    assert.ok(!text.includes(secret), secret);
  }
});

Deno.test("carrier input: name required, phone and website checked, unknown fields refused", () => {
  assert.ok(carrierInput.safeParse({ name: "Swift Parcel", active: true }).success);
  const bad = carrierInput.safeParse({
    name: " ",
    phone: "call us",
    website: "ftp://x.example",
    active: "yes",
    x: 1,
  });
  assert.ok(!bad.success);
  const fields = bad.error.issues.map((issue) => issue.path.join(".") || issue.code).sort();
  assert.deepEqual(fields, ["active", "name", "phone", "unrecognized_keys", "website"]);
});

Deno.test("tracking event input: an admin records only the carrier's statuses", () => {
  assert.ok(trackingEventInput.safeParse({ status: "picked_up", place: "Seattle" }).success);
  for (const status of ["created", "cancelled", "lost"]) {
    assert.ok(!trackingEventInput.safeParse({ status, place: "Seattle" }).success, status);
  }
  assert.ok(
    !trackingEventInput.safeParse({ status: "picked_up", place: "Seattle", occurredAt: "yesterday" }).success,
  );
  assert.ok(!trackingEventInput.safeParse({ status: "picked_up" }).success, "place is required");
});
