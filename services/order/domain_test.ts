/** The checkout saga's rules: each reply's transition, duplicates and late replies, compensations. */
import assert from "node:assert/strict";
import {
  afterReply,
  cancel,
  cancelByCustomer,
  initialState,
  type Order,
  type ReplyType,
  statusAfterShipment,
} from "./domain.ts";

function order(overrides: Partial<Order> = {}): Order {
  return {
    id: "order-1",
    userId: "user-1",
    ...initialState,
    lines: [{ productId: "p1", name: "Lamp", unitPrice: { amount: 1000, currency: "USD" }, quantity: 2 }],
    currency: "USD",
    subtotal: 2000,
    discount: 200,
    total: 1800,
    couponCode: "WELCOME10",
    address: {
      name: "Ada",
      surname: "Lovelace",
      email: "ada@example.com",
      phone: "+44 20 7946 0000",
      country: "UK",
      city: "London",
      district: "Marylebone",
      line1: "12 St James's Square",
      line2: null,
      zipCode: "SW1Y 4JH",
    },
    paymentMethodId: "pm-1",
    stepDeadline: null,
    trackingCode: null,
    createdAt: new Date(),
    updatedAt: new Date(),
    ...overrides,
  };
}

const types = (transition: ReturnType<typeof afterReply>) => transition?.commands.map((c) => c.type);

Deno.test("the happy path: stock, coupon, charge, stock committed, confirmed", () => {
  const reserved = afterReply(order(), "inventory.reserved")!;
  assert.equal(reserved.state.step, "reserve_coupon");
  assert.deepEqual(types(reserved), ["discount.reserve"]);
  const redeemed = afterReply(order({ ...reserved.state }), "discount.reserved")!;
  assert.equal(redeemed.state.step, "charge");
  assert.deepEqual(redeemed.commands[0].payload, {
    orderId: "order-1",
    paymentMethodId: "pm-1",
    amount: { amount: 1800, currency: "USD" },
  });
  const charged = afterReply(order({ ...redeemed.state }), "payment.charged")!;
  assert.deepEqual([charged.state.status, charged.state.step, charged.state.captured], [
    "pending",
    "commit_stock",
    true,
  ]);
  assert.ok(!charged.confirmed, "paid, but not confirmed before the stock is sure");
  assert.deepEqual(types(charged), ["inventory.commit"]);
  const committed = afterReply(order({ ...charged.state }), "inventory.committed")!;
  assert.equal(committed.state.status, "confirmed");
  assert.equal(committed.state.step, null);
  assert.ok(committed.confirmed);
  assert.deepEqual(types(committed), ["discount.commit"]);
  assert.deepEqual(
    types(afterReply(order({ ...charged.state, couponCode: null }), "inventory.committed")),
    [],
  );
});

Deno.test("without a coupon the charge follows the stock", () => {
  const reserved = afterReply(order({ couponCode: null }), "inventory.reserved")!;
  assert.equal(reserved.state.step, "charge");
  assert.deepEqual(types(reserved), ["payment.charge"]);
});

Deno.test("failures cancel with their reason and undo, newest first, what may be held", () => {
  const cases: [Partial<Order>, ReplyType, string, string[]][] = [
    [{}, "inventory.reservation_failed", "out_of_stock", ["inventory.release"]],
    [
      { step: "reserve_coupon", stockReserved: true },
      "discount.rejected",
      "coupon_invalid",
      ["discount.release", "inventory.release"],
    ],
    [
      { step: "charge", stockReserved: true, couponReserved: true },
      "payment.failed",
      "payment_declined",
      ["discount.release", "inventory.release"],
    ],
    [
      // The reservation expired and its units went to another order: the charge is refunded.
      { step: "commit_stock", stockReserved: true, couponReserved: true, captured: true },
      "inventory.commit_failed",
      "out_of_stock",
      ["payment.refund", "discount.release", "inventory.return"],
    ],
  ];
  for (const [state, reply, reason, commands] of cases) {
    const transition = afterReply(order(state), reply)!;
    assert.equal(transition.state.status, "cancelled");
    assert.equal(transition.state.cancellationReason, reason);
    assert.deepEqual(types(transition), commands, reply);
  }
});

Deno.test("a duplicate or stale reply changes nothing", () => {
  const charging = order({ step: "charge", stockReserved: true, couponReserved: true });
  assert.equal(afterReply(charging, "inventory.reserved"), undefined);
  const confirmed = order({ status: "confirmed", step: null, captured: true });
  assert.equal(afterReply(confirmed, "payment.charged"), undefined);
  assert.equal(afterReply(confirmed, "inventory.committed"), undefined);
});

Deno.test("cancelled while its stock is being committed, an order returns the stock, whichever comes first", () => {
  const committing = order({
    step: "commit_stock",
    stockReserved: true,
    couponReserved: true,
    captured: true,
  });
  const timedOut = cancel(committing, "timeout");
  assert.deepEqual(types(timedOut), ["payment.refund", "discount.release", "inventory.return"]);
  assert.equal(afterReply(order(timedOut.state), "inventory.committed"), undefined, "the return undoes it");
  assert.deepEqual(types(cancelByCustomer(committing)), [
    "payment.refund",
    "discount.release",
    "inventory.return",
  ]);
});

Deno.test("a step that succeeds after the order was cancelled is undone", () => {
  const cancelled = cancel(order({ step: "charge", stockReserved: true }), "timeout").state;
  const late = afterReply(order(cancelled), "payment.charged")!;
  assert.deepEqual(types(late), ["payment.refund"]);
  assert.ok(late.state.captured);
  assert.equal(afterReply(order(late.state), "payment.charged"), undefined, "refunded once");
  assert.deepEqual(types(afterReply(order(cancelled), "inventory.reserved")), ["inventory.release"]);
});

Deno.test("the customer cancels before shipping only", () => {
  assert.equal(cancelByCustomer(order())?.state.cancellationReason, "user_cancelled");
  const confirmed = { status: "confirmed", step: null, captured: true } as const;
  assert.deepEqual(types(cancelByCustomer(order(confirmed))), [
    "payment.refund",
    "discount.return",
    "inventory.return",
  ]);
  assert.deepEqual(types(cancelByCustomer(order({ ...confirmed, couponCode: null }))), [
    "payment.refund",
    "inventory.return",
  ]);
  assert.equal(cancelByCustomer(order({ status: "shipped", step: null })), undefined);
  assert.equal(cancelByCustomer(order({ status: "cancelled", step: null })), undefined);
});

Deno.test("shipping moves a confirmed order forward only: shipped, then delivered", () => {
  const at = (status: Order["status"]) => ({ status });
  assert.equal(statusAfterShipment(at("confirmed"), "created"), undefined);
  for (const moving of ["picked_up", "in_transit", "out_for_delivery"] as const) {
    assert.equal(statusAfterShipment(at("confirmed"), moving), "shipped");
    assert.equal(statusAfterShipment(at("shipped"), moving), undefined);
    assert.equal(statusAfterShipment(at("delivered"), moving), undefined, "a late scan does not go back");
  }
  assert.equal(statusAfterShipment(at("shipped"), "delivered"), "delivered");
  assert.equal(statusAfterShipment(at("confirmed"), "delivered"), "delivered", "a missed scan is skipped");
  assert.equal(statusAfterShipment(at("cancelled"), "delivered"), undefined);
  assert.equal(statusAfterShipment(at("shipped"), "returned"), undefined);
});
