/**
 * Carriers, shipments and their tracking events, and the rules that move a shipment along. No I/O:
 * the time, the random bytes of a tracking code and the carriers' turn come in as values.
 */
import { z } from "@hono/zod-openapi";
import { type ShipmentStatus, shipmentStatus } from "@multishop/kit/contracts/cargo";
import type { Address } from "@multishop/kit/contracts/addresses";
import type { orderedLine } from "@multishop/kit/contracts/orders";

export type { ShipmentStatus };
export const shipmentStatuses = shipmentStatus.options;

/** The statuses an admin records from the carrier's scans; `created` and `cancelled` are the system's. */
export const trackingStatuses = [
  "picked_up",
  "in_transit",
  "out_for_delivery",
  "delivered",
  "returned",
] as const;
export type TrackingStatus = (typeof trackingStatuses)[number];

const text = (max: number) => z.string().trim().min(1).max(max);

/** The request body of POST and PUT /v1/carriers. */
export const carrierInput = z.strictObject({
  name: text(100).openapi({ example: "Swift Parcel", description: "unique regardless of case" }),
  phone: z.string().trim().regex(/^\+?[0-9 ()-]{5,30}$/, "must be a phone number").nullish(),
  website: z.url({ protocol: /^https?$/, error: "must be an http or https URL" }).max(300).nullish(),
  active: z.boolean().openapi({ description: "only active carriers get new shipments" }),
}).openapi("CarrierInput");

export type CarrierInput = z.infer<typeof carrierInput>;

export interface CarrierFields {
  name: string;
  phone: string | null;
  website: string | null;
  active: boolean;
}

export interface Carrier extends CarrierFields {
  id: string;
  createdAt: Date;
  updatedAt: Date;
}

export const carrierFields = (input: CarrierInput): CarrierFields => ({
  name: input.name,
  phone: input.phone ?? null,
  website: input.website ?? null,
  active: input.active,
});

/** The request body of POST /v1/shipments/{trackingCode}/events. */
export const trackingEventInput = z.strictObject({
  status: z.enum(trackingStatuses),
  occurredAt: z.iso.datetime({
    offset: true,
    error: "must be an RFC 3339 date-time like 2026-01-31T14:05:00Z",
  })
    .optional().openapi({
      description:
        "when the carrier scanned it; default now. Not in the future, not before the previous event",
    }),
  place: text(200).openapi({ example: "Memphis hub" }),
  note: text(500).nullish(),
}).openapi("TrackingEventInput");

export type TrackingEventInput = z.infer<typeof trackingEventInput>;

/** The shop, as the sender of every shipment: an address without a surname or a second line. */
export type Sender = Omit<Address, "surname" | "line2">;

export type ShipmentLine = z.infer<typeof orderedLine>;

export interface TrackingEvent {
  status: ShipmentStatus;
  occurredAt: Date;
  place: string;
  note: string | null;
}

export interface Shipment {
  id: string;
  orderId: string;
  userId: string;
  trackingCode: string;
  status: ShipmentStatus;
  carrier: Omit<Carrier, "active" | "createdAt" | "updatedAt">;
  sender: Sender;
  receiver: Address;
  lines: ShipmentLine[];
  createdAt: Date;
  updatedAt: Date;
}

export interface ShipmentWithEvents extends Shipment {
  /** Oldest first; the first is the shipment's creation. */
  events: TrackingEvent[];
}

/** Where a shipment may go from each status; an empty list means the status is final. */
const nextStatuses: Record<ShipmentStatus, readonly TrackingStatus[]> = {
  created: ["picked_up"],
  picked_up: ["in_transit"],
  // Another in_transit is a scan at the next hub.
  in_transit: ["in_transit", "out_for_delivery", "returned"],
  // Back to in_transit after a failed delivery attempt.
  out_for_delivery: ["delivered", "in_transit", "returned"],
  delivered: [],
  returned: [],
  cancelled: [],
};

