/** The basket's view of the catalog and the discount service, through the kit's service client. */
import { z } from "zod";
import { money } from "@multishop/kit/contracts/money";
import {
  couponValidationPath,
  type CouponValidationResult,
  couponValidationResult,
} from "@multishop/kit/contracts/discount";
import { type ServiceClient, ServiceUnavailableError } from "@multishop/kit/service-client";
import type { ProductSnapshot } from "./domain.ts";
import type { Money } from "@multishop/kit/contracts/money";

const catalogProduct = z.object({
  id: z.string(),
  name: z.string(),
  price: money,
  images: z.array(z.object({ url: z.string() })),
  status: z.enum(["draft", "active", "archived"]),
  updatedAt: z.string(),
});

export interface Catalog {
  /** The product as sold now, or undefined when it is unknown or not on sale. */
  product(productId: string): Promise<ProductSnapshot | undefined>;
}

export interface Discounts {
  validate(code: string, userId: string, subtotal: Money): Promise<CouponValidationResult>;
}

export function catalogClient(service: ServiceClient, baseUrl: string): Catalog {
  return {
    async product(productId) {
      const response = await service.request(`${baseUrl}/v1/products/${encodeURIComponent(productId)}`);
      if (response.status === 404 || response.status === 400) {
        await response.body?.cancel();
        return undefined;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new ServiceUnavailableError("catalog", `answered ${response.status}`);
      }
      const product = catalogProduct.parse(await response.json());
      return {
        productId: product.id,
        name: product.name,
        unitPrice: product.price,
        image: product.images[0]?.url ?? null,
        available: product.status === "active",
        catalogAsOf: product.updatedAt,
      };
    },
  };
}

export function discountClient(service: ServiceClient, baseUrl: string): Discounts {
  return {
    async validate(code, userId, subtotal) {
      const response = await service.request(`${baseUrl}${couponValidationPath}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code, userId, subtotal }),
        // Checking a coupon changes nothing, so it may be retried like a read.
        idempotent: true,
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new ServiceUnavailableError("discount", `answered ${response.status}`);
      }
      return couponValidationResult.parse(await response.json());
    },
  };
}
