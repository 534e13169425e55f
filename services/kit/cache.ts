/**
 * Public GETs that the edge and browsers may cache: an ETag (and 304 on a matching If-None-Match)
 * and a Cache-Control header. A response made for a signed-in caller is never stored by a shared cache.
 */
import { etag } from "hono/etag";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./app.ts";

export function publicCache(options: { maxAgeSeconds: number; sharedMaxAgeSeconds: number }) {
  const tagged = etag();
  const policy = `public, max-age=${options.maxAgeSeconds}, s-maxage=${options.sharedMaxAgeSeconds}`;
  return createMiddleware<AppEnv>(async (c, next) => {
    await tagged(c, next);
    if (c.res.status !== 200 && c.res.status !== 304) return;
    c.header("cache-control", c.get("principal") ? "private, no-store" : policy);
    c.header("vary", "Authorization", { append: true });
  });
}
