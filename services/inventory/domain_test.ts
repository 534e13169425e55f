/** The stock and reservation rules, without a database. */
import assert from "node:assert/strict";
import {
  available,
  checkSameRequest,
  isDue,
  normalizeLines,
  onHandProblem,
  productIdList,
  type Reservation,
  reservationDeadline,
  ReservationError,
  type ReservationStatus,
  shortages,
  statusAfterCommit,
  statusAfterExpiry,
  statusAfterRelease,
  statusAfterReturn,
  stockInput,
} from "./domain.ts";

const now = new Date("2026-06-15T12:00:00Z");
const a = "0a000000-0000-4000-8000-000000000000";
const b = "0b000000-0000-4000-8000-000000000000";
const c = "0c000000-0000-4000-8000-000000000000";

const reservation = (status: ReservationStatus, expiresAt: Date | null = now): Reservation => ({
  orderId: "order-1",
  lines: [{ productId: a, quantity: 2 }],
  status,
  outOfStock: status === "failed" ? [a] : [],
  expiresAt: status === "failed" ? null : expiresAt,
});

const isReservationError = (kind: ReservationError["kind"]) => (error: unknown) =>
  error instanceof ReservationError && error.kind === kind;

Deno.test("available is on hand minus reserved; nothing for a retired or unknown product", () => {
  assert.equal(available({ onHand: 10, reserved: 3, retired: false }), 7);
  assert.equal(available({ onHand: 3, reserved: 3, retired: false }), 0);
  assert.equal(available({ onHand: 10, reserved: 0, retired: true }), 0);
  assert.equal(available(undefined), 0);
});

Deno.test("on hand may not go below what is reserved", () => {
  assert.equal(onHandProblem({ reserved: 4 }, 4), undefined);
  assert.equal(onHandProblem({ reserved: 0 }, 0), undefined);
  assert.match(onHandProblem({ reserved: 4 }, 3)!, /4 units are reserved/);
});

Deno.test("lines are merged per product and sorted, so the same basket in any order is one request", () => {
  assert.deepEqual(
    normalizeLines([
      { productId: c, quantity: 1 },
      { productId: a, quantity: 2 },
      { productId: c, quantity: 4 },
    ]),
    [{ productId: a, quantity: 2 }, { productId: c, quantity: 5 }],
  );
  assert.deepEqual(
    normalizeLines([{ productId: b, quantity: 1 }, { productId: a, quantity: 1 }]),
    normalizeLines([{ productId: a, quantity: 1 }, { productId: b, quantity: 1 }]),
  );
});

Deno.test("shortages name every line its product cannot cover, and only those", () => {
  const stock = new Map([
    [a, { onHand: 5, reserved: 2, retired: false }],
    [b, { onHand: 9, reserved: 0, retired: true }],
  ]);
  assert.deepEqual(shortages([{ productId: a, quantity: 3 }], stock), [], "exactly what is available");
  assert.deepEqual(shortages([{ productId: a, quantity: 4 }], stock), [a]);
  assert.deepEqual(
    shortages(
      [{ productId: a, quantity: 1 }, { productId: b, quantity: 1 }, { productId: c, quantity: 1 }],
      stock,
    ),
    [b, c],
    "a retired product and one without stock cannot be reserved",
  );
});

Deno.test("a repeated reserve must ask for the same lines", () => {
  const held = reservation("reserved");
  checkSameRequest(held, [{ productId: a, quantity: 2 }]);
  assert.throws(
    () => checkSameRequest(held, [{ productId: a, quantity: 3 }]),
    isReservationError("mismatch"),
  );
  assert.throws(
    () => checkSameRequest(held, [{ productId: a, quantity: 2 }, { productId: b, quantity: 1 }]),
    isReservationError("mismatch"),
  );
});

const shelf = (onHand: number, reserved = 0) => new Map([[a, { onHand, reserved, retired: false }]]);

