/**
 * The events the catalog publishes. Producer and consumers both validate against these schemas, so
 * a payload that drifts from them fails loudly on either side.
 */
import { z } from "zod";
import { money } from "./money.ts";

export const productSnapshot = z.object({
  productId: z.string().min(1),
  name: z.string(),
  slug: z.string(),
  price: money,
  status: z.enum(["draft", "active", "archived"]),
  categoryId: z.string(),
  brandId: z.string().nullable(),
  image: z.string().nullable(),
});

export const catalogEvents = {
  "catalog.product.created": productSnapshot,
  "catalog.product.updated": productSnapshot,
  "catalog.product.deleted": z.object({ productId: z.string().min(1) }),
  "catalog.product.price_changed": z.object({
    productId: z.string().min(1),
    oldPrice: money,
    newPrice: money,
  }),
} as const;

export type CatalogEventType = keyof typeof catalogEvents;
export type CatalogEvent<T extends CatalogEventType> = z.infer<(typeof catalogEvents)[T]>;
