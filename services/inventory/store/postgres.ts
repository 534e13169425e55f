/** The inventory service's PostgreSQL adapter: every query the service makes, and nothing else. */
import type { Sql, TransactionSql } from "@multishop/kit/postgres";
import {
  type CatalogStatus,
  onHandProblem,
  type Reservation,
  type ReservationLine,
  type ReservationStatus,
  shortages,
  type StockLevel,
} from "../domain.ts";

interface StockRow {
  product_id: string;
  on_hand: number;
  reserved: number;
  retired: boolean;
  catalog_status: CatalogStatus | null;
  updated_at: Date;
}

interface RequestRow {
  order_id: string;
  lines: ReservationLine[];
  outcome: "reserved" | "out_of_stock";
  out_of_stock: string[];
}

interface ReservationRow {
  status: Exclude<ReservationStatus, "failed">;
  expires_at: Date;
}

/** What setting the count on hand did; `refused` when reserved units would not fit, saying why. */
export type SetOnHandResult =
  | { outcome: "created" | "updated"; stock: StockLevel }
  | { outcome: "refused"; reason: string };

const stockColumns = ["product_id", "on_hand", "reserved", "retired", "catalog_status", "updated_at"];

const toStock = (row: StockRow): StockLevel => ({
  productId: row.product_id,
  onHand: row.on_hand,
  reserved: row.reserved,
  retired: row.retired,
  catalogStatus: row.catalog_status,
  updatedAt: row.updated_at,
});

/** Parallel arrays for `unnest`, so that one statement handles every line. */
const columnsOf = (lines: readonly ReservationLine[]) => ({
  productIds: lines.map((line) => line.productId),
  quantities: lines.map((line) => line.quantity),
});

/**
 * Locks the stock rows of these products and returns them. Every transaction that locks more than
 * one stock row does it here, in one fixed order (the ids' bytes), so two of them never wait on each
 * other in a cycle: no deadlock, whatever order an order's lines came in. The rows are read after
 * each lock is granted, so they show what concurrent transactions committed before.
 */
async function lockStock(tx: TransactionSql, productIds: string[]): Promise<Map<string, StockLevel>> {
  const rows = await tx<StockRow[]>`
    select ${tx(stockColumns)} from stock where product_id = any(${productIds}::text[])
    order by product_id collate "C"
    for update`;
  return new Map(rows.map((row) => [row.product_id, toStock(row)]));
}

async function findReservation(db: Sql | TransactionSql, orderId: string): Promise<Reservation | undefined> {
  const [request] = await db<RequestRow[]>`
    select order_id, lines, outcome, out_of_stock from reservation_requests where order_id = ${orderId}`;
  if (!request) return undefined;
  // Every row of an order moves together, so any of them tells where the reservation stands.
  const [held] = await db<ReservationRow[]>`
    select status, expires_at from reservations where order_id = ${orderId} limit 1`;
  return {
    orderId: request.order_id,
    lines: request.lines,
    status: request.outcome === "out_of_stock" ? "failed" : held.status,
    outOfStock: request.out_of_stock,
    expiresAt: held?.expires_at ?? null,
  };
}

/**
 * How each unit of a reservation moves the stock counts when the reservation changes status: held
 * units are let go (released, expired) or leave the shelf with the order (committed); an expired
 * reservation's units leave the shelf without having been held; committed units come back
 * (returned). The domain's rules allow no other move, and the counts depend on it.
 */
function stockChange(from: ReservationStatus, to: ReservationStatus): { reserved: number; onHand: number } {
  if (from === "reserved" && (to === "released" || to === "expired")) return { reserved: -1, onHand: 0 };
  if (from === "reserved" && to === "committed") return { reserved: -1, onHand: -1 };
  if (from === "expired" && to === "committed") return { reserved: 0, onHand: -1 };
  if (from === "expired" && to === "released") return { reserved: 0, onHand: 0 };
  if (from === "committed" && to === "returned") return { reserved: 0, onHand: 1 };
  throw new Error(`a ${from} reservation cannot become ${to}`);
}

