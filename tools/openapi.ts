/**
 * `deno task openapi`: writes each service's OpenAPI document and the merged public one to openapi/.
 * `deno task openapi --check` (and the test beside this file) fails when they are out of date.
 */
import { openApiDocument } from "@multishop/kit/app";
import type { ServiceAppDeps } from "@multishop/kit/app";
import { createLogger } from "@multishop/kit/log";
import { problemContentType, statusTitle } from "@multishop/kit/problem";
import { type Access, findRoute } from "../edge/src/routes.ts";
import { type HomePart, homeParts, type ProductExtra, productExtras } from "../edge/src/storefront.ts";
import { catalogDocument, createCatalogApp } from "../services/catalog/app.ts";
import { basketDocument, createBasketApp } from "../services/basket/app.ts";
import { createDiscountApp, discountDocument } from "../services/discount/app.ts";
import { createIdentityApp, identityDocument } from "../services/identity/app.ts";
import { createInventoryApp, inventoryDocument } from "../services/inventory/app.ts";
import { cargoDocument, createCargoApp } from "../services/cargo/app.ts";
import { commentDocument, createCommentApp } from "../services/comment/app.ts";
import { createDashboardApp, dashboardDocument } from "../services/dashboard/app.ts";
import { createMessageApp, messageDocument } from "../services/message/app.ts";
import { createOrderApp, orderDocument } from "../services/order/app.ts";
import { createPaymentApp, paymentDocument } from "../services/payment/app.ts";
import { createImagesApp, imagesDocument } from "../services/images/app.ts";

type Document = ReturnType<typeof openApiDocument>;
type Components = NonNullable<Document["components"]>;

/** Dependencies that are never called: building routes touches none of them. */
function unused<T>(name: string): T {
  return new Proxy({}, {
    get() {
      throw new Error(`${name} is not available while the OpenAPI document is generated`);
    },
  }) as T;
}

export function serviceDocuments(): Record<string, Document> {
  // What every service's app takes besides its own dependencies.
  const shared: ServiceAppDeps = {
    verifyToken: unused("verifyToken"),
    logger: createLogger("openapi", "silent"),
    bodyLimitBytes: 1,
    readiness: {},
  };
  const identityApp = createIdentityApp({
    identity: unused("identity"),
    store: unused("store"),
    keys: unused("keys"),
    tokens: unused("tokens"),
    ...shared,
  });
  const catalogApp = createCatalogApp({
    catalog: unused("catalog"),
    store: unused("store"),
    ...shared,
    cache: { maxAgeSeconds: 1, sharedMaxAgeSeconds: 1 },
    clock: () => new Date(),
  });
  const imagesApp = createImagesApp({
    store: unused("store"),
    ...shared,
    maxImageBytes: 1,
    publicUrl: "http://127.0.0.1:5003",
  });
  const basketApp = createBasketApp({
    basket: unused("basket"),
    ...shared,
  });
  const discountApp = createDiscountApp({
    discount: unused("discount"),
    store: unused("store"),
    currency: "USD",
    ...shared,
  });
  const inventoryApp = createInventoryApp({
    inventory: unused("inventory"),
    ...shared,
  });
  const paymentApp = createPaymentApp({
    payments: unused("payments"),
    store: unused("store"),
    ...shared,
  });
  const orderApp = createOrderApp({
    orders: unused("orders"),
    ...shared,
  });
  const cargoApp = createCargoApp({
    cargo: unused("cargo"),
    ...shared,
  });
  const commentApp = createCommentApp({
    reviews: unused("reviews"),
    ...shared,
    cache: { maxAgeSeconds: 1, sharedMaxAgeSeconds: 1 },
  });
  const dashboardApp = createDashboardApp({
    dashboard: unused("dashboard"),
    ...shared,
  });
  const messageApp = createMessageApp({
    messages: unused("messages"),
    ...shared,
  });
  return {
    identity: openApiDocument(identityApp, identityDocument),
    catalog: openApiDocument(catalogApp, catalogDocument),
    images: openApiDocument(imagesApp, imagesDocument),
    basket: openApiDocument(basketApp, basketDocument),
    discount: openApiDocument(discountApp, discountDocument),
    inventory: openApiDocument(inventoryApp, inventoryDocument),
    payment: openApiDocument(paymentApp, paymentDocument),
    order: openApiDocument(orderApp, orderDocument),
    cargo: openApiDocument(cargoApp, cargoDocument),
    comment: openApiDocument(commentApp, commentDocument),
    message: openApiDocument(messageApp, messageDocument),
    dashboard: openApiDocument(dashboardApp, dashboardDocument),
  };
}

