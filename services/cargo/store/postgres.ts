/** The cargo service's PostgreSQL adapter: every query the service makes, and nothing else. */
import type postgres from "postgres";
import type { Address } from "@multishop/kit/contracts/addresses";
import { isUniqueViolation, type Sql, type TransactionSql } from "@multishop/kit/postgres";
import type {
  Carrier,
  CarrierFields,
  Sender,
  Shipment,
  ShipmentLine,
  ShipmentStatus,
  ShipmentWithEvents,
  TrackingEvent,
} from "../domain.ts";

export class DuplicateCarrierError extends Error {
  constructor(readonly carrierName: string) {
    super(`a carrier named ${carrierName} exists`);
  }
}

interface CarrierRow {
  id: string;
  name: string;
  phone: string | null;
  website: string | null;
  active: boolean;
  created_at: Date;
  updated_at: Date;
}

interface ShipmentRow {
  id: string;
  order_id: string;
  user_id: string;
  tracking_code: string;
  status: ShipmentStatus;
  carrier_id: string;
  carrier_name: string;
  carrier_phone: string | null;
  carrier_website: string | null;
  sender: Sender;
  receiver: Address;
  lines: ShipmentLine[];
  created_at: Date;
  updated_at: Date;
}

interface EventRow {
  status: ShipmentStatus;
  occurred_at: Date;
  place: string;
  note: string | null;
}

