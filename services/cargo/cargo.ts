/**
 * The cargo service's use cases: carrier administration, shipments made from confirmed orders and
 * taken back with cancelled ones, tracking events, and reading shipments. The rules come from
 * domain.ts, the queries from store/; this file puts them in order, and writes each event to the
 * outbox in the transaction of the change it tells about.
 */
import type { Principal } from "@multishop/kit/auth";
import { cargoEvents } from "@multishop/kit/contracts/cargo";
import { orderEvents } from "@multishop/kit/contracts/orders";
import type { Logger } from "@multishop/kit/log";
import { enqueue, type Envelope, handleOnce } from "@multishop/kit/messaging";
import type { Sql, TransactionSql } from "@multishop/kit/postgres";
import { ProblemError } from "@multishop/kit/problem";
import {
  allowedAfter,
  cancelledWithOrder,
  type Carrier,
  carrierFields,
  type CarrierInput,
  defaultEventTime,
  eventTime,
  pickCarrier,
  type Sender,
  type Shipment,
  type ShipmentStatus,
  type ShipmentWithEvents,
  trackingCodeFrom,
  trackingCodeRandomLength,
  type TrackingEvent,
  type TrackingEventInput,
  transitionRefusal,
} from "./domain.ts";
import {
  type CargoStore,
  type CarrierQuery,
  DuplicateCarrierError,
  type NewShipment,
  type ShipmentPage,
} from "./store/postgres.ts";

export interface CargoDeps {
  sql: Sql;
  store: CargoStore;
  /** Told after each commit that wrote to the outbox, so events go out without waiting for its poll. */
  outbox: { notify(): void };
  logger: Logger;
  sender: Sender;
  /** CARGO_DEFAULT_CARRIER: the name of the carrier every shipment goes with. */
  defaultCarrier?: string;
  /** Makes a tracking code; random unless a test forces a clash. */
  trackingCode?: () => string;
}

/** The queue the service's order events arrive on; its inbox records them per this name. */
export const cargoQueue = "cargo";

/** Far more than a clash among 2^50 codes ever needs; a loop that never ends would hide a bug. */
const trackingCodeAttempts = 5;

const randomTrackingCode = () =>
  trackingCodeFrom(crypto.getRandomValues(new Uint8Array(trackingCodeRandomLength)));

const notFound = (what: string) => new ProblemError({ status: 404, detail: `no such ${what}` });

