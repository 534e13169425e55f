/**
 * Storefront aggregates (what Ocelot calls aggregates): one call at the edge answers a whole page by
 * calling the services in parallel. A part the page can do without is left out when its service fails
 * (it is null and `missing` names it), so one broken service does not take the page down with it.
 *
 * A page is a public read like any other: it is cached whole (cache.ts), its parts are fetched through
 * the same cache as the forwarded routes, and a stale copy, marked STALE, answers while the catalog is
 * failing, rather than a 502.
 */
import { ProblemError, type ProblemInit, problemResponse } from "@multishop/kit/problem";
import type { Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { EdgeEnv } from "./app.ts";
import { cacheContextFor, cachedFetch, isPersonal } from "./cache.ts";
import { type UpstreamName, upstreamUrl } from "./config.ts";
import { downstreamResponse } from "./proxy.ts";
import { callUpstream, configuredPolicy } from "./resilience.ts";
import { findRoute, type Route } from "./routes.ts";

type EdgeContext = Context<EdgeEnv>;

/** The parts of the home page, each one catalog list (`{items}`), fetched side by side. */
export const homeParts = {
  sliders: "/v1/content/sliders",
  specialOffers: "/v1/content/special-offers",
  features: "/v1/content/features",
  offerDiscounts: "/v1/content/offer-discounts",
  categories: "/v1/categories",
  brands: "/v1/brands",
  newestProducts: "/v1/products?sort=newest&limit=8",
} as const;

export type HomePart = keyof typeof homeParts;

/** Where an optional part of the product page comes from. */
interface PartSource {
  upstream: UpstreamName;
  path: string;
  /** The part of the answer the page shows; the whole answer when left out. */
  pick?: (body: unknown) => unknown;
}

export type ProductExtra = "availability" | "rating" | "reviews";

/**
 * The product page's optional parts, each from the service that owns it: stock from the inventory,
 * the rating summary and the newest approved reviews from the comment service.
 */
export const productExtras: {
  name: ProductExtra;
  source: (productId: string) => PartSource;
}[] = [
  {
    name: "availability",
    source: (productId) => ({
      upstream: "inventory",
      path: `/v1/inventory?productIds=${encodeURIComponent(productId)}`,
      pick: (body) => availabilityAnswer.parse(body).items[0],
    }),
  },
  {
    name: "rating",
    source: (productId) => ({
      upstream: "comment",
      path: `/v1/products/${encodeURIComponent(productId)}/rating`,
      pick: (body) => ratingAnswer.parse(body),
    }),
  },
  {
    name: "reviews",
    source: (productId) => ({
      upstream: "comment",
      path: `/v1/products/${encodeURIComponent(productId)}/reviews?sort=newest&limit=${reviewsOnProductPage}`,
      pick: (body) => list.parse(body).items,
    }),
  },
];

/** The newest approved reviews a product page shows; the rest are a click (and a paged list) away. */
const reviewsOnProductPage = 3;

/** The Cache-Control of a whole page, for browsers and shared caches (the edge's own included). */
function aggregateCacheControl(c: EdgeContext): string {
  const { STOREFRONT_MAX_AGE_SECONDS: maxAge, STOREFRONT_STALE_WHILE_REVALIDATE_SECONDS: revalidate } = c.get(
    "config",
  );
  return `public, max-age=${maxAge}, s-maxage=${maxAge}, stale-while-revalidate=${revalidate}`;
}

/**
 * How the edge calls an upstream for a part. The timeout is shorter than a proxied call's: a page
 * waits for its slowest part, and a part that is late is better left out.
 */
function partRoute(upstream: UpstreamName): Route {
  return {
    prefix: "/v1/storefront",
    methods: ["GET"],
    upstream,
    access: { kind: "public" },
    cache: false,
    rateLimit: "default",
    timeoutMs: 3_000,
    retry: true,
  };
}

/** A GET to an upstream with the edge's request id and trace context, through retries and the breaker. */
function get(c: EdgeContext, upstream: UpstreamName, path: string): Promise<Response> {
  const config = c.get("config");
  return callUpstream({
    upstream,
    route: partRoute(upstream),
    request: new Request(`${upstreamUrl(config, upstream)}${path}`, {
      headers: {
        accept: "application/json",
        "x-request-id": c.get("requestId"),
        traceparent: c.get("traceparent"),
      },
    }),
    // The policy the forwarded routes use (app.ts): an upstream's breaker keeps the policy of the first
    // call in the isolate, which may well be an aggregate's.
    policy: configuredPolicy(config),
  });
}

/**
 * A part's answer (a server error thrown as the proxy throws it), through the edge cache when the
 * route that forwards its path is cached: a part that a client or another page fetched is not fetched
 * again, and a burst of pages shares one call per part. A part is never served stale for a failing
 * service: the page would be kept as fresh; the whole stale page answers instead.
 */
async function getPart(c: EdgeContext, upstream: UpstreamName, path: string): Promise<Response> {
  const load = async () => downstreamResponse(await get(c, upstream, path), upstream, c.get("requestId"));
  const partUrl = new URL(path, c.req.url);
  const match = findRoute(partUrl.pathname, "GET");
  if (!("route" in match) || !match.route.cache) return await load();
  const context = cacheContextFor(c);
  // The part requests carry no credentials, but a personal request touches no cache at all.
  context.enabled = context.enabled !== false && !isPersonal(c.req.raw);
  context.staleIfError = false;
  return await cachedFetch(new Request(partUrl), context, load);
}

/** The JSON body of a successful answer; anything else is a failure of the part. */
async function getJson(c: EdgeContext, upstream: UpstreamName, path: string): Promise<unknown> {
  const response = await getPart(c, upstream, path);
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`${upstream} answered ${response.status} to ${path}`);
  }
  return await response.json();
}

