/** What the basket consumes: catalog changes to the products it holds, and confirmed orders. */
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
    // Each handling sets values rather than adding to them, so a message delivered twice is harmless.
    switch (envelope.type) {
      case "catalog.product.price_changed": {
        const { productId, newPrice } = catalogEvents["catalog.product.price_changed"].parse(
          envelope.payload,
        );
        return await basket.refreshProduct({ productId, unitPrice: newPrice });
      }
      case "catalog.product.updated": {
        const product = catalogEvents["catalog.product.updated"].parse(envelope.payload);
        return await basket.refreshProduct({
          productId: product.productId,
          name: product.name,
          unitPrice: product.price,
          image: product.image,
          available: product.status === "active",
        });
      }
      case "catalog.product.deleted": {
        const { productId } = catalogEvents["catalog.product.deleted"].parse(envelope.payload);
        return await basket.refreshProduct({ productId, available: false });
      }
      case "order.confirmed": {
        const { userId } = orderEvents["order.confirmed"].parse(envelope.payload);
        return await basket.clear(userId);
      }
    }
  });
}