export function createCargo(deps: CargoDeps) {
  const { sql, store, outbox, logger, sender } = deps;
  const newTrackingCode = deps.trackingCode ?? randomTrackingCode;

  /** Answers 409 naming the name when another carrier has it. */
  async function withUniqueName<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof DuplicateCarrierError)) throw error;
      const reason = `${error.carrierName} is taken (names are unique regardless of case)`;
      throw new ProblemError({
        status: 409,
        kind: "conflict",
        detail: reason,
        errors: [{ field: "name", reason }],
      });
    }
  }

  /**
   * Records the event, and when it changes the shipment's status, `cargo.shipment.status_changed`
   * with it, in the caller's transaction. Answers whether the status changed.
   */
  async function record(
    tx: TransactionSql,
    shipment: Shipment,
    event: TrackingEvent,
    causationId?: string,
  ): Promise<boolean> {
    await store.appendEvent(tx, shipment.id, event, new Date());
    if (event.status === shipment.status) return false;
    await enqueue(tx, "cargo.shipment.status_changed", cargoEvents["cargo.shipment.status_changed"], {
      shipmentId: shipment.id,
      orderId: shipment.orderId,
      userId: shipment.userId,
      trackingCode: shipment.trackingCode,
      status: event.status,
      previousStatus: shipment.status,
    }, { correlationId: shipment.orderId, causationId });
    return true;
  }

  /** Inserts the shipment under a fresh tracking code, drawing again while the code is taken. */
  async function insertShipment(
    tx: TransactionSql,
    shipment: Omit<NewShipment, "trackingCode">,
  ): Promise<string> {
    for (let attempt = 1;; attempt++) {
      const trackingCode = newTrackingCode();
      if (await store.insertShipment(tx, { ...shipment, trackingCode })) return trackingCode;
      if (attempt === trackingCodeAttempts) {
        throw new Error(`every one of ${trackingCodeAttempts} fresh tracking codes was taken`);
      }
      logger.warn("tracking code taken; drawing another", { orderId: shipment.orderId, attempt });
    }
  }

  /**
   * `order.confirmed`: the order's shipment, once. The inbox skips a redelivered message; the order's
   * lock and unique shipment per order make a second, distinct delivery create nothing either.
   * Without a carrier to take it the handler throws, and the bus retries and then parks the message.
   */
  async function shipOrder(envelope: Envelope): Promise<void> {
    const order = orderEvents["order.confirmed"].parse(envelope.payload);
    let created: { trackingCode: string; carrier: Carrier } | undefined;
    await handleOnce(sql, cargoQueue, envelope, async (tx) => {
      await store.lockOrder(tx, order.orderId);
      if (await store.shipmentOfOrder(tx, order.orderId)) return;
      if (await store.orderCancelled(tx, order.orderId)) {
        logger.info("order cancelled before its confirmation arrived; nothing to ship", {
          orderId: order.orderId,
        });
        return;
      }
      const carrier = pickCarrier(
        await store.activeCarriers(tx),
        deps.defaultCarrier,
        await store.nextTurn(tx),
      );
      const id = crypto.randomUUID();
      const now = new Date();
      const trackingCode = await insertShipment(tx, {
        id,
        orderId: order.orderId,
        userId: order.userId,
        carrierId: carrier.id,
        sender,
        receiver: order.address,
        lines: order.lines,
        createdAt: now,
      });
      await store.appendEvent(
        tx,
        id,
        { status: "created", occurredAt: now, place: sender.city, note: null },
        now,
      );
      await enqueue(tx, "cargo.shipment.created", cargoEvents["cargo.shipment.created"], {
        shipmentId: id,
        orderId: order.orderId,
        userId: order.userId,
        trackingCode,
        carrierId: carrier.id,
      }, { correlationId: order.orderId, causationId: envelope.id });
      created = { trackingCode, carrier };
    });
    if (!created) return;
    outbox.notify();
    logger.info("shipment created", {
      orderId: order.orderId,
      trackingCode: created.trackingCode,
      carrier: created.carrier.name,
    });
  }

  /**
   * `order.status_changed` to `cancelled`: a shipment not picked up yet is cancelled with its order;
   * one underway goes on (its return is the carrier's business). An order without a shipment yet is
   * remembered, so that its confirmation, should it still come, ships nothing.
   */
  async function cancelWithOrder(envelope: Envelope): Promise<void> {
    const change = orderEvents["order.status_changed"].parse(envelope.payload);
    if (change.status !== "cancelled") return;
    let cancelled = false;
    await handleOnce(sql, cargoQueue, envelope, async (tx) => {
      await store.lockOrder(tx, change.orderId);
      const found = await store.lockShipmentOfOrder(tx, change.orderId);
      if (!found) return await store.recordCancelledOrder(tx, change.orderId);
      const { shipment, lastEventAt } = found;
      if (!cancelledWithOrder(shipment.status)) {
        logger.warn("order cancelled after its shipment left; the shipment goes on", {
          orderId: shipment.orderId,
          trackingCode: shipment.trackingCode,
          status: shipment.status,
        });
        return;
      }
      cancelled = await record(tx, shipment, {
        status: "cancelled",
        occurredAt: defaultEventTime(new Date(), lastEventAt),
        place: sender.city,
        note: "order cancelled",
      }, envelope.id);
    });
    if (cancelled) outbox.notify();
  }

  return {
    /** Handles one message of the cargo queue; other types are not the service's. */
    async handle(envelope: Envelope): Promise<void> {
      if (envelope.type === "order.confirmed") return await shipOrder(envelope);
      if (envelope.type === "order.status_changed") return await cancelWithOrder(envelope);
    },

    createCarrier(input: CarrierInput): Promise<Carrier> {
      return withUniqueName(() => store.insertCarrier(crypto.randomUUID(), carrierFields(input)));
    },

    async carrier(id: string): Promise<Carrier> {
      const carrier = await store.findCarrier(id);
      if (!carrier) throw notFound("carrier");
      return carrier;
    },

    listCarriers: (options: CarrierQuery) => store.listCarriers(options),

    async replaceCarrier(id: string, input: CarrierInput): Promise<Carrier> {
      const carrier = await withUniqueName(() => store.replaceCarrier(id, carrierFields(input)));
      if (!carrier) throw notFound("carrier");
      return carrier;
    },

    async deleteCarrier(id: string): Promise<void> {
      const outcome = await store.deleteCarrier(id);
      if (outcome === "not_found") throw notFound("carrier");
      if (outcome === "has_shipments") {
        throw new ProblemError({
          status: 409,
          kind: "carrier-has-shipments",
          detail: "shipments went with this carrier, so it stays on record; set `active` to false instead",
        });
      }
    },

    /**
     * Adds a tracking event to the shipment with the code. The shipment's row lock makes events added
     * at once take turns, each judged against what the one before it left.
     */
    async addTrackingEvent(trackingCode: string, input: TrackingEventInput): Promise<ShipmentWithEvents> {
      const requested = input.occurredAt === undefined ? undefined : new Date(input.occurredAt);
      const changed = await sql.begin(async (tx) => {
        const found = await store.lockShipmentByCode(tx, trackingCode);
        if (!found) throw notFound("shipment");
        const { shipment, lastEventAt } = found;
        const refusal = transitionRefusal(shipment.status, input.status);
        if (refusal) {
          throw new ProblemError({
            status: 409,
            kind: "invalid-transition",
            detail: refusal,
            extensions: { currentStatus: shipment.status, allowedStatuses: allowedAfter(shipment.status) },
          });
        }
        const when = eventTime(requested, new Date(), lastEventAt);
        if ("reason" in when) {
          throw new ProblemError({
            status: 422,
            kind: "invalid-event-time",
            detail: `occurredAt ${when.reason}`,
            errors: [{ field: "occurredAt", reason: when.reason }],
          });
        }
        return await record(tx, shipment, {
          status: input.status,
          occurredAt: when.time,
          place: input.place,
          note: input.note ?? null,
        });
      });
      if (changed) outbox.notify();
      return (await store.findWithEvents({ trackingCode }))!;
    },

    /** Anyone's shipment by its tracking code; what of it may be shown is the caller's decision. */
    async tracking(trackingCode: string): Promise<ShipmentWithEvents> {
      const shipment = await store.findWithEvents({ trackingCode });
      if (!shipment) throw notFound("shipment");
      return shipment;
    },

    /** The shipment of the caller's own order (admins: any order's); another's answers like a missing one. */
    async shipmentOfOrder(principal: Principal, orderId: string): Promise<ShipmentWithEvents> {
      const shipment = await store.findWithEvents({ orderId });
      if (!shipment || (shipment.userId !== principal.subject && !principal.roles.includes("admin"))) {
        throw notFound("shipment for this order");
      }
      return shipment;
    },

    listShipments: (filter: { status?: ShipmentStatus }, page: ShipmentPage) =>
      store.listShipments(filter, page),
  };
}

export type Cargo = ReturnType<typeof createCargo>;
