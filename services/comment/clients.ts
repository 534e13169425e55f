/**
 * The comment service's view of the catalog: whether a product is on sale, asked when a review is
 * written. It asks the catalog's public product endpoint, anonymously: that endpoint shows active
 * products only and needs no token, so identity is not one more service a review depends on.
 */
import { z } from "zod";
import { type PublicClient, ServiceUnavailableError } from "@multishop/kit/service-client";

export interface Catalog {
  /**
   * Whether the product exists and is sold (active; drafts and archived products are not). Throws
   * ServiceUnavailableError when the catalog cannot say.
   */
  isOnSale(productId: string): Promise<boolean>;
}

const catalogProduct = z.object({ status: z.enum(["draft", "active", "archived"]) });

export function catalogClient(client: PublicClient, baseUrl: string): Catalog {
  return {
    async isOnSale(productId) {
      const response = await client.request(`${baseUrl}/v1/products/${encodeURIComponent(productId)}`);
      // 400: an id the catalog would never have made.
      if (response.status === 404 || response.status === 400) {
        await response.body?.cancel();
        return false;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new ServiceUnavailableError("catalog", `answered ${response.status}`);
      }
      const product = catalogProduct.safeParse(await response.json().catch(() => undefined));
      if (!product.success) throw new ServiceUnavailableError("catalog", "answered something not a product");
      return product.data.status === "active";
    },
  };
}
