/**
 * Reserve, commit and release as the checkout will drive them: limits that hold under concurrent
 * checkouts, and every step idempotent per order. On real PostgreSQL the reservations race on a
 * pool of several connections; PGlite serves one connection, so there they take turns.
 */
import assert from "node:assert/strict";
import { connectPostgres } from "@multishop/kit/postgres";
import { postgresTargets } from "@multishop/kit/testing";
import { RedemptionError } from "./domain.ts";
import { couponBody, startTestDiscount, usd } from "./test_support.ts";

const orderId = () => `order-${crypto.randomUUID()}`;
const isRedemptionError = (kind: RedemptionError["kind"]) => (error: unknown) =>
  error instanceof RedemptionError && error.kind === kind;

for (const target of await postgresTargets()) {
  Deno.test({ name: `redemptions on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) }, async (t) => {
    const service = await startTestDiscount(target);
    const { discount } = service;
    const used = async (id: string) => (await discount.coupon(id)).used;

    try {
      await t.step("50 checkouts race for a coupon with usageLimit 10: exactly 10 get it", async () => {
        const coupon = await discount.createCoupon(couponBody({ usageLimit: 10 }));
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            discount.reserve({
              orderId: orderId(),
              code: coupon.code.toLowerCase(),
              userId: `user-${i}`,
              subtotal: usd(10_000),
            })),
        );
        const reserved = results.filter((r) => r.status === "reserved");
        assert.equal(reserved.length, 10);
        assert.ok(reserved.every((r) => r.result.valid && r.result.discount.amount === 1_000));
        const refused = results.filter((r) => r.status === "rejected");
        assert.equal(refused.length, 40);
        assert.ok(refused.every((r) => !r.result.valid && r.result.reason === "exhausted"));
        assert.equal(await used(coupon.id), 10);
        if (service.poolSize > 1) {
          // The race was real: the service's pool had several connections open at once.
          const observer = connectPostgres(service.database.url, { max: 1, applicationName: "test" });
          try {
            const [{ connections }] = await observer<{ connections: number }[]>`
              select count(*)::int as connections from pg_stat_activity
              where datname = current_database() and application_name = 'discount'`;
            assert.ok(connections > 1, `expected several connections, saw ${connections}`);
          } finally {
            await observer.end();
          }
        }
      });

      await t.step(
        "one customer's 20 concurrent checkouts with perUserLimit 3: exactly 3 get it",
        async () => {
          const coupon = await discount.createCoupon(couponBody({ perUserLimit: 3 }));
          const results = await Promise.all(
            Array.from({ length: 20 }, () =>
              discount.reserve({
                orderId: orderId(),
                code: coupon.code,
                userId: "greedy",
                subtotal: usd(5_000),
              })),
          );
          assert.equal(
            results.filter((r) => r.status === "reserved").length,
            3,
          );
          const refused = results.filter((r) => r.status === "rejected");
          assert.equal(refused.length, 17);
          assert.ok(refused.every((r) => !r.result.valid && r.result.reason === "per_user_limit"));
          const other = await discount.reserve({
            orderId: orderId(),
            code: coupon.code,
            userId: "someone-else",
            subtotal: usd(5_000),
          });
          assert.equal(other.status, "reserved", "the limit is per customer");
          assert.equal(await used(coupon.id), 4);
        },
      );

      await t.step("reserving again for an order answers the same and takes no other use", async () => {
        const coupon = await discount.createCoupon(couponBody({ type: "fixed", value: 750, usageLimit: 5 }));
        const request = { orderId: orderId(), code: coupon.code, userId: "u1", subtotal: usd(2_000) };
        const first = await discount.reserve(request);
        assert.equal(first.status, "reserved");
        assert.deepEqual(first.result, {
          valid: true,
          code: coupon.code,
          type: "fixed",
          value: 750,
          discount: usd(750),
        });
        // Redelivered messages, some at the same time.
        const again = await Promise.all(Array.from({ length: 5 }, () => discount.reserve(request)));
        for (const repeat of again) assert.deepEqual(repeat, first);
        assert.equal(await used(coupon.id), 1);
      });

      await t.step("the same order id for another basket is refused, not answered", async () => {
        const coupon = await discount.createCoupon(couponBody());
        const request = { orderId: orderId(), code: coupon.code, userId: "u1", subtotal: usd(2_000) };
        await discount.reserve(request);
        await assert.rejects(
          discount.reserve({ ...request, subtotal: usd(9_999) }),
          isRedemptionError("mismatch"),
        );
        await assert.rejects(discount.reserve({ ...request, userId: "u2" }), isRedemptionError("mismatch"));
        assert.equal(await used(coupon.id), 1);
      });

      await t.step("commit is idempotent and keeps the use; a committed use cannot be released", async () => {
        const coupon = await discount.createCoupon(couponBody({ usageLimit: 1 }));
        const order = orderId();
        await discount.reserve({ orderId: order, code: coupon.code, userId: "u1", subtotal: usd(1_000) });
        assert.equal((await discount.commit(order)).status, "committed");
        assert.equal((await discount.commit(order)).status, "committed");
        await assert.rejects(discount.release(order), isRedemptionError("committed"));
        assert.equal(await used(coupon.id), 1);
        const late = await discount.reserve({
          orderId: orderId(),
          code: coupon.code,
          userId: "u2",
          subtotal: usd(1_000),
        });
        assert.equal(!late.result.valid && late.result.reason, "exhausted");
      });

      await t.step(
        "release frees the use for the next checkout; releasing again changes nothing",
        async () => {
          const coupon = await discount.createCoupon(couponBody({ usageLimit: 1 }));
          const first = { orderId: orderId(), code: coupon.code, userId: "u1", subtotal: usd(1_000) };
          const second = { ...first, orderId: orderId(), userId: "u2" };
          assert.equal((await discount.reserve(first)).status, "reserved");
          const refused = await discount.reserve(second);
          assert.equal(!refused.result.valid && refused.result.reason, "exhausted");

          assert.equal((await discount.release(first.orderId))?.status, "released");
          assert.equal(await used(coupon.id), 0);
          assert.equal((await discount.release(first.orderId))?.status, "released");

          const third = await discount.reserve({ ...first, orderId: orderId(), userId: "u3" });
          assert.equal(third.status, "reserved", "the freed use is available again");
          assert.equal(await used(coupon.id), 1);

          // Stale messages for the earlier orders answer what happened to them and take nothing.
          const replayed = await discount.reserve(first);
          assert.equal(replayed.status, "released");
          assert.ok(replayed.result.valid);
          assert.equal((await discount.reserve(second)).status, "rejected");
          assert.equal(await used(coupon.id), 1);
          await assert.rejects(discount.commit(first.orderId), isRedemptionError("not_reserved"));
        },
      );

      await t.step(
        "a refused reservation holds nothing: releasing it is a no-op, committing it fails",
        async () => {
          const order = orderId();
          const unknown = await discount.reserve({
            orderId: order,
            code: "NO-SUCH-CODE",
            userId: "u1",
            subtotal: usd(1),
          });
          assert.equal(unknown.status, "rejected");
          assert.deepEqual(unknown.result, {
            valid: false,
            code: "NO-SUCH-CODE",
            reason: "unknown",
            detail: "NO-SUCH-CODE is not a coupon code",
          });
          assert.equal((await discount.release(order))?.status, "rejected");
          await assert.rejects(discount.commit(order), isRedemptionError("not_reserved"));
        },
      );

      await t.step("an order that reserved nothing: release answers undefined, commit fails", async () => {
        assert.equal(await discount.release(orderId()), undefined);
        await assert.rejects(discount.commit(orderId()), isRedemptionError("not_found"));
      });

      await t.step("commits and releases racing with new reservations keep the count right", async () => {
        const coupon = await discount.createCoupon(couponBody({ usageLimit: 5 }));
        const reserve = (userId: string) =>
          discount.reserve({ orderId: orderId(), code: coupon.code, userId, subtotal: usd(1_000) });
        const held = await Promise.all(["a", "b", "c", "d", "e"].map(reserve));
        assert.ok(held.every((r) => r.status === "reserved"));
        // Two commit, three release, while ten more checkouts arrive: at most the three freed uses go.
        const [steps, newcomers] = await Promise.all([
          Promise.all(held.map((r, i) => i < 2 ? discount.commit(r.orderId) : discount.release(r.orderId))),
          Promise.all(Array.from({ length: 10 }, (_, i) => reserve(`new-${i}`))),
        ]);
        assert.deepEqual(steps.map((r) => r?.status), [
          "committed",
          "committed",
          "released",
          "released",
          "released",
        ]);
        const gotIt = newcomers.filter((r) => r.status === "reserved").length;
        assert.ok(gotIt <= 3, `${gotIt} newcomers got a use`);
        assert.equal(await used(coupon.id), 2 + gotIt);
        assert.ok(await used(coupon.id) <= 5);
      });
    } finally {
      await service.close();
    }
  });
}