Deno.test("commit: reserved or committed becomes committed, even past the deadline; nothing else can", () => {
  assert.equal(statusAfterCommit(reservation("reserved"), shelf(2, 2)), "committed");
  assert.equal(
    statusAfterCommit(reservation("reserved", new Date(now.getTime() - 60_000)), shelf(2, 2)),
    "committed",
  );
  assert.equal(statusAfterCommit(reservation("committed"), shelf(0)), "committed");
  for (const status of ["released", "returned", "failed"] as const) {
    assert.throws(
      () => statusAfterCommit(reservation(status), shelf(10)),
      isReservationError("not_reserved"),
    );
  }
});

Deno.test("commit of an expired reservation takes the units again only if all are still free", () => {
  assert.equal(statusAfterCommit(reservation("expired"), shelf(2)), "committed", "exactly the 2 units free");
  assert.equal(statusAfterCommit(reservation("expired"), shelf(5, 4)), "expired", "1 free, 2 needed");
  assert.equal(
    statusAfterCommit(reservation("expired"), new Map([[a, { onHand: 9, reserved: 0, retired: true }]])),
    "expired",
    "a retired product cannot be taken",
  );
  assert.equal(statusAfterCommit(reservation("expired"), new Map()), "expired", "no stock row");
});

Deno.test("release: reserved and expired are freed for good, committed is refused, the rest stay", () => {
  assert.equal(statusAfterRelease(reservation("reserved")), "released");
  assert.equal(statusAfterRelease(reservation("expired")), "released");
  assert.equal(statusAfterRelease(reservation("released")), "released");
  assert.equal(statusAfterRelease(reservation("failed")), "failed");
  assert.throws(() => statusAfterRelease(reservation("committed")), isReservationError("committed"));
});

Deno.test("return: committed comes back, a reservation not yet committed is released, the rest stay", () => {
  assert.equal(statusAfterReturn(reservation("committed")), "returned");
  assert.equal(statusAfterReturn(reservation("reserved")), "released");
  assert.equal(statusAfterReturn(reservation("expired")), "released");
  for (const status of ["released", "returned", "failed"] as const) {
    assert.equal(statusAfterReturn(reservation(status)), status);
  }
});

Deno.test("expiry frees a reservation that holds stock at or past its deadline, and nothing else", () => {
  const deadline = reservationDeadline(now, 900);
  assert.equal(deadline.toISOString(), "2026-06-15T12:15:00.000Z");
  const held = reservation("reserved", deadline);
  assert.equal(isDue(held, new Date(deadline.getTime() - 1)), false);
  assert.equal(isDue(held, deadline), true);
  assert.equal(statusAfterExpiry(deadline)(held), "expired");
  assert.equal(statusAfterExpiry(new Date(deadline.getTime() - 1))(held), "reserved");
  for (const status of ["committed", "expired", "released", "failed"] as const) {
    const past = new Date(deadline.getTime() + 3_600_000);
    assert.equal(statusAfterExpiry(past)(reservation(status, deadline)), status);
  }
});

Deno.test("the productIds query: 1 to 100 comma-separated UUIDs", () => {
  assert.deepEqual(productIdList.parse(`${a}, ${b}`), [a, b]);
  assert.deepEqual(productIdList.parse(Array(100).fill(a).join(",")).length, 100);
  const issues = (value: string) => productIdList.safeParse(value).error?.issues.map((i) => i.path.join("."));
  assert.deepEqual(issues(""), ["0"]);
  assert.deepEqual(issues(`${a},,${b}`), ["1"]);
  assert.deepEqual(issues(`${a},not-an-id`), ["1"]);
  assert.deepEqual(issues(Array(101).fill(a).join(",")), [""]);
});

Deno.test("the stock body: a whole number of units from 0, and nothing else", () => {
  assert.deepEqual(stockInput.parse({ onHand: 0 }), { onHand: 0 });
  for (const bad of [{ onHand: -1 }, { onHand: 1.5 }, { onHand: "5" }, {}, { onHand: 5, reserved: 1 }]) {
    assert.equal(stockInput.safeParse(bad).success, false, JSON.stringify(bad));
  }
  assert.equal(stockInput.safeParse({ onHand: 2 ** 31 }).success, false, "beyond PostgreSQL's integer");
});
