/** Starts the discount service for a test against one PostgreSQL target, with a clock the test can set. */
import { createLogger } from "@multishop/kit/log";
import { type PostgresTarget, serveForTest, testTokenIssuer } from "@multishop/kit/testing";
import { loadDiscountConfig } from "./config.ts";
import type { CouponInput } from "./domain.ts";
import { startDiscount } from "./main.ts";

/**
 * Several connections on a real server, so that concurrent checkouts really run at once there;
 * PGlite serves one connection, and its pool serialises them.
 */
const realPoolSize = 10;

export async function startTestDiscount(target: PostgresTarget, env: Record<string, string> = {}) {
  const tokens = await testTokenIssuer();
  const database = await target.open();
  let fixedNow: Date | undefined;
  try {
    const discount = await startDiscount(loadDiscountConfig({ LOG_LEVEL: "silent", ...env }), {
      postgres: { url: database.url, maxConnections: database.maxConnections > 1 ? realPoolSize : 1 },
      logger: createLogger("discount", "silent"),
      verifyToken: tokens.verifyToken,
      clock: () => fixedNow ?? new Date(),
    });
    const server = serveForTest(discount.app);
    return {
      url: server.url,
      tokens,
      database,
      discount: discount.discount,
      store: discount.store,
      poolSize: database.maxConnections > 1 ? realPoolSize : 1,
      /** Fixes the service's clock at `at`; without it, the clock follows real time again. */
      setClock(at?: Date) {
        fixedNow = at;
      },
      async close() {
        await server.close();
        await discount.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

export type TestDiscount = Awaited<ReturnType<typeof startTestDiscount>>;

/** A coupon body with a code no other test uses; `overrides` set or replace its fields. */
export function couponBody(overrides: Partial<CouponInput> = {}): CouponInput {
  return {
    code: `T${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`,
    type: "percentage",
    value: 10,
    active: true,
    ...overrides,
  };
}

export const usd = (amount: number) => ({ amount, currency: "USD" });