const list = z.object({ items: z.array(z.unknown()) });
const ratingAnswer = z.object({
  average: z.number().nullable(),
  count: z.number().int(),
  distribution: z.record(z.string(), z.number().int()),
});
const availabilityAnswer = z.object({
  items: z.tuple([z.object({ productId: z.string(), available: z.number().int(), inStock: z.boolean() })]),
});

async function getItems(c: EdgeContext, path: string): Promise<unknown[]> {
  const parsed = list.safeParse(await getJson(c, "catalog", path));
  if (!parsed.success) throw new Error(`catalog answered ${path} without an items list`);
  return parsed.data.items;
}

interface Gathered<K extends string> {
  values: Record<K, unknown>;
  /** Parts that are null because their service failed. */
  missing: K[];
}

/**
 * Fetches the parts in parallel and never throws: a part whose fetch fails is null and named in
 * `missing`. Failures are logged with the request id, since the client only sees that a part is missing.
 */
async function gather<K extends string>(
  c: EdgeContext,
  parts: [K, () => Promise<unknown>][],
): Promise<Gathered<K>> {
  const results = await Promise.allSettled(parts.map(([, fetchPart]) => fetchPart()));
  const gathered: Gathered<K> = { values: {} as Record<K, unknown>, missing: [] };
  parts.forEach(([name], index) => {
    const result = results[index];
    if (result.status === "fulfilled") {
      gathered.values[name] = result.value;
      return;
    }
    gathered.values[name] = null;
    gathered.missing.push(name);
    console.warn(JSON.stringify({
      message: "storefront part missing",
      requestId: c.get("requestId"),
      part: name,
      reason: result.reason instanceof Error ? result.reason.message : String(result.reason),
    }));
  });
  return gathered;
}

/**
 * A whole page is cached as aggregates are; a page with a part missing is not, so that it is whole
 * again as soon as the failed service is.
 */
