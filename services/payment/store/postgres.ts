/** The payment service's PostgreSQL adapter: every query the service makes, and nothing else. */
import type { Money } from "@multishop/kit/contracts/money";
import type { Sql, TransactionSql } from "@multishop/kit/postgres";
import type { CardBrand } from "@multishop/kit/contracts/payment-methods";
import type { ChargeRequest, FailureReason, Payment, PaymentMethod, PaymentStatus } from "../domain.ts";

/** The payment method a charge names does not exist. */
export class UnknownPaymentMethodError extends Error {
  constructor(readonly paymentMethodId: string) {
    super(`there is no payment method ${paymentMethodId}`);
    this.name = "UnknownPaymentMethodError";
  }
}

/**
 * The caller's lease on a payment ran out and another caller took the payment over; that one finishes
 * the work with the same idempotency keys, so this one stops without writing.
 */
export class LeaseLostError extends Error {
  constructor(orderId: string) {
    super(`the lease on order ${orderId}'s payment ran out and another caller took it over`);
    this.name = "LeaseLostError";
  }
}

/** A payment held by one caller until its lease runs out, with the card token only the processor reads. */
export interface LeasedPayment {
  payment: Payment;
  cardToken: string;
  lease: string;
}

interface PaymentMethodRow {
  id: string;
  brand: CardBrand;
  last4: string;
  exp_month: number;
  exp_year: number;
  holder: string;
  processor_token: string;
  created_at: Date;
}

