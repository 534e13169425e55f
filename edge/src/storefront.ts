/**
 * Storefront aggregates (what Ocelot calls aggregates): one call at the edge answers a whole page by
 * calling the services in parallel. A part the page can do without is left out when its service fails
 * (it is null and `missing` names it), so one broken service does not take the page down with it.
 */
import { ProblemError, type ProblemInit, problemResponse } from "@multishop/kit/problem";
import type { Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { EdgeEnv } from "./app.ts";
import { type UpstreamName, upstreamUrl } from "./config.ts";
import { downstreamResponse } from "./proxy.ts";
import { callUpstream, configuredPolicy } from "./resilience.ts";
import type { Route } from "./routes.ts";

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

/** Aggregates are public and cacheable by browsers and shared caches, but briefly: they mix sources. */
const aggregateCacheControl = "public, max-age=30, s-maxage=60";

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

/** The JSON body of a successful answer; anything else is a failure of the part. */
async function getJson(c: EdgeContext, upstream: UpstreamName, path: string): Promise<unknown> {
  const response = await get(c, upstream, path);
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
function cacheControl(gathered: Gathered<string>): string {
  return gathered.missing.length > 0 ? "no-store" : aggregateCacheControl;
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
  const response = downstreamResponse(
    await get(c, "catalog", `/v1/products/${id}`),
    "catalog",
    c.get("requestId"),
  );
  if (!response.ok) throw await passOn(response);
  return await response.json();
}

const productId = z.uuid();

const readOnly: ProblemInit = {
  status: 405,
  detail: "storefront aggregates are read-only; use GET",
  headers: { allow: "GET, HEAD" },
};

export function registerStorefront(app: Hono<EdgeEnv>): void {
  app.get("/v1/storefront/home", async (c) => {
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
    c.header("cache-control", cacheControl(gathered));
    return c.json({ ...gathered.values, missing: gathered.missing });
  });

  app.get("/v1/storefront/products/:id", async (c) => {
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
    c.header("cache-control", cacheControl(extras));
    return c.json({ product, ...extras.values, missing: extras.missing });
  });

  for (const path of ["/v1/storefront/home", "/v1/storefront/products/:id"]) {
    app.all(path, (c) => problemResponse(c, readOnly));
  }
}
