/**
 * The discount service's side of the checkout (services/discount/events.ts), seen from the bus as the
 * order service uses it: reserve answers reserved or rejected, a redelivered command answers the same
 * reply with the same id, and release frees the use.
 */
import assert from "node:assert/strict";
import { discountMessages } from "@multishop/kit/contracts/checkout";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus, type Envelope } from "@multishop/kit/messaging";
import { postgresTargets, testTokenIssuer } from "@multishop/kit/testing";
import { loadDiscountConfig } from "../discount/config.ts";
import { startDiscount } from "../discount/main.ts";
import { couponBody, usd } from "../discount/test_support.ts";

const logger = createLogger("discount", "silent");

for (const target of await postgresTargets()) {
  Deno.test(
    { name: `coupon commands on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) },
    async () => {
      const database = await target.open();
      const bus = createInProcessBus({ logger, retryDelaysMs: [5] });
      const service = await startDiscount(loadDiscountConfig({ LOG_LEVEL: "silent" }), {
        postgres: database,
        bus,
        logger,
        verifyToken: (await testTokenIssuer()).verifyToken,
      });
      const replies: Envelope[] = [];
      await bus.subscribe("test-replies", ["discount.reserved", "discount.rejected"], (envelope) => {
        replies.push(envelope);
        return Promise.resolve();
      });
      const until = async (count: number) => {
        for (let i = 0; i < 200 && replies.length < count; i++) await new Promise((r) => setTimeout(r, 10));
        assert.equal(replies.length, count);
      };
      try {
        const coupon = await service.discount.createCoupon(couponBody({ usageLimit: 1 }));
        const reserve = (orderId: string, id: string = crypto.randomUUID()) =>
          bus.publish("discount.reserve", discountMessages["discount.reserve"], {
            orderId,
            code: coupon.code,
            userId: "user-1",
            subtotal: usd(10_000),
          }, { id, correlationId: orderId });

        const first = await reserve("order-1");
        await until(1);
        assert.equal(replies[0].type, "discount.reserved");
        assert.deepEqual(replies[0].payload, { orderId: "order-1", discount: usd(1_000) });
        assert.equal(replies[0].correlationId, "order-1");
        assert.equal(replies[0].causationId, first.id);

        await reserve("order-1", first.id);
        await until(2);
        assert.equal(replies[1].id, replies[0].id, "a redelivered command answers with the same reply id");
        assert.equal((await service.discount.coupon(coupon.id)).used, 1, "and takes nothing more");

        await reserve("order-2");
        await until(3);
        assert.equal(replies[2].type, "discount.rejected");
        assert.equal((replies[2].payload as { reason: string }).reason, "exhausted");

        await bus.publish("discount.release", discountMessages["discount.release"], { orderId: "order-1" });
        for (let i = 0; i < 200 && (await service.discount.coupon(coupon.id)).used !== 0; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal((await service.discount.coupon(coupon.id)).used, 0, "released");
      } finally {
        await bus.close();
        await service.close();
        await database.close();
      }
    },
  );
}