const schemaRef = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const problem = (description: string, headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { [problemContentType]: { schema: schemaRef("Problem") } },
});
const json = (schema: unknown, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });
const responseRef = (name: string) => ({ $ref: `#/components/responses/${name}` });

/** Answers the edge gives itself: its rate limit, and its stand-ins for a service that fails. */
const edgeResponses = {
  RateLimited: problem(
    "Too Many Requests: the caller's rate limit is spent (per user when signed in, else per address)",
    {
      RateLimit: headerRef("RateLimit"),
      "RateLimit-Policy": headerRef("RateLimit-Policy"),
      "Retry-After": headerRef("Retry-After"),
    },
  ),
  BadGateway: problem("Bad Gateway: the service failed or cannot be reached"),
  Unavailable: problem(
    "Service Unavailable: the service keeps failing, so the edge stopped calling it for a moment " +
      "(circuit breaker), or it said it is unavailable",
    { "Retry-After": headerRef("Retry-After") },
  ),
  GatewayTimeout: problem("Gateway Timeout: the service did not answer in time"),
  Problem: problem("Any other error, as a problem document that names what went wrong"),
};

const edgeHeaders = {
  RateLimit: {
    description: "The quota left and when it refills (IETF draft-ietf-httpapi-ratelimit-headers)",
    schema: { type: "string" },
  },
  "RateLimit-Policy": {
    description: "The quota that applies (IETF draft-ietf-httpapi-ratelimit-headers)",
    schema: { type: "string" },
  },
  "Retry-After": {
    description: "Seconds to wait before trying again",
    schema: { type: "integer", minimum: 0 },
  },
};

/** Every route the edge forwards is rate limited and may meet a failing service. */
const forwardedResponses = {
  429: responseRef("RateLimited"),
  502: responseRef("BadGateway"),
  503: responseRef("Unavailable"),
  504: responseRef("GatewayTimeout"),
};

const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** A service's path as the edge serves it: each operation the edge forwards gains the edge's answers. */
function routedByTheEdge(path: string, item: Record<string, unknown>): boolean {
  const concrete = path.replaceAll(/\{[^}]+\}/g, "x");
  return Object.keys(item).some((key) =>
    methods.includes(key) && "route" in findRoute(concrete, key.toUpperCase())
  );
}

function throughTheEdge(path: string, item: Record<string, unknown>): Record<string, unknown> {
  const concrete = path.replaceAll(/\{[^}]+\}/g, "x");
  return Object.fromEntries(
    Object.entries(item).map(([key, value]) => {
      const forwarded = methods.includes(key) && "route" in findRoute(concrete, key.toUpperCase());
      if (!forwarded) return [key, value];
      const operation = value as { responses?: Record<string, OperationResponse> };
      const own429 = operation.responses?.[429];
      return [key, {
        ...operation,
        responses: {
          ...forwardedResponses,
          ...operation.responses,
          ...(own429 ? { 429: eitherRateLimit(own429) } : {}),
        },
      }];
    }),
  );
}

interface OperationResponse {
  description: string;
  headers?: Record<string, unknown>;
  content?: Record<string, unknown>;
}

/** A service that answers 429 itself (a lockout, a bound on streams) still has the edge's limit in front. */
function eitherRateLimit(own: OperationResponse): OperationResponse {
  const edge = edgeResponses.RateLimited;
  return {
    description: `${own.description}; or the edge's: ${edge.description}`,
    headers: { ...edge.headers, ...own.headers },
    content: { ...edge.content, ...own.content },
  };
}

const nullableList = (schema: string) => ({ type: ["array", "null"], items: schemaRef(schema) });
const nullableRef = (schema: string) => ({ anyOf: [schemaRef(schema), { type: "null" }] });

/** What each part of the home page holds; typed by the edge's own list, so a new part must be described. */
const homePartSchemas: Record<HomePart, unknown> = {
  sliders: nullableList("Slider"),
  specialOffers: nullableList("SpecialOffer"),
  features: nullableList("Feature"),
  offerDiscounts: nullableList("OfferDiscount"),
  categories: { ...nullableList("CategoryTree"), description: "Top-level categories with their children" },
  brands: nullableList("Brand"),
  newestProducts: { ...nullableList("Product"), description: "The 8 newest products" },
};

