/** The discount service's PostgreSQL adapter: every query the service makes, and nothing else. */
import type { Money } from "@multishop/kit/contracts/money";
import type { CouponValidationResult } from "@multishop/kit/contracts/discount";
import { isUniqueViolation, type Sql, type TransactionSql } from "@multishop/kit/postgres";
import {
  type Coupon,
  type CouponFields,
  type CouponType,
  normalizeCode,
  type Redemption,
  type RedemptionStatus,
  type ReservationRequest,
} from "../domain.ts";

export class DuplicateCouponError extends Error {
  constructor(readonly code: string) {
    super(`a coupon with the code ${code} exists`);
  }
}

interface CouponRow {
  id: string;
  code: string;
  type: CouponType;
  value: number;
  min_total: number | null;
  valid_from: Date | null;
  valid_until: Date | null;
  usage_limit: number | null;
  per_user_limit: number | null;
  active: boolean;
  created_at: Date;
  updated_at: Date;
  used: number;
}

interface RedemptionRow {
  order_id: string;
  code: string;
  user_id: string;
  subtotal: Money;
  status: RedemptionStatus;
  result: CouponValidationResult;
  created_at: Date;
  updated_at: Date;
}

/** A coupon looked up by code, and its uses by everyone and by one customer (0 when it does not exist). */
export interface CouponWithUsage {
  coupon?: Coupon;
  used: number;
  usedByUser: number;
}

