/** Storefront aggregates: one call at the edge, several upstream calls in parallel. */
import type { Hono } from "hono";
import type { EdgeEnv } from "./app.ts";

export function registerStorefront(_app: Hono<EdgeEnv>): void {}