/** The product page's parts, each as its service describes it. */
const productExtraSchemas: Record<ProductExtra, unknown> = {
  availability: {
    ...nullableRef("Availability"),
    description: "Stock from the inventory service; null when it could not be asked",
  },
  rating: {
    ...nullableRef("Rating"),
    description: "The approved reviews' summary from the comment service; null when it could not be asked",
  },
  reviews: {
    ...nullableList("PublicReview"),
    description: "The 3 newest approved reviews from the comment service; null when it could not be asked",
  },
};

const missingList = (names: string[]) => ({
  type: "array",
  items: { type: "string", enum: names },
  description: "The parts that are null because their service failed",
});

/** The paths the edge answers itself: storefront aggregates, its administration and its documentation. */
function edgeDocument() {
  const homeNames = Object.keys(homeParts);
  const extraNames = productExtras.map((extra) => extra.name);
  const partial = "A part whose service fails is null and named in `missing`, and the page is then " +
    "`Cache-Control: no-store`; a whole page is `public, max-age=30, s-maxage=30, " +
    "stale-while-revalidate=30`. The edge caches whole pages (`x-cache-status`) and, while the catalog " +
    "is failing, answers with the last whole page it kept, marked `STALE`.";
  return {
    paths: {
      "/v1/storefront/home": {
        get: {
          operationId: "getStorefrontHome",
          tags: ["storefront"],
          summary: "The home page in one call",
          description: "Storefront content, top categories, brands and the newest products, fetched from " +
            `the catalog in parallel. ${partial}`,
          responses: {
            200: json(schemaRef("StorefrontHome"), "The home page"),
            429: responseRef("RateLimited"),
            502: problem("Bad Gateway: no part of the page could be fetched, and no stale page was kept"),
          },
        },
      },
      "/v1/storefront/products/{id}": {
        get: {
          operationId: "getStorefrontProduct",
          tags: ["storefront"],
          summary: "A product page in one call",
          description:
            "The product with its category and brand (required: the catalog's 404 is the page's), " +
            `its availability, its rating and its newest reviews. ${partial}`,
          parameters: [{
            name: "id",
            in: "path",
            required: true,
            schema: { type: "string", format: "uuid" },
          }],
          responses: {
            200: json(schemaRef("StorefrontProduct"), "The product page"),
            400: problem(statusTitle(400)),
            404: problem(statusTitle(404)),
            429: responseRef("RateLimited"),
            502: responseRef("BadGateway"),
            503: responseRef("Unavailable"),
            504: responseRef("GatewayTimeout"),
          },
        },
      },
      "/v1/edge/cache/purge": {
        post: {
          operationId: "purgeEdgeCache",
          tags: ["edge"],
          summary: "Empty the edge cache (admin)",
          description:
            "Every cached public answer is dropped at once; the next request for each goes to its service.",
          security: [{ bearerAuth: [] }],
          responses: {
            200: json(schemaRef("CachePurge"), "The cache is purged"),
            401: problem(statusTitle(401)),
            403: problem(statusTitle(403)),
          },
        },
      },
      "/healthz": {
        get: {
          operationId: "getEdgeHealth",
          tags: ["edge"],
          summary: "The edge is up",
          description: "Answers while the edge runs; it asks no service, so it says nothing of theirs.",
          responses: {
            200: json(schemaRef("EdgeHealth"), "It answers"),
          },
        },
      },
      "/openapi.json": {
        get: {
          operationId: "getOpenApiDocument",
          tags: ["edge"],
          summary: "This document",
          description: "The OpenAPI document of the public API, from which clients are generated.",
          responses: {
            200: json(schemaRef("OpenApiDocument"), "The OpenAPI 3.1 document of the public API"),
          },
        },
      },
      "/docs": {
        get: {
          operationId: "getApiReference",
          tags: ["edge"],
          summary: "An interactive reference of this document",
          description: "A page that renders this document for reading and trying the operations.",
          responses: {
            200: { description: "An HTML page", content: { "text/html": { schema: { type: "string" } } } },
          },
        },
      },
      // The path of edge/src/docs.ts's scalarScriptPath (edge/docs_test.ts keeps the two equal).
      "/docs/scalar-1.72.1.js": {
        get: {
          operationId: "getApiReferenceScript",
          tags: ["edge"],
          summary: "The script of the interactive reference",
          description: "The browser build of Scalar API Reference that `/docs` loads, served by the edge " +
            "itself. Its path names its version, so it never changes: `Cache-Control: public, " +
            "max-age=31536000, immutable`.",
          responses: {
            200: {
              description: "JavaScript",
              content: { "text/javascript": { schema: { type: "string" } } },
            },
          },
        },
      },
    },
    schemas: {
      CachePurge: { type: "object", properties: { purged: { type: "boolean" } }, required: ["purged"] },
      EdgeHealth: { type: "object", properties: { status: { const: "ok" } }, required: ["status"] },
      OpenApiDocument: {
        type: "object",
        description: "An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1)",
      },
      StorefrontHome: {
        type: "object",
        properties: { ...homePartSchemas, missing: missingList(homeNames) },
        required: [...homeNames, "missing"],
      },
      StorefrontProduct: {
        type: "object",
        properties: {
          product: schemaRef("Product"),
          ...productExtraSchemas,
          missing: missingList(extraNames),
        },
        required: ["product", ...extraNames, "missing"],
      },
    },
  };
}

