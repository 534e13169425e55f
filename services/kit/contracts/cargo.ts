/** Events of the cargo service, as the order service and the dashboard read them. */
import { z } from "zod";

/** A shipment's life: created with the order's confirmation, then moved on by tracking events. */
export const shipmentStatus = z.enum([
  "created",
  "picked_up",
  "in_transit",
  "out_for_delivery",
  "delivered",
  "returned",
  "cancelled",
]);
export type ShipmentStatus = z.infer<typeof shipmentStatus>;

const shipment = {
  shipmentId: z.string().min(1),
  orderId: z.string().min(1),
  userId: z.string().min(1),
  trackingCode: z.string().min(1),
};

export const cargoEvents = {
  "cargo.shipment.created": z.object({ ...shipment, carrierId: z.string().min(1) }),
  "cargo.shipment.status_changed": z.object({
    ...shipment,
    status: shipmentStatus,
    previousStatus: shipmentStatus,
  }),
} as const;
