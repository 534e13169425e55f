/** Every query the order service makes. */
import type postgres from "postgres";
import type { Sql, TransactionSql } from "@multishop/kit/postgres";
import type { Address, AddressInput } from "@multishop/kit/contracts/addresses";
import { type Order, type OrderStatus, orderStatuses, type SagaState } from "../domain.ts";

interface AddressRow {
  id: string;
  user_id: string;
  name: string;
  surname: string;
  email: string;
  phone: string;
  country: string;
  city: string;
  district: string;
  line1: string;
  line2: string | null;
  zip_code: string;
  created_at: Date;
  updated_at: Date;
}

export interface StoredAddress extends Address {
  id: string;
  createdAt: Date;
  updatedAt: Date;
}

const toAddress = (row: AddressRow): StoredAddress => ({
  id: row.id,
  name: row.name,
  surname: row.surname,
  email: row.email,
  phone: row.phone,
  country: row.country,
  city: row.city,
  district: row.district,
  line1: row.line1,
  line2: row.line2,
  zipCode: row.zip_code,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const addressColumns = (input: AddressInput) => ({
  name: input.name,
  surname: input.surname,
  email: input.email,
  phone: input.phone,
  country: input.country,
  city: input.city,
  district: input.district,
  line1: input.line1,
  line2: input.line2 ?? null,
  zip_code: input.zipCode,
});

interface OrderRow {
  id: string;
  user_id: string;
  request_digest: string;
  status: Order["status"];
  cancellation_reason: Order["cancellationReason"];
  lines: Order["lines"];
  currency: string;
  subtotal: number;
  discount: number;
  total: number;
  coupon_code: string | null;
  address: Address;
  payment_method_id: string;
  step: Order["step"];
  step_deadline: Date | null;
  tracking_code: string | null;
  stock_reserved: boolean;
  coupon_reserved: boolean;
  captured: boolean;
  created_at: Date;
  updated_at: Date;
}

const toOrder = (row: OrderRow): Order => ({
  id: row.id,
  userId: row.user_id,
  status: row.status,
  cancellationReason: row.cancellation_reason,
  lines: row.lines,
  currency: row.currency,
  subtotal: row.subtotal,
  discount: row.discount,
  total: row.total,
  couponCode: row.coupon_code,
  address: row.address,
  paymentMethodId: row.payment_method_id,
  step: row.step,
  stepDeadline: row.step_deadline,
  trackingCode: row.tracking_code,
  stockReserved: row.stock_reserved,
  couponReserved: row.coupon_reserved,
  captured: row.captured,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export type NewOrder = Omit<Order, "createdAt" | "updatedAt" | "stepDeadline" | "trackingCode"> & {
  idempotencyKey: string;
  requestDigest: string;
  stepTimeoutSeconds: number;
};

export interface OrderPage {
  /** Orders newest first. */
  after?: { createdAt: string; id: string };
  limit: number;
}

export function createOrderStore(sql: Sql) {
  return {
    ping: () => sql`select 1`,

    async listAddresses(userId: string): Promise<StoredAddress[]> {
      const rows = await sql<AddressRow[]>`
        select * from addresses where user_id = ${userId} order by created_at, id`;
      return rows.map(toAddress);
    },

    async findAddress(userId: string, id: string): Promise<StoredAddress | undefined> {
      const [row] = await sql<AddressRow[]>`select * from addresses where id = ${id} and user_id = ${userId}`;
      return row && toAddress(row);
    },

    async insertAddress(userId: string, input: AddressInput): Promise<StoredAddress> {
      const row = { id: crypto.randomUUID(), user_id: userId, ...addressColumns(input) };
      const [inserted] = await sql<AddressRow[]>`insert into addresses ${sql(row)} returning *`;
      return toAddress(inserted);
    },

    async replaceAddress(
      userId: string,
      id: string,
      input: AddressInput,
    ): Promise<StoredAddress | undefined> {
      const [row] = await sql<AddressRow[]>`
        update addresses set ${sql(addressColumns(input))}, updated_at = now()
        where id = ${id} and user_id = ${userId} returning *`;
      return row && toAddress(row);
    },

    async deleteAddress(userId: string, id: string): Promise<boolean> {
      const deleted = await sql`delete from addresses where id = ${id} and user_id = ${userId} returning id`;
      return deleted.length > 0;
    },

    /**
     * Stores the order unless the customer placed one with this idempotency key before; either way
     * answers the stored order and the digest of the request that made it. `write` runs in the
     * insert's transaction, with the new order, only when the order is new (it enqueues the first step).
     */
    async insertOrder(
      order: NewOrder,
      write: (tx: TransactionSql, order: Order) => Promise<void>,
    ): Promise<{ order: Order; requestDigest: string; created: boolean }> {
      return await sql.begin(async (tx) => {
        const [inserted] = await tx<OrderRow[]>`
          insert into orders (
            id, user_id, idempotency_key, request_digest, status, lines, currency, subtotal, discount,
            total, coupon_code, address, payment_method_id, step, step_deadline)
          values (
            ${order.id}, ${order.userId}, ${order.idempotencyKey}, ${order.requestDigest}, ${order.status},
            ${tx.json(order.lines as unknown as postgres.JSONValue)}, ${order.currency}, ${order.subtotal},
            ${order.discount}, ${order.total}, ${order.couponCode},
            ${tx.json(order.address as unknown as postgres.JSONValue)}, ${order.paymentMethodId},
            ${order.step}, now() + make_interval(secs => ${order.stepTimeoutSeconds}))
          on conflict (user_id, idempotency_key) do nothing
          returning *`;
        if (inserted) {
          await write(tx, toOrder(inserted));
          return { order: toOrder(inserted), requestDigest: inserted.request_digest, created: true };
        }
        const [existing] = await tx<OrderRow[]>`
          select * from orders where user_id = ${order.userId} and idempotency_key = ${order.idempotencyKey}`;
        return { order: toOrder(existing), requestDigest: existing.request_digest, created: false };
      });
    },

    /** An order placed with this key, for a repeated request that need not go to the basket again. */
    async findByIdempotencyKey(
      userId: string,
      key: string,
    ): Promise<{ order: Order; requestDigest: string } | undefined> {
      const [row] = await sql<OrderRow[]>`
        select * from orders where user_id = ${userId} and idempotency_key = ${key}`;
      return row && { order: toOrder(row), requestDigest: row.request_digest };
    },

    async findOrder(id: string): Promise<Order | undefined> {
      const [row] = await sql<OrderRow[]>`select * from orders where id = ${id}`;
      return row && toOrder(row);
    },

    /** Locks the order's row for the transaction, so its saga takes one reply at a time. */
    async lockOrder(tx: TransactionSql, id: string): Promise<Order | undefined> {
      const [row] = await tx<OrderRow[]>`select * from orders where id = ${id} for update`;
      return row && toOrder(row);
    },

    /** Writes a saga transition; a new step gets a new deadline. */
    async saveState(tx: TransactionSql, id: string, state: SagaState, stepTimeoutSeconds: number) {
      await tx`
        update orders set
          status = ${state.status}, cancellation_reason = ${state.cancellationReason}, step = ${state.step},
          step_deadline = case when ${state.step}::text is null then null
                               when step is distinct from ${state.step}::text
                                 then now() + make_interval(secs => ${stepTimeoutSeconds})
                               else step_deadline end,
          stock_reserved = ${state.stockReserved}, coupon_reserved = ${state.couponReserved},
          captured = ${state.captured}, updated_at = now()
        where id = ${id}`;
    },

    /** Records the shipment's tracking code, and the status its progress moved the order to. */
    async saveShipment(
      tx: TransactionSql,
      id: string,
      change: { trackingCode?: string; status?: OrderStatus },
    ) {
      await tx`
        update orders set
          tracking_code = coalesce(${change.trackingCode ?? null}, tracking_code),
          status = coalesce(${change.status ?? null}, status),
          updated_at = now()
        where id = ${id}`;
    },

    /** Gives the order's current step a new deadline. */
    async restartStep(tx: TransactionSql, id: string, stepTimeoutSeconds: number) {
      await tx`
        update orders set step_deadline = now() + make_interval(secs => ${stepTimeoutSeconds}), updated_at = now()
        where id = ${id}`;
    },

    /** Pending orders whose step is past its deadline, locked; others' locks are skipped. */
    async lockOverdue(tx: TransactionSql, limit: number): Promise<Order[]> {
      const rows = await tx<OrderRow[]>`
        select * from orders where step is not null and step_deadline < now()
        order by step_deadline limit ${limit} for update skip locked`;
      return rows.map(toOrder);
    },

    async inFlight(): Promise<Order[]> {
      const rows = await sql<OrderRow[]>`select * from orders where step is not null order by created_at`;
      return rows.map(toOrder);
    },

    /** How many orders stand in each status; statuses without orders count 0. */
    async countByStatus(): Promise<Record<OrderStatus, number>> {
      const rows = await sql<{ status: OrderStatus; count: number }[]>`
        select status, count(*)::int as count from orders group by status`;
      const counts = Object.fromEntries(orderStatuses.map((status) => [status, 0])) as Record<
        OrderStatus,
        number
      >;
      for (const row of rows) counts[row.status] = row.count;
      return counts;
    },

    async listOrders(
      filter: { userId?: string; status?: OrderStatus },
      page: OrderPage,
    ): Promise<Order[]> {
      const { after, limit } = page;
      const rows = await sql<OrderRow[]>`
        select * from orders
        where true
          ${filter.userId === undefined ? sql`` : sql`and user_id = ${filter.userId}`}
          ${filter.status === undefined ? sql`` : sql`and status = ${filter.status}`}
          ${after ? sql`and (created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        order by created_at desc, id desc
        limit ${limit}`;
      return rows.map(toOrder);
    },
  };
}

export type OrderStore = ReturnType<typeof createOrderStore>;
