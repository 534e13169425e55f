/**
 * A postal address: as a customer gives it (`AddressInput`) and as the shop keeps it, on an order, on
 * its shipment and in the events between them (`Address`). Both name the same fields.
 */
import { z } from "@hono/zod-openapi";

/** An address as it was given: every field is there, `line2` null when there was none. */
export const address = z.object({
  name: z.string(),
  surname: z.string(),
  email: z.string(),
  phone: z.string(),
  country: z.string(),
  city: z.string(),
  district: z.string(),
  line1: z.string(),
  line2: z.string().nullable(),
  zipCode: z.string(),
}).openapi("Address");

export type Address = z.infer<typeof address>;

const text = (max: number) => z.string().trim().min(1).max(max);

/** What a customer may send as an address: each of its fields, checked; `line2` may be left out. */
export const addressInput = z.strictObject(
  {
    name: text(100),
    surname: text(100),
    email: z.email().max(254),
    phone: z.string().trim().regex(/^\+?[0-9 ()-]{5,30}$/, "must be a phone number"),
    country: text(100),
    city: text(100),
    district: text(100),
    line1: text(200),
    line2: text(200).nullish(),
    zipCode: text(20),
  } satisfies Record<keyof Address, z.ZodType>,
).openapi("AddressInput");

export type AddressInput = z.infer<typeof addressInput>;