interface PaymentRow {
  id: string;
  order_id: string;
  payment_method_id: string;
  brand: CardBrand;
  last4: string;
  processor_token: string;
  // bigint columns arrive as strings, so that no driver rounds them
  amount: string;
  currency: string;
  status: PaymentStatus;
  failure_reason: FailureReason | null;
  failure_detail: string | null;
  processor_reference: string | null;
  refund_amount: string | null;
  refund_reference: string | null;
  refunded_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const toPaymentMethod = (row: PaymentMethodRow): PaymentMethod => ({
  id: row.id,
  brand: row.brand,
  last4: row.last4,
  expMonth: row.exp_month,
  expYear: row.exp_year,
  holder: row.holder,
  processorToken: row.processor_token,
  createdAt: row.created_at,
});

function toPayment(row: PaymentRow): Payment {
  const money = (amount: string): Money => ({ amount: Number(amount), currency: row.currency });
  return {
    id: row.id,
    orderId: row.order_id,
    paymentMethodId: row.payment_method_id,
    card: { brand: row.brand, last4: row.last4 },
    amount: money(row.amount),
    status: row.status,
    failure: row.failure_reason && row.failure_detail !== null
      ? { reason: row.failure_reason, detail: row.failure_detail }
      : null,
    processorReference: row.processor_reference,
    refund: row.refund_amount !== null && row.refund_reference !== null && row.refunded_at !== null
      ? {
        amount: money(row.refund_amount),
        processorReference: row.refund_reference,
        createdAt: row.refunded_at,
      }
      : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A payment with its card's brand and last four digits and its refund, for queries on `payments p`. */
const paymentView = (db: Sql | TransactionSql) =>
  db`
    select p.id, p.order_id, p.payment_method_id, m.brand, m.last4, m.processor_token, p.amount, p.currency,
      p.status, p.failure_reason, p.failure_detail, p.processor_reference, p.created_at, p.updated_at,
      r.amount as refund_amount, r.processor_reference as refund_reference, r.created_at as refunded_at
    from payments p
      join payment_methods m on m.id = p.payment_method_id
      left join refunds r on r.order_id = p.order_id`;

const isForeignKeyViolation = (error: unknown) => (error as { code?: string })?.code === "23503";

export function createPaymentStore(sql: Sql) {
  async function findRow(db: Sql | TransactionSql, orderId: string): Promise<PaymentRow | undefined> {
    const [row] = await db<PaymentRow[]>`${paymentView(db)} where p.order_id = ${orderId}`;
    return row;
  }

  /** The row of a payment the caller knows exists: payments are never deleted. */
  async function rowOf(db: Sql | TransactionSql, orderId: string): Promise<PaymentRow> {
    const row = await findRow(db, orderId);
    if (!row) throw new Error(`order ${orderId} has no payment`);
    return row;
  }

  /** Applies `changes` if the caller still holds the lease. */
  async function updateLeased(
    db: Sql | TransactionSql,
    orderId: string,
    lease: string,
    changes: Record<string, string>,
  ): Promise<void> {
    const updated = await db`
      update payments set ${db(changes)}, updated_at = now()
      where order_id = ${orderId} and lease_id = ${lease}`;
    if (updated.count === 0) throw new LeaseLostError(orderId);
  }

  /** Moves a leased payment on, and answers it as it is now. */
  async function settle(
    db: Sql | TransactionSql,
    orderId: string,
    lease: string,
    changes: Record<string, string>,
  ): Promise<Payment> {
    await updateLeased(db, orderId, lease, changes);
    return toPayment(await rowOf(db, orderId));
  }

  return {
    async insertPaymentMethod(method: Omit<PaymentMethod, "createdAt">): Promise<PaymentMethod> {
      const [row] = await sql<PaymentMethodRow[]>`
        insert into payment_methods (id, brand, last4, exp_month, exp_year, holder, processor_token)
        values (${method.id}, ${method.brand}, ${method.last4}, ${method.expMonth}, ${method.expYear},
                ${method.holder}, ${method.processorToken})
        returning *`;
      return toPaymentMethod(row);
    },

    /** Records the order's payment as pending, unless the order has one already. */
    async insertPending(request: ChargeRequest): Promise<void> {
      try {
        await sql`
          insert into payments (order_id, id, payment_method_id, amount, currency, status)
          values (${request.orderId}, ${crypto.randomUUID()}, ${request.paymentMethodId},
                  ${request.amount.amount}, ${request.amount.currency}, 'pending')
          on conflict (order_id) do nothing`;
      } catch (error) {
        if (isForeignKeyViolation(error)) throw new UnknownPaymentMethodError(request.paymentMethodId);
        throw error;
      }
    },

    /**
     * Takes the order's payment for `leaseMs`, unless someone else holds it ("busy"); "absent" when the
     * order has no payment. Leases are timed by the database's clock, which every instance shares.
     */
    async lease(orderId: string, leaseMs: number): Promise<LeasedPayment | "busy" | "absent"> {
      const lease = crypto.randomUUID();
      const taken = await sql`
        update payments set lease_id = ${lease}, leased_until = now() + make_interval(secs => ${
        leaseMs / 1000
      })
        where order_id = ${orderId} and (leased_until is null or leased_until < now())`;
      if (taken.count === 0) {
        const [exists] = await sql`select 1 from payments where order_id = ${orderId}`;
        return exists ? "busy" : "absent";
      }
      const row = await rowOf(sql, orderId);
      return { payment: toPayment(row), cardToken: row.processor_token, lease };
    },

    /** Gives the payment back, if the caller still holds it. */
    async release(orderId: string, lease: string): Promise<void> {
      await sql`
        update payments set lease_id = null, leased_until = null
        where order_id = ${orderId} and lease_id = ${lease}`;
    },

    /**
     * A step on the way, committed on its own: a caller that takes a stopped one's work over resumes
     * at capture rather than asking for a second hold.
     */
    markAuthorized: (orderId: string, lease: string, processorReference: string) =>
      settle(sql, orderId, lease, { status: "authorized", processor_reference: processorReference }),

    // The outcomes below are written in the caller's transaction, which records the command and its
    // reply too.

    markCaptured: (tx: TransactionSql, orderId: string, lease: string) =>
      settle(tx, orderId, lease, { status: "captured" }),

    markFailed: (
      tx: TransactionSql,
      orderId: string,
      lease: string,
      failure: { reason: FailureReason; detail: string },
    ) =>
      settle(tx, orderId, lease, {
        status: "failed",
        failure_reason: failure.reason,
        failure_detail: failure.detail,
      }),

    /** Records the refund and marks the payment refunded. */
    async recordRefund(
      tx: TransactionSql,
      orderId: string,
      lease: string,
      refund: { amount: Money; processorReference: string },
    ): Promise<Payment> {
      await updateLeased(tx, orderId, lease, { status: "refunded" });
      await tx`
        insert into refunds (order_id, amount, currency, processor_reference)
        values (${orderId}, ${refund.amount.amount}, ${refund.amount.currency}, ${refund.processorReference})`;
      return toPayment(await rowOf(tx, orderId));
    },

    async find(orderId: string): Promise<Payment | undefined> {
      const row = await findRow(sql, orderId);
      return row && toPayment(row);
    },

    /** Newest first. */
    async list(
      options: { limit: number; status?: PaymentStatus; after?: { createdAt: Date; orderId: string } },
    ): Promise<{ payments: Payment[]; total: number }> {
      const byStatus = options.status ? sql`and p.status = ${options.status}` : sql``;
      const rows = await sql<PaymentRow[]>`
        ${paymentView(sql)}
        where true ${byStatus}
          ${
        options.after
          ? sql`and (p.created_at, p.order_id) < (${options.after.createdAt}, ${options.after.orderId})`
          : sql``
      }
        order by p.created_at desc, p.order_id desc
        limit ${options.limit}`;
      const [{ total }] = await sql<{ total: number }[]>`
        select count(*)::int as total from payments p where true ${byStatus}`;
      return { payments: rows.map(toPayment), total };
    },

    ping: () => sql`select 1`,
  };
}

export type PaymentStore = ReturnType<typeof createPaymentStore>;
