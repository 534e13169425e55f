/**
 * The dashboard's reads of the services that own its figures, with its client token (the
 * `stats:read` scope) from the kit's service client. Every answer is checked against what the
 * dashboard takes from it; anything else counts as the source being unavailable.
 */
import { z } from "zod";
import { orderCounts } from "@multishop/kit/contracts/orders";
import { type ServiceClient, ServiceUnavailableError } from "@multishop/kit/service-client";
import type { Source, SourceFigures } from "./domain.ts";

/** Reads one source's figures; throws when the source cannot give them. */
export type FigureSources = { [S in Source]: () => Promise<SourceFigures[S]> };

export type SourceUrls = Record<Source, string>;

const count = z.number().int().nonnegative();

const userCount = z.object({ count });
const catalogStats = z.object({ products: count, categories: count, brands: count });
const reviewStats = z.object({ pending: count });
const messageStats = z.object({ unreadSupport: count });

export const statsPaths: Record<Source, string> = {
  identity: "/v1/users/count",
  catalog: "/v1/catalog/stats",
  order: "/v1/orders/stats",
  comment: "/v1/reviews/stats",
  message: "/v1/messages/stats",
};

export function figureSources(service: ServiceClient, urls: SourceUrls): FigureSources {
  async function read<T>(source: Source, schema: z.ZodType<T>): Promise<T> {
    const response = await service.request(`${urls[source]}${statsPaths[source]}`);
    if (!response.ok) {
      await response.body?.cancel();
      throw new ServiceUnavailableError(source, `${statsPaths[source]} answered ${response.status}`);
    }
    const parsed = schema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) {
      throw new ServiceUnavailableError(
        source,
        `${statsPaths[source]} answered an unexpected document: ${z.prettifyError(parsed.error)}`,
      );
    }
    return parsed.data;
  }

  return {
    identity: async () => ({ users: (await read("identity", userCount)).count }),
    catalog: () => read("catalog", catalogStats),
    order: async () => ({ orders: await read("order", orderCounts) }),
    comment: async () => ({ pendingReviews: (await read("comment", reviewStats)).pending }),
    message: async () => ({ unreadSupportMessages: (await read("message", messageStats)).unreadSupport }),
  };
}