const toCarrier = (row: CarrierRow): Carrier => ({
  id: row.id,
  name: row.name,
  phone: row.phone,
  website: row.website,
  active: row.active,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toShipment = (row: ShipmentRow): Shipment => ({
  id: row.id,
  orderId: row.order_id,
  userId: row.user_id,
  trackingCode: row.tracking_code,
  status: row.status,
  carrier: {
    id: row.carrier_id,
    name: row.carrier_name,
    phone: row.carrier_phone,
    website: row.carrier_website,
  },
  sender: row.sender,
  receiver: row.receiver,
  lines: row.lines,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toEvent = (row: EventRow): TrackingEvent => ({
  status: row.status,
  occurredAt: row.occurred_at,
  place: row.place,
  note: row.note,
});

/** A shipment's columns and its carrier's, for queries on `shipments s join carriers c`. */
const shipmentColumns = (db: Sql | TransactionSql) =>
  db`s.id, s.order_id, s.user_id, s.tracking_code, s.status, s.carrier_id, c.name as carrier_name,
     c.phone as carrier_phone, c.website as carrier_website, s.sender, s.receiver, s.lines,
     s.created_at, s.updated_at`;

const json = (value: unknown) => value as postgres.JSONValue;

export type NewShipment = Omit<Shipment, "carrier" | "status" | "updatedAt"> & { carrierId: string };

export interface CarrierQuery {
  /** Carriers oldest first. */
  after?: { createdAt: Date; id: string };
  limit: number;
  active?: boolean;
}

export interface ShipmentPage {
  /** Shipments newest first. */
  after?: { createdAt: Date; id: string };
  limit: number;
}

export function createCargoStore(sql: Sql) {
  /** Runs a write, turning a clash on the name into a DuplicateCarrierError. */
  async function uniqueName<T>(name: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (isUniqueViolation(error) && error.constraint_name === "carriers_name_key") {
        throw new DuplicateCarrierError(name);
      }
      throw error;
    }
  }

  async function findShipment(
    db: Sql | TransactionSql,
    where: { orderId: string } | { trackingCode: string },
  ): Promise<Shipment | undefined> {
    const [row] = await db<ShipmentRow[]>`
      select ${shipmentColumns(db)} from shipments s join carriers c on c.id = s.carrier_id
      where ${
      "orderId" in where ? db`s.order_id = ${where.orderId}` : db`s.tracking_code = ${where.trackingCode}`
    }`;
    return row && toShipment(row);
  }

  async function withEvents(db: Sql | TransactionSql, shipment: Shipment): Promise<ShipmentWithEvents> {
    const events = await db<EventRow[]>`
      select status, occurred_at, place, note from tracking_events
      where shipment_id = ${shipment.id} order by seq`;
    return { ...shipment, events: events.map(toEvent) };
  }

  async function lockShipment(
    tx: TransactionSql,
    where: { orderId: string } | { trackingCode: string },
  ): Promise<{ shipment: Shipment; lastEventAt: Date } | undefined> {
    const [row] = await tx<(ShipmentRow & { last_event_at: Date })[]>`
      select ${shipmentColumns(tx)},
        (select e.occurred_at from tracking_events e where e.shipment_id = s.id order by e.seq desc limit 1)
        as last_event_at
      from shipments s join carriers c on c.id = s.carrier_id
      where ${
      "orderId" in where ? tx`s.order_id = ${where.orderId}` : tx`s.tracking_code = ${where.trackingCode}`
    }
      for update of s`;
    return row && { shipment: toShipment(row), lastEventAt: row.last_event_at };
  }

  return {
    ping: () => sql`select 1`,

    async insertCarrier(id: string, carrier: CarrierFields): Promise<Carrier> {
      const [row] = await uniqueName(carrier.name, () =>
        sql<CarrierRow[]>`
          insert into carriers (id, name, phone, website, active)
          values (${id}, ${carrier.name}, ${carrier.phone}, ${carrier.website}, ${carrier.active})
          returning *`);
      return toCarrier(row);
    },

    async findCarrier(id: string): Promise<Carrier | undefined> {
      const [row] = await sql<CarrierRow[]>`select * from carriers where id = ${id}`;
      return row && toCarrier(row);
    },

    /** Replaces every editable field; undefined when there is no such carrier. */
    async replaceCarrier(id: string, carrier: CarrierFields): Promise<Carrier | undefined> {
      const [row] = await uniqueName(carrier.name, () =>
        sql<CarrierRow[]>`
          update carriers set name = ${carrier.name}, phone = ${carrier.phone}, website = ${carrier.website},
            active = ${carrier.active}, updated_at = now()
          where id = ${id}
          returning *`);
      return row && toCarrier(row);
    },

    /**
     * Deletes a carrier that has no shipment. The foreign key decides, so a shipment created at the
     * same moment either blocks the delete or fails and takes another carrier when it is retried.
     */
    async deleteCarrier(id: string): Promise<"deleted" | "not_found" | "has_shipments"> {
      try {
        const deleted = await sql`delete from carriers where id = ${id}`;
        return deleted.count === 0 ? "not_found" : "deleted";
      } catch (error) {
        if ((error as { code?: string }).code === "23503") return "has_shipments";
        throw error;
      }
    },

    async listCarriers(options: CarrierQuery): Promise<{ carriers: Carrier[]; total: number }> {
      const activeFilter = options.active === undefined ? sql`` : sql`and active = ${options.active}`;
      const rows = await sql<CarrierRow[]>`
        select * from carriers
        where true ${activeFilter}
          ${
        options.after
          ? sql`and (created_at, id) > (${options.after.createdAt}::timestamptz, ${options.after.id}::uuid)`
          : sql``
      }
        order by created_at, id
        limit ${options.limit}`;
      const [{ total }] = await sql<{ total: number }[]>`
        select count(*)::int as total from carriers where true ${activeFilter}`;
      return { carriers: rows.map(toCarrier), total };
    },

    /** The carriers that take new shipments, in the stable order their turns go round. */
    async activeCarriers(tx: TransactionSql): Promise<Carrier[]> {
      const rows = await tx<CarrierRow[]>`select * from carriers where active order by created_at, id`;
      return rows.map(toCarrier);
    },

    /** A turn number no other call gets, even in concurrent transactions. */
    async nextTurn(tx: TransactionSql): Promise<bigint> {
      const [{ turn }] = await tx<{ turn: string }[]>`select nextval('carrier_turns')::text as turn`;
      return BigInt(turn);
    },

    /**
     * Serialises the transactions about one order (its confirmation, its cancellation) until the
     * caller's transaction ends, so a cancellation never misses a shipment being created.
     */
    async lockOrder(tx: TransactionSql, orderId: string): Promise<void> {
      await tx`select pg_advisory_xact_lock(hashtextextended(${`cargo:order:${orderId}`}, 0))`;
    },

    shipmentOfOrder: (tx: TransactionSql, orderId: string) => findShipment(tx, { orderId }),

    /** The order's shipment, its row locked for the transaction, and the time of its latest event. */
    lockShipmentOfOrder: (tx: TransactionSql, orderId: string) => lockShipment(tx, { orderId }),

    /** The shipment with the code, its row locked, so events added to it at once take turns. */
    lockShipmentByCode: (tx: TransactionSql, trackingCode: string) => lockShipment(tx, { trackingCode }),

    async orderCancelled(tx: TransactionSql, orderId: string): Promise<boolean> {
      const [row] = await tx`select 1 from cancelled_orders where order_id = ${orderId}`;
      return Boolean(row);
    },

    async recordCancelledOrder(tx: TransactionSql, orderId: string): Promise<void> {
      await tx`insert into cancelled_orders (order_id) values (${orderId}) on conflict do nothing`;
    },

    /** Inserts the shipment in `created`; false, inserting nothing, when its tracking code is taken. */
    async insertShipment(tx: TransactionSql, shipment: NewShipment): Promise<boolean> {
      const inserted = await tx`
        insert into shipments (id, order_id, user_id, tracking_code, carrier_id, status, sender, receiver,
                               lines, created_at, updated_at)
        values (${shipment.id}, ${shipment.orderId}, ${shipment.userId}, ${shipment.trackingCode},
                ${shipment.carrierId}, 'created', ${tx.json(json(shipment.sender))},
                ${tx.json(json(shipment.receiver))}, ${tx.json(json(shipment.lines))}, ${shipment.createdAt},
                ${shipment.createdAt})
        on conflict (tracking_code) do nothing
        returning id`;
      return inserted.length > 0;
    },

    /** Adds the event to the shipment's history and puts the shipment in the event's status. */
    async appendEvent(
      tx: TransactionSql,
      shipmentId: string,
      event: TrackingEvent,
      now: Date,
    ): Promise<void> {
      await tx`
        insert into tracking_events (shipment_id, status, occurred_at, place, note)
        values (${shipmentId}, ${event.status}, ${event.occurredAt}, ${event.place}, ${event.note})`;
      await tx`update shipments set status = ${event.status}, updated_at = ${now} where id = ${shipmentId}`;
    },

    async findWithEvents(
      where: { orderId: string } | { trackingCode: string },
    ): Promise<ShipmentWithEvents | undefined> {
      const shipment = await findShipment(sql, where);
      return shipment && await withEvents(sql, shipment);
    },

    async listShipments(
      filter: { status?: ShipmentStatus },
      page: ShipmentPage,
    ): Promise<{ shipments: Shipment[]; total: number }> {
      const statusFilter = filter.status === undefined ? sql`` : sql`and s.status = ${filter.status}`;
      const rows = await sql<ShipmentRow[]>`
        select ${shipmentColumns(sql)} from shipments s join carriers c on c.id = s.carrier_id
        where true ${statusFilter}
          ${
        page.after
          ? sql`and (s.created_at, s.id) < (${page.after.createdAt}::timestamptz, ${page.after.id}::uuid)`
          : sql``
      }
        order by s.created_at desc, s.id desc
        limit ${page.limit}`;
      const [{ total }] = await sql<{ total: number }[]>`
        select count(*)::int as total from shipments s where true ${statusFilter}`;
      return { shipments: rows.map(toShipment), total };
    },
  };
}

export type CargoStore = ReturnType<typeof createCargoStore>;