function cacheControl(c: EdgeContext, gathered: Gathered<string>): string {
  return gathered.missing.length > 0 ? "no-store" : aggregateCacheControl(c);
}

const upstreamProblem = z.object({
  type: z.string().optional(),
  detail: z.string().optional(),
  errors: z.array(z.object({ field: z.string(), reason: z.string() })).optional(),
});

/** An upstream's client error as the edge's own problem document, keeping its kind, detail and fields. */
async function passOn(response: Response): Promise<ProblemError> {
  const parsed = upstreamProblem.safeParse(await response.json().catch(() => undefined));
  const problem = parsed.success ? parsed.data : {};
  return new ProblemError({
    status: response.status as ContentfulStatusCode,
    kind: problem.type?.match(/^urn:multishop:problem:(.+)$/)?.[1],
    detail: problem.detail,
    errors: problem.errors,
  });
}

/**
 * The product is the page: its client errors are the page's, and its server errors are told as the
 * proxy tells them (502, or the upstream's 503 or 504).
 */
async function getProduct(c: EdgeContext, id: string): Promise<unknown> {
  const response = await getPart(c, "catalog", `/v1/products/${id}`);
  if (!response.ok) throw await passOn(response);
  return await response.json();
}

const productId = z.uuid();

const readOnly: ProblemInit = {
  status: 405,
  detail: "storefront aggregates are read-only; use GET",
  headers: { allow: "GET, HEAD" },
};

/** The home page, built from its parts; 502 when none could be fetched. */
async function homePage(c: EdgeContext): Promise<Response> {
  const gathered = await gather(
    c,
    (Object.keys(homeParts) as HomePart[]).map((name) => [name, () => getItems(c, homeParts[name])]),
  );
  if (gathered.missing.length === Object.keys(homeParts).length) {
    throw new ProblemError({
      status: 502,
      kind: "upstream-failure",
      detail: "the catalog service could not answer; try again shortly",
    });
  }
  return Response.json({ ...gathered.values, missing: gathered.missing }, {
    headers: { "cache-control": cacheControl(c, gathered) },
  });
}

/** A product page: the product (its errors are the page's) and the extras it can do without. */
async function productPage(c: EdgeContext, id: string): Promise<Response> {
  const [product, extras] = await Promise.all([
    getProduct(c, id),
    gather(
      c,
      productExtras.map(({ name, source }) => {
        const from = source(id);
        return [name, async () => {
          const body = await getJson(c, from.upstream, from.path);
          return from.pick ? from.pick(body) : body;
        }];
      }),
    ),
  ]);
  return Response.json({ product, ...extras.values, missing: extras.missing }, {
    headers: { "cache-control": cacheControl(c, extras) },
  });
}

/**
 * The request a page is cached by: its path alone, as the pages take no query, so that a made-up
 * query cannot send each request past the cache to the services.
 */
function pageRequest(request: Request): Request {
  const url = new URL(request.url);
  url.search = "";
  return new Request(url, { method: request.method, headers: request.headers });
}

export function registerStorefront(app: Hono<EdgeEnv>): void {
  app.get(
    "/v1/storefront/home",
    (c) => cachedFetch(pageRequest(c.req.raw), cacheContextFor(c), () => homePage(c)),
  );

  app.get("/v1/storefront/products/:id", (c) => {
    const id = c.req.param("id");
    // Checked here, so that a bad id costs no upstream call and only an id reaches the catalog's path.
    if (!productId.safeParse(id).success) {
      throw new ProblemError({
        status: 400,
        kind: "validation",
        title: "Invalid request",
        detail: "one or more fields are invalid",
        errors: [{ field: "path.id", reason: "must be an id" }],
      });
    }
    return cachedFetch(pageRequest(c.req.raw), cacheContextFor(c), () => productPage(c, id));
  });

  for (const path of ["/v1/storefront/home", "/v1/storefront/products/:id"]) {
    app.all(path, (c) => problemResponse(c, readOnly));
  }
}
