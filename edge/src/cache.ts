/** The edge cache for public GETs (Cache API), keyed so that no private response is served to anyone. */
import type { DurableObjectNamespace, DurableObjectState, ExecutionContext } from "./platform.ts";

export const cacheStatusHeader = "x-cache-status";

export async function cachedFetch(
  _request: Request,
  _context: { ctx: ExecutionContext; generations: DurableObjectNamespace },
  load: () => Promise<Response>,
): Promise<Response> {
  const response = await load();
  const headers = new Headers(response.headers);
  headers.set(cacheStatusHeader, "BYPASS");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** Drops every cached entry by moving to a new cache generation. */
export function purgeCache(_generations: DurableObjectNamespace): Promise<{ purged: boolean }> {
  return Promise.resolve({ purged: false });
}

export class CacheGeneration {
  constructor(readonly state: DurableObjectState) {}
  fetch(_request: Request): Response {
    return new Response(null, { status: 501 });
  }
}
