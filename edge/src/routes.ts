/**
 * The route table: which upstream serves a path, who may call it, and how the edge treats it. The
 * first entry whose prefix and method match wins, so specific entries come before general ones.
 */
import type { UpstreamName } from "./config.ts";

export type Access =
  | { kind: "public" }
  | { kind: "user" }
  | { kind: "role"; role: "admin" | "customer" }
  | { kind: "scope"; scope: string };

export interface Route {
  /**
   * Matches the path itself and anything below it (`/v1/products` matches `/v1/products/42`); a `*`
   * segment stands for any one segment, as in the reviews' entries below.
   */
  prefix: string;
  /** Only the path itself: public write endpoints must not lend their access to paths below them. */
  exact?: boolean;
  /** Methods this entry covers; all when left out. */
  methods?: string[];
  upstream: UpstreamName;
  access: Access;
  /** Public GETs are cached at the edge as the upstream's Cache-Control allows. */
  cache: boolean;
  /** A policy name from the RATE_LIMITS configuration. */
  rateLimit: string;
  timeoutMs: number;
  /** Idempotent methods (and POSTs with an Idempotency-Key) are retried on transient failures. */
  retry: boolean;
}

const publicAccess: Access = { kind: "public" };
const admin: Access = { kind: "role", role: "admin" };
const user: Access = { kind: "user" };
const reads = ["GET", "HEAD"];
const writes = ["POST", "PUT", "PATCH", "DELETE"];

const base = { cache: false, rateLimit: "default", timeoutMs: 10_000, retry: true } as const;

/** Public reads of a collection, cached; writes by admins. */
function catalogCollection(prefix: string, upstream: UpstreamName = "catalog"): Route[] {
  return [
    { ...base, prefix, methods: reads, upstream, access: publicAccess, cache: true },
    { ...base, prefix, methods: writes, upstream, access: admin },
  ];
}

/**
 * Sign-in, sign-out and sign-up: brute-force protection by the strict policy, per client address,
 * and never retried (a password is not sent twice).
 */
function signInEndpoint(prefix: string): Route {
  return {
    ...base,
    prefix,
    exact: true,
    methods: ["POST"],
    upstream: "identity",
    access: publicAccess,
    rateLimit: "login",
    retry: false,
  };
}

export const routes: Route[] = [
  ...["/oauth/token", "/oauth/revoke", "/v1/auth/register"].map(signInEndpoint),
  {
    ...base,
    prefix: "/.well-known",
    methods: reads,
    upstream: "identity",
    access: publicAccess,
    cache: true,
  },
  { ...base, prefix: "/v1/users/me", methods: reads, upstream: "identity", access: user },
  { ...base, prefix: "/v1/users", upstream: "identity", access: admin },
  { ...base, prefix: "/v1/signing-keys", upstream: "identity", access: admin },
  // Reviews live in the comment service, under the product they are about.
  { ...base, prefix: "/v1/products/*/reviews", methods: reads, upstream: "comment", access: publicAccess },
  { ...base, prefix: "/v1/products/*/reviews", methods: ["POST"], upstream: "comment", access: user },
  {
    ...base,
    prefix: "/v1/products/*/rating",
    methods: reads,
    upstream: "comment",
    access: publicAccess,
    cache: true,
  },
  ...catalogCollection("/v1/products"),
  ...catalogCollection("/v1/categories"),
  ...catalogCollection("/v1/brands"),
  ...catalogCollection("/v1/content"),
  {
    ...base,
    prefix: "/v1/contact",
    exact: true,
    methods: ["POST"],
    upstream: "catalog",
    access: publicAccess,
    rateLimit: "contact",
    retry: false,
  },
  { ...base, prefix: "/v1/contact", upstream: "catalog", access: admin },
  { ...base, prefix: "/v1/catalog/stats", methods: reads, upstream: "catalog", access: admin },
  { ...base, prefix: "/v1/basket", upstream: "basket", access: user },
  { ...base, prefix: "/v1/coupons", upstream: "discount", access: admin },
  // Availability changes with every order, so it is not cached at the edge.
  {
    ...base,
    prefix: "/v1/inventory",
    exact: true,
    methods: reads,
    upstream: "inventory",
    access: publicAccess,
  },
  { ...base, prefix: "/v1/inventory", upstream: "inventory", access: admin },
  { ...base, prefix: "/v1/payments", methods: reads, upstream: "payment", access: admin },
  { ...base, prefix: "/v1/addresses", upstream: "order", access: user },
  // Placing an order carries an Idempotency-Key, so even its POST may be retried; the service answers
  // a repeat with the same order. Status streams (server-sent events) pass through as they come.
  { ...base, prefix: "/v1/orders", upstream: "order", access: user },
  ...catalogCollection("/v1/images", "images").map((route) => ({ ...route, timeoutMs: 30_000 })),
  // A customer's own reviews; moderation and the figures are admins'.
  { ...base, prefix: "/v1/reviews/mine", methods: reads, upstream: "comment", access: user },
  { ...base, prefix: "/v1/reviews/stats", upstream: "comment", access: admin },
  {
    ...base,
    prefix: "/v1/reviews/*",
    exact: true,
    methods: [...reads, "DELETE"],
    upstream: "comment",
    access: user,
  },
  { ...base, prefix: "/v1/reviews", upstream: "comment", access: admin },
  { ...base, prefix: "/v1/carriers", upstream: "cargo", access: admin },
  { ...base, prefix: "/v1/shipments/by-order", methods: reads, upstream: "cargo", access: user },
  { ...base, prefix: "/v1/shipments", exact: true, upstream: "cargo", access: admin },
  // Tracking by code is public (it shows no personal data); recording tracking events is admins'.
  {
    ...base,
    prefix: "/v1/shipments/*",
    exact: true,
    methods: reads,
    upstream: "cargo",
    access: publicAccess,
  },
  { ...base, prefix: "/v1/shipments", upstream: "cargo", access: admin },
  // Live figures: the event stream passes through as it comes, like an order's.
  { ...base, prefix: "/v1/admin/dashboard", methods: reads, upstream: "dashboard", access: admin },
  { ...base, prefix: "/v1/messages/stats", upstream: "message", access: admin },
  { ...base, prefix: "/v1/messages", upstream: "message", access: user },
];

/** Whether `path` is `prefix` or below it; `exact`: only `prefix` itself. A `*` segment matches any one. */
function matchesPrefix(given: string[], wanted: string[], exact = false): boolean {
  if (given.length < wanted.length || (exact && given.length !== wanted.length)) return false;
  return wanted.every((segment, i) => segment === "*" ? given[i] !== "" : segment === given[i]);
}

/** Every route's prefix, split once: the table is asked on every request. */
const prefixSegments = new Map(routes.map((route) => [route, route.prefix.split("/")]));

/**
 * The entry for a request, or the methods the path allows when none covers its method. A path with an
 * empty segment (`/v1/products/`, `/v1//products`) matches none: no resource has such a path, and
 * forwarding it would make a second URL, and a second cache entry, for the one without the slash.
 */
export function findRoute(path: string, method: string): { route: Route } | { allowed: string[] } {
  const allowed = new Set<string>();
  const segments = path.split("/");
  if (segments.slice(1).includes("")) return { allowed: [] };
  for (const route of routes) {
    if (!matchesPrefix(segments, prefixSegments.get(route)!, route.exact)) continue;
    if (!route.methods || route.methods.includes(method)) return { route };
    for (const m of route.methods) allowed.add(m);
  }
  return { allowed: [...allowed] };
}