/** What each tag groups; generators name a client's classes or modules after the tags. */
const tagDescriptions: Record<string, string> = {
  oauth: "Tokens: sign-in (password grant), client credentials, refresh and revocation (RFC 6749, 7009)",
  accounts: "Registering, the signed-in user's account, and administering users",
  addresses: "The signed-in customer's delivery addresses",
  products: "The catalog's products: search, read, and administer",
  categories: "The category tree",
  brands: "The brands",
  content: "Storefront content: sliders, special offers, features and offer discounts",
  contact: "Contact messages from visitors to the shop",
  images: "Product images: upload, read and delete",
  storefront: "Whole storefront pages in one call, built and cached by the edge",
  basket: "The signed-in customer's basket",
  coupons: "Discount coupons: check and administer",
  inventory: "Stock levels of products",
  payments: "Payments of orders",
  orders: "Placing orders, following them and cancelling them",
  carriers: "Carriers that ship orders",
  shipments: "Shipments of orders and their tracking",
  reviews: "Product reviews and ratings",
  moderation: "Reviewing product reviews before they are shown",
  messages: "Messages between customers and the shop's support",
  dashboard: "Live figures of the shop for its administrators",
  admin: "Administration of the shop",
  internal: "Calls between the shop's services",
  edge: "The edge itself: health, its cache and this documentation",
};

/** How a client may call an operation the edge forwards, in words a generated client's docs can carry. */
function accessNote(access: Access): string | undefined {
  switch (access.kind) {
    case "public":
      return undefined;
    case "user":
      return "Needs a signed-in user's access token.";
    case "role":
      return `Needs an access token with the \`${access.role}\` role.`;
    case "scope":
      return `Needs a client's access token with the \`${access.scope}\` scope.`;
  }
}

/**
 * Every operation says who may call it: `security: []` when anyone may (a document without a top-level
 * requirement otherwise leaves it unsaid), the Bearer token otherwise, with the role or scope the edge
 * requires written in its description; and every one names a problem document as its `default` answer.
 */
function withCallers(path: string, item: Record<string, unknown>, source: string): Record<string, unknown> {
  const concrete = path.replaceAll(/\{[^}]+\}/g, "x");
  return Object.fromEntries(
    Object.entries(item).map(([method, value]) => {
      if (!methods.includes(method)) return [method, value];
      const operation = value as Operation;
      const match = source === "edge" ? undefined : findRoute(concrete, method.toUpperCase());
      const access: Access = match && "route" in match ? match.route.access : { kind: "public" };
      const note = accessNote(access);
      // A service's own document may call an operation open that the edge guards.
      const declared = operation.security?.length ? operation.security : undefined;
      return [method, {
        ...operation,
        ...(note ? { description: [operation.description, note].filter(Boolean).join("\n\n") } : {}),
        security: declared ?? (access.kind === "public" ? [] : [{ bearerAuth: [] }]),
        responses: {
          ...operation.responses,
          default: operation.responses?.default ?? responseRef("Problem"),
        },
      }];
    }),
  );
}

interface Operation {
  description?: string;
  security?: unknown[];
  responses?: Record<string, unknown>;
}

