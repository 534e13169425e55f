/**
 * What the catalog publishes: the product events of kit/contracts/catalog.ts. The catalog consumes
 * none.
 *
 * An event is written with the change it announces, into the product's own document (one write, as
 * FerretDB 1.x has no multi-document transactions), and the relay started here publishes it with
 * publisher confirms and then removes it. So an event outlives a broker outage and a crash between
 * the write and the publish; it may be published twice (a crash after the confirm), always with the
 * same envelope id.
 *
 * Every event's `occurredAt` is the time of the change it announces, and a product's changes get
 * strictly increasing times (catalog.ts), so a consumer keeps a product's newest state by comparing
 * them: an event older than what it applied is stale, one as old is a repeat.
 */
import type { z } from "zod";
import { catalogEvents, type CatalogEventType } from "@multishop/kit/contracts/catalog";
import type { Logger } from "@multishop/kit/log";
import {
  type DocumentOutboxRelay,
  type DocumentOutboxRelayOptions,
  type EventPublisher,
  type PendingEvent,
  pendingEvent,
  startDocumentOutboxRelay,
} from "@multishop/kit/messaging";
import type { Product } from "./domain/model.ts";
import type { CatalogStore } from "./store/types.ts";

function productEvent<T extends CatalogEventType>(
  type: T,
  payload: z.input<(typeof catalogEvents)[T]>,
  at: Date,
): PendingEvent {
  return pendingEvent(type, catalogEvents[type], payload, {
    correlationId: payload.productId,
    occurredAt: at.toISOString(),
  });
}

const snapshot = (product: Product) => ({
  productId: product.id,
  name: product.name,
  slug: product.slug,
  price: product.price,
  status: product.status,
  categoryId: product.category.id,
  brandId: product.brand?.id ?? null,
  image: product.images[0]?.url ?? null,
});

export const productCreated = (product: Product): PendingEvent[] => [
  productEvent("catalog.product.created", snapshot(product), product.updatedAt),
];

/** `updated` with the whole product, and `price_changed` when the price moved. */
export function productChanged(before: Product, after: Product): PendingEvent[] {
  const events = [productEvent("catalog.product.updated", snapshot(after), after.updatedAt)];
  if (after.price.amount !== before.price.amount) {
    events.push(productEvent("catalog.product.price_changed", {
      productId: after.id,
      oldPrice: before.price,
      newPrice: after.price,
    }, after.updatedAt));
  }
  return events;
}

export const productDeleted = (productId: string, at: Date): PendingEvent[] => [
  productEvent("catalog.product.deleted", { productId }, at),
];

/** Publishes the store's pending product events until stopped; `notify` after a write wakes it. */
export function startCatalogEventRelay(
  store: CatalogStore,
  publisher: EventPublisher,
  logger: Logger,
  options: Omit<DocumentOutboxRelayOptions, "outbox" | "publisher" | "logger"> = {},
): DocumentOutboxRelay {
  return startDocumentOutboxRelay({ outbox: store.outbox, publisher, logger, ...options });
}
