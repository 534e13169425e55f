/** Demo data: stock for the demo catalog's products, varied like a real shop's and the same on every run. */
import type { CatalogStatus } from "./domain.ts";
import type { InventoryStore } from "./store/postgres.ts";

/**
 * The demo count on hand for a product, from its id alone: about one product in fourteen is sold
 * out, one in seven is down to its last few units, the rest have 10 to 200.
 */
export function demoOnHand(productId: string): number {
  const hash = fnv1a(productId);
  const bucket = hash % 100;
  if (bucket < 7) return 0;
  if (bucket < 21) return 1 + (hash >>> 8) % 5;
  return 10 + (hash >>> 8) % 191;
}

/** FNV-1a, 32 bits: a well-spread hash of a string, enough to vary demo data deterministically. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash >>> 0;
}

/**
 * Gives each product without a stock record its demo count, and returns how many it created; products
 * that have a record, whatever its count, stay as they are. The products' statuses come along, since
 * the demo catalog is written without publishing events: its drafts must not show publicly.
 */
export async function seedStock(
  store: InventoryStore,
  products: readonly { id: string; status: CatalogStatus }[],
): Promise<number> {
  return await store.addMissing(
    products.map((product) => ({
      productId: product.id,
      onHand: demoOnHand(product.id),
      catalogStatus: product.status,
    })),
  );
}
