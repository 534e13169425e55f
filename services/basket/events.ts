/**
 * What the basket consumes: catalog changes to the products it holds, and confirmed orders.
 *
 * The catalog publishes at least once, and a retried message can arrive after a newer one. Each
 * handling sets values rather than adding to them, so a repeat changes nothing; and a catalog
 * event carries the time of its change (`occurredAt`, strictly increasing per product), which a
 * line keeps, so an event older than what a line shows leaves it alone.
 */
import { catalogEvents } from "@multishop/kit/contracts/catalog";
import { orderEvents } from "@multishop/kit/contracts/orders";
import type { EventSubscriber } from "@multishop/kit/messaging";
import type { BasketService } from "./basket.ts";

export const basketQueue = "basket";

export async function consumeBasketEvents(bus: EventSubscriber, basket: BasketService): Promise<void> {
  await bus.subscribe(basketQueue, [
    "catalog.product.price_changed",
    "catalog.product.updated",
    "catalog.product.deleted",
    "order.confirmed",
  ], async (envelope) => {
    const catalogAsOf = envelope.occurredAt;
    switch (envelope.type) {
      case "catalog.product.price_changed": {
        const { productId, newPrice } = catalogEvents["catalog.product.price_changed"].parse(
          envelope.payload,
        );
        return await basket.refreshProduct({ productId, unitPrice: newPrice, catalogAsOf });
      }
      case "catalog.product.updated": {
        const product = catalogEvents["catalog.product.updated"].parse(envelope.payload);
        return await basket.refreshProduct({
          productId: product.productId,
          name: product.name,
          unitPrice: product.price,
          image: product.image,
          available: product.status === "active",
          catalogAsOf,
        });
      }
      case "catalog.product.deleted": {
        const { productId } = catalogEvents["catalog.product.deleted"].parse(envelope.payload);
        return await basket.refreshProduct({ productId, available: false, catalogAsOf });
      }
      case "order.confirmed": {
        const { userId } = orderEvents["order.confirmed"].parse(envelope.payload);
        return await basket.clear(userId);
      }
    }
  });
}