/**
 * The store's writes that belong to a larger change (a handled message with its inbox record and
 * reply, an expiry with its event) take the caller's transaction, and commit or roll back with it.
 */
export function createInventoryStore(sql: Sql) {
  return {
    async stockLevel(productId: string): Promise<StockLevel | undefined> {
      const [row] = await sql<StockRow[]>`
        select ${sql(stockColumns)} from stock where product_id = ${productId}`;
      return row ? toStock(row) : undefined;
    },

    /** The stock rows of these products; products without one are left out. */
    async stockLevels(productIds: string[]): Promise<Map<string, StockLevel>> {
      const rows = await sql<StockRow[]>`
        select ${sql(stockColumns)} from stock where product_id = any(${productIds}::text[])`;
      return new Map(rows.map((row) => [row.product_id, toStock(row)]));
    },

    /**
     * Sets the count on hand, creating the row when the product has none. The row is locked while the
     * count is checked against what is reserved, so a reservation cannot slip in between.
     */
    async setOnHand(productId: string, onHand: number): Promise<SetOnHandResult> {
      return await sql.begin(async (tx) => {
        const [created] = await tx<StockRow[]>`
          insert into stock (product_id, on_hand) values (${productId}, ${onHand})
          on conflict (product_id) do nothing
          returning ${tx(stockColumns)}`;
        if (created) return { outcome: "created" as const, stock: toStock(created) };
        const [row] = await tx<StockRow[]>`
          select ${tx(stockColumns)} from stock where product_id = ${productId} for update`;
        const reason = onHandProblem(toStock(row), onHand);
        if (reason) return { outcome: "refused" as const, reason };
        const [updated] = await tx<StockRow[]>`
          update stock set on_hand = ${onHand}, updated_at = now() where product_id = ${productId}
          returning ${tx(stockColumns)}`;
        return { outcome: "updated" as const, stock: toStock(updated) };
      });
    },

    /**
     * Records the product's status in the catalog as of `asOf` (the change's time), giving a product new
     * to the inventory a stock row with nothing on hand; the counts of a row already there stay as they
     * are. A status older than the one recorded (a retried event arriving late) changes nothing.
     */
    async recordCatalogStatus(
      tx: TransactionSql,
      productId: string,
      status: CatalogStatus,
      asOf: Date,
    ): Promise<void> {
      await tx`
        insert into stock (product_id, on_hand, catalog_status, catalog_status_at)
        values (${productId}, 0, ${status}, ${asOf})
        on conflict (product_id) do update
          set catalog_status = excluded.catalog_status, catalog_status_at = excluded.catalog_status_at,
              updated_at = now()
        where stock.catalog_status_at is null or stock.catalog_status_at < excluded.catalog_status_at`;
    },

    /**
     * Creates the stock rows that are missing, with these counts and catalog statuses; rows already
     * there stay as they are.
     */
    async addMissing(
      levels: readonly { productId: string; onHand: number; catalogStatus: CatalogStatus }[],
    ): Promise<number> {
      const { productIds, quantities } = columnsOf(
        levels.map((level) => ({ productId: level.productId, quantity: level.onHand })),
      );
      const statuses = levels.map((level) => level.catalogStatus);
      // In the same order as lockStock: two runs at once that share new products then wait on each
      // other's insertions in one order, never in a cycle.
      const created = await sql`
        insert into stock (product_id, on_hand, catalog_status)
        select * from unnest(${productIds}::text[], ${quantities}::int[], ${statuses}::text[])
          as l(product_id, on_hand, catalog_status)
        order by product_id collate "C"
        on conflict (product_id) do nothing`;
      return created.count;
    },

    /**
     * Marks the product's stock as not reservable. A product without a row gets a retired one, so that
     * its creation, if that message comes late, cannot bring it back.
     */
    async retire(tx: TransactionSql, productId: string): Promise<void> {
      await tx`
        insert into stock (product_id, on_hand, retired) values (${productId}, 0, true)
        on conflict (product_id) do update set retired = true, updated_at = now() where not stock.retired`;
    },

    /**
     * Reserves every line or none, in the caller's transaction, and records the outcome for the
     * order; or returns what was recorded for it before. `lines` must be normalised (see
     * normalizeLines).
     */
    async reserve(
      tx: TransactionSql,
      orderId: string,
      lines: ReservationLine[],
      expiresAt: Date,
    ): Promise<Reservation> {
      const { productIds, quantities } = columnsOf(lines);
      const stock = await lockStock(tx, productIds);
      // Read after the locks: a reserve of this order that held them has committed by now, and
      // each statement sees what was committed before it began.
      const recorded = await findReservation(tx, orderId);
      if (recorded) return recorded;
      const outOfStock = shortages(lines, stock);
      // Plain objects, which postgres.js accepts as JSON values (an interface type it does not).
      const asked = lines.map(({ productId, quantity }) => ({ productId, quantity }));
      const [inserted] = await tx`
        insert into reservation_requests (order_id, lines, outcome, out_of_stock)
        values (${orderId}, ${tx.json(asked)}, ${outOfStock.length ? "out_of_stock" : "reserved"},
                ${outOfStock}::text[])
        on conflict (order_id) do nothing
        returning order_id`;
      // Another reserve of this order, with no stock row in common to wait on, got in first.
      if (!inserted) return (await findReservation(tx, orderId))!;
      if (outOfStock.length > 0) {
        return { orderId, lines, status: "failed" as const, outOfStock, expiresAt: null };
      }
      await tx`
        update stock s set reserved = s.reserved + l.quantity, updated_at = now()
        from unnest(${productIds}::text[], ${quantities}::int[]) as l(product_id, quantity)
        where s.product_id = l.product_id`;
      await tx`
        insert into reservations (order_id, product_id, quantity, status, expires_at)
        select ${orderId}, product_id, quantity, 'reserved', ${expiresAt}
        from unnest(${productIds}::text[], ${quantities}::int[]) as l(product_id, quantity)`;
      return { orderId, lines, status: "reserved" as const, outOfStock: [], expiresAt };
    },

    findReservation: (orderId: string) => findReservation(sql, orderId),

    /**
     * Moves the order's reservation to the status `next` decides, and its stock with it, in the
     * caller's transaction; undefined when the order reserved nothing, `changed` false when it already
     * stood there. The order's request row is locked first, so the commit, release and expiry of one
     * order take turns.
     */
    async transition(
      tx: TransactionSql,
      orderId: string,
      next: (reservation: Reservation, stock: ReadonlyMap<string, StockLevel>) => ReservationStatus,
    ): Promise<{ reservation: Reservation; changed: boolean } | undefined> {
      const [found] = await tx`select 1 from reservation_requests where order_id = ${orderId} for update`;
      if (!found) return undefined;
      const reservation = (await findReservation(tx, orderId))!;
      const { productIds, quantities } = columnsOf(reservation.lines);
      const status = next(reservation, await lockStock(tx, productIds));
      if (status === reservation.status) return { reservation, changed: false };
      const change = stockChange(reservation.status, status);
      await tx`
        update stock s
        set reserved = s.reserved + ${change.reserved} * l.quantity,
            on_hand = s.on_hand + ${change.onHand} * l.quantity,
            updated_at = now()
        from unnest(${productIds}::text[], ${quantities}::int[]) as l(product_id, quantity)
        where s.product_id = l.product_id`;
      await tx`update reservations set status = ${status}, updated_at = now() where order_id = ${orderId}`;
      return { reservation: { ...reservation, status }, changed: true };
    },

    /**
     * The orders whose reservation still held stock past its deadline at `now` when asked; each is
     * judged again under its lock when it is released (see transition).
     */
    async dueOrders(now: Date): Promise<string[]> {
      const due = await sql<{ order_id: string }[]>`
        select distinct order_id from reservations where status = 'reserved' and expires_at <= ${now}`;
      return due.map((row) => row.order_id);
    },

    ping: () => sql`select 1`,
  };
}

export type InventoryStore = ReturnType<typeof createInventoryStore>;