export const allowedAfter = (status: ShipmentStatus): readonly TrackingStatus[] => nextStatuses[status];

/** Why a shipment in `current` cannot record `next`, or undefined when it can. */
export function transitionRefusal(current: ShipmentStatus, next: TrackingStatus): string | undefined {
  const allowed = nextStatuses[current];
  if (allowed.includes(next)) return undefined;
  if (allowed.length === 0) return `the shipment is ${current}, which is final`;
  return `the shipment is ${current}; it can move to ${allowed.join(" or ")}, not ${next}`;
}

/** A cancelled order takes its shipment back only while the carrier has not picked it up. */
export const cancelledWithOrder = (status: ShipmentStatus): boolean => status === "created";

/** Room for a scanner's clock that runs a little ahead of the service's. */
export const clockSkewMs = 5 * 60_000;

/**
 * When an event given no time happened: now. A shipment's history only moves forward, and the
 * clocks of several instances may differ a little, so never before the previous event.
 */
export const defaultEventTime = (now: Date, previous: Date): Date => now < previous ? previous : now;

/** When a new event happened: the time asked for, unless it is in the future or before the previous event. */
export function eventTime(
  requested: Date | undefined,
  now: Date,
  previous: Date,
): { time: Date } | { reason: string } {
  if (!requested) return { time: defaultEventTime(now, previous) };
  if (requested.getTime() > now.getTime() + clockSkewMs) {
    return { reason: `must not be in the future (it is ${now.toISOString()} now)` };
  }
  if (requested < previous) {
    return { reason: `must not be before the shipment's previous event, at ${previous.toISOString()}` };
  }
  return { time: requested };
}

/** Letters and digits that cannot be mistaken for one another when read out or typed: no 0/O, no 1/I. */
export const trackingCodeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
export const trackingCodeRandomLength = 10;
export const trackingCodePattern = new RegExp(`^MS[${trackingCodeAlphabet}]{${trackingCodeRandomLength}}$`);

/**
 * "MS" and one alphabet character per random byte. The alphabet has 32 characters, so each takes 5
 * bits of its byte evenly: 2^50 codes, where guessing one that exists is hopeless.
 */
export function trackingCodeFrom(randomBytes: Uint8Array): string {
  if (randomBytes.length !== trackingCodeRandomLength) {
    throw new Error(
      `a tracking code takes ${trackingCodeRandomLength} random bytes, not ${randomBytes.length}`,
    );
  }
  return `MS${Array.from(randomBytes, (byte) => trackingCodeAlphabet[byte & 31]).join("")}`;
}

/** No carrier can take a new shipment; the message is retried and then parked until one can. */
export class NoCarrierError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NoCarrierError";
  }
}

/**
 * The carrier a new shipment goes with: the configured default, or else the active carriers in
 * turn. `active` is in a stable order and `turn` a number no other shipment got.
 */
export function pickCarrier(active: Carrier[], defaultName: string | undefined, turn: bigint): Carrier {
  if (defaultName) {
    const named = active.find((carrier) => carrier.name.toLowerCase() === defaultName.toLowerCase());
    if (!named) {
      throw new NoCarrierError(
        `CARGO_DEFAULT_CARRIER is "${defaultName}", which is not an active carrier: ` +
          "create or activate it at /v1/carriers, or change the variable",
      );
    }
    return named;
  }
  if (active.length === 0) {
    throw new NoCarrierError("there is no active carrier: create or activate one at /v1/carriers");
  }
  return active[Number(turn % BigInt(active.length))];
}

/** What anyone holding the tracking code may see: tracking codes get shared, so nothing personal. */
export function publicTracking(shipment: ShipmentWithEvents) {
  const { name, phone, website } = shipment.carrier;
  return {
    trackingCode: shipment.trackingCode,
    status: shipment.status,
    carrier: { name, phone, website },
    destination: { city: shipment.receiver.city, country: shipment.receiver.country },
    createdAt: shipment.createdAt,
    events: shipment.events,
  };
}