/** The schemas a document reaches from its paths, following references through schemas. */
function reachableSchemas(paths: unknown, schemas: Record<string, unknown>): Set<string> {
  const reached = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref" && typeof value === "string" && value.startsWith("#/components/schemas/")) {
        const name = value.slice("#/components/schemas/".length);
        if (!reached.has(name)) {
          reached.add(name);
          visit(schemas[name]);
        }
      } else {
        visit(value);
      }
    }
  };
  visit(paths);
  visit(edgeResponses);
  return reached;
}

/** The public API as one document: every service's paths as the edge serves them, and the edge's own. */
export function publicDocument(documents: Record<string, Document>): Document {
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  const edge = edgeDocument();
  const sources = [
    ...Object.entries(documents).map(([name, document]) =>
      [name, document.paths ?? {}, document.components?.schemas ?? {}] as const
    ),
    ["edge", edge.paths, edge.schemas] as const,
  ];
  for (const [source, sourcePaths, sourceSchemas] of sources) {
    for (const [path, item] of Object.entries(sourcePaths)) {
      // What the edge does not route (service-to-service calls such as the coupon check) is not public.
      if (source !== "edge" && !routedByTheEdge(path, item as Record<string, unknown>)) continue;
      if (path in paths) throw new Error(`${source} and another service both define ${path}`);
      const forwarded = source === "edge" ? item : throughTheEdge(path, item as Record<string, unknown>);
      paths[path] = withCallers(path, forwarded as Record<string, unknown>, source);
    }
    for (const [name, schema] of Object.entries(sourceSchemas)) {
      if (name in schemas && JSON.stringify(schemas[name]) !== JSON.stringify(schema)) {
        throw new Error(`schema ${name} differs between ${source} and another service; rename one`);
      }
      schemas[name] = schema;
    }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "MultiShop Edge",
      version: "1.0.0",
      description: "The public API of the shop, as clients reach it through the edge. Errors are RFC 9457 " +
        "problem documents. Every route the edge forwards is rate limited (429 with `RateLimit` headers), " +
        "and the edge answers 502, 503 or 504 for a service that fails, keeps failing or is slow.",
    },
    // Relative: the edge that serves this document, wherever it runs (start, compose, Cloudflare).
    servers: [{ url: "/", description: "the edge that serves this document" }],
    tags: usedTags(paths).map((name) => ({ name, description: tagDescriptions[name] })),
    paths: paths as Document["paths"],
    components: {
      // A schema only a service's internal operations use is not part of the public API.
      schemas: Object.fromEntries(
        [...reachableSchemas(paths, schemas)].sort().map((name) => [name, schemas[name]]),
      ) as Components["schemas"],
      responses: edgeResponses as Components["responses"],
      headers: edgeHeaders as Components["headers"],
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    },
  };
}

/** The tags a document's operations use, in the order first used; each must have a description. */
function usedTags(paths: Record<string, unknown>): string[] {
  const tags = new Set<string>();
  for (const item of Object.values(paths)) {
    for (const [method, operation] of Object.entries(item as Record<string, { tags?: string[] }>)) {
      if (methods.includes(method)) operation.tags?.forEach((tag) => tags.add(tag));
    }
  }
  const undescribed = [...tags].filter((tag) => !(tag in tagDescriptions));
  if (undescribed.length > 0) {
    throw new Error(`describe the tags ${undescribed.join(", ")} in tools/openapi.ts`);
  }
  return [...tags];
}

export function allDocuments(): Record<string, string> {
  const documents = serviceDocuments();
  const files: Record<string, string> = {};
  for (const [service, document] of Object.entries(documents)) {
    files[`${service}.json`] = JSON.stringify(document, null, 2) + "\n";
  }
  files["public.json"] = JSON.stringify(publicDocument(documents), null, 2) + "\n";
  return files;
}

export const openapiFolder = new URL("../openapi/", import.meta.url);

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  let stale = 0;
  for (const [name, text] of Object.entries(allDocuments())) {
    const file = new URL(name, openapiFolder);
    const current = await Deno.readTextFile(file).catch(() => "");
    if (current === text) continue;
    if (check) {
      console.error(`openapi/${name} is out of date`);
      stale++;
    } else {
      await Deno.writeTextFile(file, text);
      console.log(`wrote openapi/${name}`);
    }
  }
  if (stale > 0) {
    console.error("run `deno task openapi` and commit the result");
    Deno.exit(1);
  }
  if (!check) console.log("OpenAPI documents are up to date in openapi/");
}