const toCoupon = (row: CouponRow): Coupon => ({
  id: row.id,
  code: row.code,
  type: row.type,
  value: row.value,
  minTotal: row.min_total,
  validFrom: row.valid_from,
  validUntil: row.valid_until,
  usageLimit: row.usage_limit,
  perUserLimit: row.per_user_limit,
  active: row.active,
  used: row.used,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toRedemption = (row: RedemptionRow): Redemption => ({
  orderId: row.order_id,
  code: row.code,
  userId: row.user_id,
  subtotal: row.subtotal,
  status: row.status,
  result: row.result,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** The coupon's columns and its `used` count, for queries on `coupons c`. */
const couponColumns = (db: Sql | TransactionSql) =>
  db`c.id, c.code, c.type, c.value, c.min_total, c.valid_from, c.valid_until, c.usage_limit,
     c.per_user_limit, c.active, c.created_at, c.updated_at,
     (select count(*)::int from redemptions r
      where r.coupon_id = c.id and r.status in ('reserved', 'committed')) as used`;

const redemptionColumns = [
  "order_id",
  "code",
  "user_id",
  "subtotal",
  "status",
  "result",
  "created_at",
  "updated_at",
];

async function couponWithUsage(
  db: Sql | TransactionSql,
  code: string,
  userId: string,
): Promise<CouponWithUsage> {
  const [row] = await db<(CouponRow & { used_by_user: number })[]>`
    select ${couponColumns(db)},
      (select count(*)::int from redemptions r
       where r.coupon_id = c.id and r.user_id = ${userId} and r.status in ('reserved', 'committed'))
      as used_by_user
    from coupons c where c.code = ${code}`;
  if (!row) return { used: 0, usedByUser: 0 };
  return { coupon: toCoupon(row), used: row.used, usedByUser: row.used_by_user };
}

function filters(db: Sql, options: { query?: string; active?: boolean }) {
  const pattern = options.query ? `%${options.query.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
  return db`
    ${pattern ? db`and c.code ilike ${pattern}` : db``}
    ${options.active === undefined ? db`` : db`and c.active = ${options.active}`}`;
}

export function createDiscountStore(sql: Sql) {
  /**
   * Runs `work` in the caller's transaction, so that it commits with what else the caller writes (a
   * handled command's inbox record and reply), or in a transaction of its own when there is none.
   */
  function inTransaction<T>(
    transaction: TransactionSql | undefined,
    work: (tx: TransactionSql) => Promise<T>,
  ): Promise<T> {
    return transaction ? work(transaction) : sql.begin(work) as Promise<T>;
  }

  /** Runs a write, turning a clash on the code into a DuplicateCouponError. */
  async function uniqueCode<T>(code: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (isUniqueViolation(error) && error.constraint_name === "coupons_code_key") {
        throw new DuplicateCouponError(code);
      }
      throw error;
    }
  }

  async function findCoupon(db: Sql | TransactionSql, id: string): Promise<Coupon | undefined> {
    const [row] = await db<CouponRow[]>`select ${couponColumns(db)} from coupons c where c.id = ${id}`;
    return row ? toCoupon(row) : undefined;
  }

  return {
    async insertCoupon(id: string, coupon: CouponFields): Promise<Coupon> {
      await uniqueCode(coupon.code, () =>
        sql`
          insert into coupons (id, code, type, value, min_total, valid_from, valid_until, usage_limit,
                               per_user_limit, active)
          values (${id}, ${coupon.code}, ${coupon.type}, ${coupon.value}, ${coupon.minTotal},
                  ${coupon.validFrom}, ${coupon.validUntil}, ${coupon.usageLimit}, ${coupon.perUserLimit},
                  ${coupon.active})`);
      return (await findCoupon(sql, id))!;
    },

    findCoupon: (id: string) => findCoupon(sql, id),

    /** Replaces every editable field; undefined when there is no such coupon. */
    async replaceCoupon(id: string, coupon: CouponFields): Promise<Coupon | undefined> {
      const updated = await uniqueCode(coupon.code, () =>
        sql`
          update coupons set code = ${coupon.code}, type = ${coupon.type}, value = ${coupon.value},
            min_total = ${coupon.minTotal}, valid_from = ${coupon.validFrom}, valid_until = ${coupon.validUntil},
            usage_limit = ${coupon.usageLimit}, per_user_limit = ${coupon.perUserLimit},
            active = ${coupon.active}, updated_at = now()
          where id = ${id}`);
      return updated.count === 0 ? undefined : await findCoupon(sql, id);
    },

    /**
     * Deletes a coupon unless an order was confirmed with it. The row lock orders this after any
     * reservation, commit or release in progress on the coupon, so none slips in between.
     */
    async deleteCoupon(id: string): Promise<"deleted" | "not_found" | "committed"> {
      return await sql.begin(async (tx) => {
        const [coupon] = await tx`select id from coupons where id = ${id} for update`;
        if (!coupon) return "not_found" as const;
        const [committed] = await tx`
          select 1 from redemptions where coupon_id = ${id} and status = 'committed' limit 1`;
        if (committed) return "committed" as const;
        await tx`delete from coupons where id = ${id}`;
        return "deleted" as const;
      });
    },

    async listCoupons(
      options: { limit: number; after?: { createdAt: Date; id: string }; query?: string; active?: boolean },
    ): Promise<{ coupons: Coupon[]; total: number }> {
      const rows = await sql<CouponRow[]>`
        select ${couponColumns(sql)} from coupons c
        where true ${filters(sql, options)}
          ${
        options.after
          ? sql`and (c.created_at, c.id) > (${options.after.createdAt}, ${options.after.id})`
          : sql``
      }
        order by c.created_at, c.id
        limit ${options.limit}`;
      const [{ total }] = await sql<{ total: number }[]>`
        select count(*)::int as total from coupons c where true ${filters(sql, options)}`;
      return { coupons: rows.map(toCoupon), total };
    },

    async countCoupons(): Promise<{ total: number; active: number }> {
      const [counts] = await sql<{ total: number; active: number }[]>`
        select count(*)::int as total, count(*) filter (where active)::int as active from coupons`;
      return counts;
    },

    /** The coupon with this code and its uses, for a check that reserves nothing. */
    couponForCheck: (code: string, userId: string) => couponWithUsage(sql, normalizeCode(code), userId),

    /**
     * Records the order's reservation and returns it, or returns the one already recorded for the
     * order. `decide` runs with the coupon's row locked and its uses counted after the lock, so
     * concurrent reservations of one coupon are judged one at a time and its limits hold. In the
     * caller's `transaction`, the locks are held until the caller commits.
     */
    async reserve(
      request: ReservationRequest,
      decide: (found: CouponWithUsage) => CouponValidationResult,
      transaction?: TransactionSql,
    ): Promise<Redemption> {
      const code = normalizeCode(request.code);
      return await inTransaction(transaction, async (tx) => {
        await tx`select id from coupons where code = ${code} for update`;
        // Read after the lock: a reservation of this order, or of this coupon, that held it is
        // visible now, since each statement sees what was committed before it began.
        const [existing] = await tx<RedemptionRow[]>`
          select ${tx(redemptionColumns)} from redemptions where order_id = ${request.orderId}`;
        if (existing) return toRedemption(existing);
        const found = await couponWithUsage(tx, code, request.userId);
        const result = decide(found);
        const status: RedemptionStatus = result.valid ? "reserved" : "rejected";
        const subtotal = { amount: request.subtotal.amount, currency: request.subtotal.currency };
        const [inserted] = await tx<RedemptionRow[]>`
          insert into redemptions (order_id, coupon_id, code, user_id, subtotal, status, result)
          values (${request.orderId}, ${found.coupon?.id ?? null}, ${code}, ${request.userId},
                  ${tx.json(subtotal)}, ${status}, ${tx.json(result)})
          on conflict (order_id) do nothing
          returning ${tx(redemptionColumns)}`;
        if (inserted) return toRedemption(inserted);
        // Another reservation of this order, with no coupon row in common to wait on, got in first.
        const [winner] = await tx<RedemptionRow[]>`
          select ${tx(redemptionColumns)} from redemptions where order_id = ${request.orderId}`;
        return toRedemption(winner);
      });
    },

    /**
     * Moves the order's redemption to the status `next` decides, with its row locked; undefined when
     * the order has none. The coupon's row is locked first (shared), as in reserve and delete, so the
     * three never deadlock and a delete never misses a commit. In the caller's `transaction`, the
     * locks are held until the caller commits.
     */
    async transition(
      orderId: string,
      next: (redemption: Redemption) => RedemptionStatus,
      transaction?: TransactionSql,
    ): Promise<Redemption | undefined> {
      return await inTransaction(transaction, async (tx) => {
        const [found] = await tx<{ coupon_id: string | null }[]>`
          select coupon_id from redemptions where order_id = ${orderId}`;
        if (!found) return undefined;
        if (found.coupon_id) await tx`select 1 from coupons where id = ${found.coupon_id} for share`;
        const [row] = await tx<RedemptionRow[]>`
          select ${tx(redemptionColumns)} from redemptions where order_id = ${orderId} for update`;
        const redemption = toRedemption(row);
        const status = next(redemption);
        if (status === redemption.status) return redemption;
        const [updated] = await tx<RedemptionRow[]>`
          update redemptions set status = ${status}, updated_at = now() where order_id = ${orderId}
          returning ${tx(redemptionColumns)}`;
        return toRedemption(updated);
      });
    },

    ping: () => sql`select 1`,
  };
}

export type DiscountStore = ReturnType<typeof createDiscountStore>;
