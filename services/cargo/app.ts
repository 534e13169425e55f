/** The cargo service's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import { type App, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import { bearerSecurity, principalOf, requireRole, requireUser } from "@multishop/kit/auth";
import { address } from "@multishop/kit/contracts/addresses";
import { pageSchema } from "@multishop/kit/contracts/lists";
import { orderedLine } from "@multishop/kit/contracts/orders";
import { jsonBody, jsonResponse, problems } from "@multishop/kit/openapi";
import { createdPosition, decodeCursor, pageOf, pagingQuery } from "@multishop/kit/paging";
import type { Cargo } from "./cargo.ts";
import {
  type Carrier,
  carrierInput,
  publicTracking,
  type Shipment,
  shipmentStatuses,
  type ShipmentWithEvents,
  trackingCodePattern,
  type TrackingEvent,
  trackingEventInput,
} from "./domain.ts";

export interface CargoAppDeps extends ServiceAppDeps {
  cargo: Cargo;
}

export const cargoDocument = {
  title: "MultiShop Cargo",
  version: "1.0.0",
  description: "Carriers, the shipments of confirmed orders, and their tracking.",
};

const carrierSchema = z.object({
  id: z.uuid(),
  name: z.string().openapi({ example: "Swift Parcel" }),
  phone: z.string().nullable(),
  website: z.string().nullable(),
  active: z.boolean(),
  createdAt: z.string().datetime(),
  updatedAt: z.string().datetime(),
}).openapi("Carrier");

const carrierContact = z.object({
  name: z.string(),
  phone: z.string().nullable(),
  website: z.string().nullable(),
}).openapi("CarrierContact");

const trackingEventSchema = z.object({
  status: z.enum(shipmentStatuses),
  occurredAt: z.string().datetime(),
  place: z.string(),
  note: z.string().nullable(),
}).openapi("TrackingEvent");

const shipmentSchema = z.object({
  id: z.uuid(),
  orderId: z.string(),
  userId: z.string(),
  trackingCode: z.string().openapi({ example: "MS7K2P9QXH4R" }),
  status: z.enum(shipmentStatuses),
  carrier: carrierContact.extend({ id: z.uuid() }).openapi("ShipmentCarrier"),
  sender: address.omit({ surname: true, line2: true }).openapi("ShipmentSender", { description: "The shop" }),
  // The order's address, as it was when the order was placed.
  receiver: address,
  lines: z.array(orderedLine),
  createdAt: z.string().datetime(),
  updatedAt: z.string().datetime(),
}).openapi("Shipment");

const shipmentDetailSchema = shipmentSchema.extend({
  events: z.array(trackingEventSchema).openapi({ description: "oldest first, the creation first" }),
}).openapi("ShipmentDetail");

const trackingSchema = z.object({
  trackingCode: z.string().openapi({ example: "MS7K2P9QXH4R" }),
  status: z.enum(shipmentStatuses),
  carrier: carrierContact,
  destination: z.object({ city: z.string(), country: z.string() }).openapi("TrackingDestination"),
  createdAt: z.string().datetime(),
  events: z.array(trackingEventSchema).openapi({ description: "oldest first, the creation first" }),
}).openapi("Tracking");

const carrierIdParam = z.object({ id: z.uuid("must be a carrier id") });
const trackingCodeParam = z.object({
  // People type codes as they read them off a label or a message; the codes are upper case.
  trackingCode: z.string().trim().toUpperCase()
    .regex(trackingCodePattern, "must be a tracking code like MS7K2P9QXH4R")
    .openapi({ description: "any case", example: "MS7K2P9QXH4R" }),
});
const orderIdParam = z.object({ orderId: z.string().trim().min(1).max(100) });
const positionCursor = z.object({ createdAt: z.string().datetime(), id: z.uuid() });
const admin = { security: bearerSecurity, middleware: [requireRole("admin")] };

const toCarrierJson = (carrier: Carrier) => ({
  ...carrier,
  createdAt: carrier.createdAt.toISOString(),
  updatedAt: carrier.updatedAt.toISOString(),
});

const toEventJson = (event: TrackingEvent) => ({ ...event, occurredAt: event.occurredAt.toISOString() });

const toShipmentJson = (shipment: Shipment) => ({
  id: shipment.id,
  orderId: shipment.orderId,
  userId: shipment.userId,
  trackingCode: shipment.trackingCode,
  status: shipment.status,
  carrier: shipment.carrier,
  sender: shipment.sender,
  receiver: shipment.receiver,
  lines: shipment.lines,
  createdAt: shipment.createdAt.toISOString(),
  updatedAt: shipment.updatedAt.toISOString(),
});

const toShipmentDetailJson = (shipment: ShipmentWithEvents) => ({
  ...toShipmentJson(shipment),
  events: shipment.events.map(toEventJson),
});

function toTrackingJson(shipment: ShipmentWithEvents) {
  const tracking = publicTracking(shipment);
  return {
    ...tracking,
    createdAt: tracking.createdAt.toISOString(),
    events: tracking.events.map(toEventJson),
  };
}

const afterCursor = (cursor: string | undefined) => {
  if (!cursor) return undefined;
  const position = decodeCursor(cursor, positionCursor);
  return { createdAt: new Date(position.createdAt), id: position.id };
};

export function createCargoApp(deps: CargoAppDeps): App {
  const { cargo } = deps;
  const app = createApp({
    ...cargoDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
  });

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/carriers",
      operationId: "createCarrier",
      tags: ["carriers"],
      ...admin,
      summary: "Add a carrier",
      description: "Names are unique regardless of case: a taken one answers 409.",
      request: { body: jsonBody(carrierInput) },
      responses: {
        201: jsonResponse(carrierSchema, "The new carrier"),
        ...problems(400, 401, 403, 409, 413, 415),
      },
    }),
    async (c) => {
      const carrier = await cargo.createCarrier(c.req.valid("json"));
      c.header("location", `/v1/carriers/${carrier.id}`);
      return c.json(toCarrierJson(carrier), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/carriers",
      operationId: "listCarriers",
      tags: ["carriers"],
      ...admin,
      summary: "List carriers, oldest first",
      description: "Pages with `limit` and `cursor`; `total` counts the carriers that match `active`.",
      request: {
        query: z.object({
          ...pagingQuery,
          active: z.enum(["true", "false"]).optional().openapi({
            description: "only active or inactive ones",
          }),
        }),
      },
      responses: {
        200: jsonResponse(
          pageSchema("Carrier", carrierSchema, "the carriers matching `active`"),
          "A page of carriers, and how many match",
        ),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => {
      const { limit, cursor, active } = c.req.valid("query");
      const { carriers, total } = await cargo.listCarriers({
        limit: limit + 1,
        after: afterCursor(cursor),
        active: active === undefined ? undefined : active === "true",
      });
      const page = pageOf(carriers, limit, createdPosition);
      return c.json({ items: page.items.map(toCarrierJson), nextCursor: page.nextCursor, total }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/carriers/{id}",
      operationId: "getCarrier",
      tags: ["carriers"],
      ...admin,
      summary: "One carrier",
      description: "Inactive carriers too: `active` says whether it gets new shipments.",
      request: { params: carrierIdParam },
      responses: { 200: jsonResponse(carrierSchema, "The carrier"), ...problems(400, 401, 403, 404) },
    }),
    async (c) => c.json(toCarrierJson(await cargo.carrier(c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/carriers/{id}",
      operationId: "updateCarrier",
      tags: ["carriers"],
      ...admin,
      summary: "Replace a carrier's fields",
      description: "Every field is set from the body: a phone or website left out is removed. " +
        "Shipments made show the carrier as it is now.",
      request: { params: carrierIdParam, body: jsonBody(carrierInput) },
      responses: {
        200: jsonResponse(carrierSchema, "The carrier"),
        ...problems(400, 401, 403, 404, 409, 413, 415),
      },
    }),
    async (c) =>
      c.json(toCarrierJson(await cargo.replaceCarrier(c.req.valid("param").id, c.req.valid("json"))), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/carriers/{id}",
      operationId: "deleteCarrier",
      tags: ["carriers"],
      ...admin,
      summary: "Delete a carrier that has no shipments",
      description: "A carrier with shipments answers 409: set `active` to false instead.",
      request: { params: carrierIdParam },
      responses: { 204: { description: "Deleted" }, ...problems(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      await cargo.deleteCarrier(c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/shipments",
      operationId: "listShipments",
      tags: ["shipments"],
      ...admin,
      summary: "List shipments, newest first",
      description: "Pages with `limit` and `cursor`; `total` counts the shipments that match `status`.",
      request: { query: z.object({ ...pagingQuery, status: z.enum(shipmentStatuses).optional() }) },
      responses: {
        200: jsonResponse(
          pageSchema("Shipment", shipmentSchema, "the shipments matching `status`"),
          "A page of shipments, and how many match",
        ),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => {
      const { limit, cursor, status } = c.req.valid("query");
      const { shipments, total } = await cargo.listShipments({ status }, {
        limit: limit + 1,
        after: afterCursor(cursor),
      });
      const page = pageOf(shipments, limit, createdPosition);
      return c.json({ items: page.items.map(toShipmentJson), nextCursor: page.nextCursor, total }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/shipments/by-order/{orderId}",
      operationId: "getShipmentByOrder",
      tags: ["shipments"],
      security: bearerSecurity,
      middleware: [requireUser],
      summary: "The shipment of one of the caller's orders (admins: any order's)",
      description:
        "404 until the order is confirmed and its shipment made, and for another customer's order.",
      request: { params: orderIdParam },
      responses: {
        200: jsonResponse(shipmentDetailSchema, "The shipment, its receiver, lines and history"),
        ...problems(400, 401, 403, 404),
      },
    }),
    async (c) =>
      c.json(
        toShipmentDetailJson(await cargo.shipmentOfOrder(principalOf(c), c.req.valid("param").orderId)),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/shipments/{trackingCode}",
      operationId: "trackShipment",
      tags: ["shipments"],
      summary: "Track a shipment (public)",
      description: "Anyone with the code may ask, so the answer names no person: of the receiver's address " +
        "only the city and country.",
      request: { params: trackingCodeParam },
      responses: {
        200: jsonResponse(trackingSchema, "Where the shipment is, and where it has been"),
        ...problems(400, 404),
      },
    }),
    async (c) => c.json(toTrackingJson(await cargo.tracking(c.req.valid("param").trackingCode)), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/shipments/{trackingCode}/events",
      operationId: "recordShipmentEvent",
      tags: ["shipments"],
      ...admin,
      summary: "Record a tracking event",
      description: "Shipments move created -> picked_up -> in_transit (again at every hub) -> " +
        "out_for_delivery -> delivered; out_for_delivery -> in_transit after a failed delivery attempt; " +
        "in_transit or out_for_delivery -> returned. delivered, returned and cancelled are final. Any other " +
        "step answers 409 naming the current status; a time in the future or before the previous event, 422.",
      request: { params: trackingCodeParam, body: jsonBody(trackingEventInput) },
      responses: {
        201: jsonResponse(shipmentDetailSchema, "The shipment with the event recorded"),
        ...problems(400, 401, 403, 404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const shipment = await cargo.addTrackingEvent(c.req.valid("param").trackingCode, c.req.valid("json"));
      return c.json(toShipmentDetailJson(shipment), 201);
    },
  );

  return app;
}
