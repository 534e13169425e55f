/** The edge Worker: the Hono app and the Durable Object classes it binds to. */
import { createEdgeApp } from "./app.ts";

export { CacheGeneration } from "./cache.ts";
export { RateLimiter } from "./ratelimit.ts";

export default createEdgeApp();
