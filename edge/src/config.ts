/**
 * The edge's configuration: Worker variables (wrangler.jsonc `vars`, overridable per environment),
 * validated once per isolate. Limits and upstreams are configuration, not code.
 */
import { z } from "zod";
import type { DurableObjectNamespace } from "./platform.ts";

export interface EdgeBindings {
  RATE_LIMITER: DurableObjectNamespace;
  CACHE_GENERATION: DurableObjectNamespace;
  [variable: string]: unknown;
}

const bucket = z.strictObject({
  capacity: z.number().int().positive(),
  refillPerSecond: z.number().positive(),
});
export type BucketPolicy = z.infer<typeof bucket>;

const rateLimitPolicies = z.record(z.string(), bucket).refine((policies) => "default" in policies, {
  message: "needs a default policy",
});

/**
 * `login` and `contact` are counted in their bucket's object on every request; the others are leased to
 * isolates in batches (ratelimit.ts). A policy a route names that is missing here gets `default`'s numbers.
 */
const defaultRateLimits = {
  default: { capacity: 120, refillPerSecond: 2 },
  authenticated: { capacity: 240, refillPerSecond: 4 },
  login: { capacity: 10, refillPerSecond: 10 / 60 },
  contact: { capacity: 5, refillPerSecond: 5 / 3600 },
};

const url = z.url({ protocol: /^https?$/ }).transform((value) => value.replace(/\/$/, ""));
const list = z.string().transform((value) => value.split(",").map((item) => item.trim()).filter(Boolean));
const json = <T extends z.ZodType>(schema: T) =>
  z.string().transform((text, ctx) => {
    try {
      return JSON.parse(text);
    } catch {
      ctx.addIssue({ code: "custom", message: "must be JSON" });
      return z.NEVER;
    }
  }).pipe(schema);

/** The Worker's variables as they are set; edgeConfigSchema fills in what derives from them. */
export const edgeVariables = z.object({
  IDENTITY_URL: url.default("http://127.0.0.1:5001"),
  CATALOG_URL: url.default("http://127.0.0.1:5002"),
  IMAGES_URL: url.default("http://127.0.0.1:5003"),
  BASKET_URL: url.default("http://127.0.0.1:5004"),
  DISCOUNT_URL: url.default("http://127.0.0.1:5005"),
  INVENTORY_URL: url.default("http://127.0.0.1:5006"),
  PAYMENT_URL: url.default("http://127.0.0.1:5008"),
  ORDER_URL: url.default("http://127.0.0.1:5007"),
  CARGO_URL: url.default("http://127.0.0.1:5009"),
  COMMENT_URL: url.default("http://127.0.0.1:5010"),
  MESSAGE_URL: url.default("http://127.0.0.1:5011"),
  DASHBOARD_URL: url.default("http://127.0.0.1:5012"),
  /** Where identity publishes its keys; by default on IDENTITY_URL. */
  JWKS_URL: url.optional(),
  TOKEN_ISSUER: z.string().min(1).default("http://127.0.0.1:8787"),
  TOKEN_AUDIENCE: z.string().min(1).default("multishop"),
  CORS_ORIGINS: list.default(["http://localhost:3000", "http://localhost:5173"]),
  RATE_LIMITS: json(rateLimitPolicies).default(defaultRateLimits),
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(6 * 1024 * 1024),
  /** "false" turns the edge cache off (every public GET goes upstream), as the benchmark needs. */
  CACHE_ENABLED: z.enum(["true", "false"]).default("true").transform((value) => value === "true"),
  /** The cache's tuning (cache.ts says what each is for). */
  CACHE_MEMORY_BYTES: z.coerce.number().int().nonnegative().default(16 * 1024 * 1024),
  CACHE_MEMORY_ENTRY_BYTES: z.coerce.number().int().nonnegative().default(1024 * 1024),
  CACHE_GENERATION_TTL_MS: z.coerce.number().int().nonnegative().default(5_000),
  CACHE_STALE_IF_ERROR_SECONDS: z.coerce.number().int().nonnegative().default(300),
  /**
   * How long a whole storefront page stays fresh, and then may be served while it is rebuilt in the
   * background. Briefly: a page mixes sources, each with its own lifetime.
   */
  STOREFRONT_MAX_AGE_SECONDS: z.coerce.number().int().nonnegative().default(30),
  STOREFRONT_STALE_WHILE_REVALIDATE_SECONDS: z.coerce.number().int().nonnegative().default(30),
  /** Resilience tuning; left out, resilience.ts's defaults hold (5 failures, 10 s, the route's timeout). */
  BREAKER_FAILURES: z.coerce.number().int().positive().optional(),
  BREAKER_COOLDOWN_MS: z.coerce.number().int().positive().optional(),
  /** The longest any attempt waits for an upstream's answer, whatever its route says. */
  UPSTREAM_TIMEOUT_CAP_MS: z.coerce.number().int().positive().optional(),
  /**
   * Self-hosted behind a proxy of the operator's: the request header that proxy overwrites with the
   * client's address (e.g. X-Real-IP). Left out, the client is the connection's address (which
   * workerd gives in request.cf, and Cloudflare in CF-Connecting-IP). Never name a header the proxy
   * passes through from clients.
   */
  TRUSTED_CLIENT_IP_HEADER: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be a header name")
    .transform((name) => name.toLowerCase()).optional(),
});

export const edgeConfigSchema = edgeVariables.transform((config) => ({
  ...config,
  JWKS_URL: config.JWKS_URL ?? `${config.IDENTITY_URL}/.well-known/jwks.json`,
}));

export type EdgeConfig = z.infer<typeof edgeConfigSchema>;

const parsed = new WeakMap<object, EdgeConfig>();

/** The variables are the same for the isolate's life, so they are parsed once. */
export function edgeConfig(env: EdgeBindings): EdgeConfig {
  let config = parsed.get(env);
  if (!config) {
    const variables = Object.fromEntries(
      Object.entries(env).filter(([, value]) => typeof value === "string" && value !== ""),
    );
    const result = edgeConfigSchema.safeParse(variables);
    if (!result.success) {
      throw new Error(
        `invalid edge configuration: ${
          result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")
        }`,
      );
    }
    config = result.data;
    parsed.set(env, config);
  }
  return config;
}

export type UpstreamName =
  | "identity"
  | "catalog"
  | "images"
  | "basket"
  | "discount"
  | "inventory"
  | "payment"
  | "order"
  | "cargo"
  | "comment"
  | "message"
  | "dashboard";

export function upstreamUrl(config: EdgeConfig, upstream: UpstreamName): string {
  return {
    identity: config.IDENTITY_URL,
    catalog: config.CATALOG_URL,
    images: config.IMAGES_URL,
    basket: config.BASKET_URL,
    discount: config.DISCOUNT_URL,
    inventory: config.INVENTORY_URL,
    payment: config.PAYMENT_URL,
    order: config.ORDER_URL,
    cargo: config.CARGO_URL,
    comment: config.COMMENT_URL,
    message: config.MESSAGE_URL,
    dashboard: config.DASHBOARD_URL,
  }[upstream];
}
