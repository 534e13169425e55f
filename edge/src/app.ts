/**
 * The edge: every request is matched against the route table, authenticated, rate limited, served
 * from the cache or forwarded, and answered with the edge's own headers.
 */
import type { Principal } from "@multishop/kit/auth";
import { ProblemError, problemResponse } from "@multishop/kit/problem";
import { nextTraceparent } from "@multishop/kit/trace";
import { type Context, Hono } from "hono";
import { checkAccess, edgeVerifier } from "./auth.ts";
import { cachedFetch, purgeCache } from "./cache.ts";
import { type EdgeBindings, type EdgeConfig, edgeConfig, upstreamUrl } from "./config.ts";
import { registerDocs } from "./docs.ts";
import type { ExecutionContext } from "./platform.ts";
import { downstreamResponse, upstreamRequest } from "./proxy.ts";
import { takeToken } from "./ratelimit.ts";
import { callUpstream, configuredPolicy } from "./resilience.ts";
import { registerStorefront } from "./storefront.ts";
import { findRoute } from "./routes.ts";

export type EdgeEnv = {
  Bindings: EdgeBindings;
  Variables: { requestId: string; traceparent: string; config: EdgeConfig; principal?: Principal };
};

const securityHeaders = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
  "cross-origin-resource-policy": "cross-origin",
};

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

export function clientIp(request: Request): string {
  return request.headers.get("cf-connecting-ip") ?? "127.0.0.1";
}

export function createEdgeApp() {
  const app = new Hono<EdgeEnv>();

  app.onError((error, c) => {
    if (error instanceof ProblemError) return problemResponse(c, error.problem);
    console.error(
      JSON.stringify({ message: "edge error", requestId: c.get("requestId"), error: String(error) }),
    );
    return problemResponse(c, {
      status: 500,
      detail: "an unexpected error occurred; quote the request id when reporting it",
    });
  });

  // Identity, tracing, CORS and security headers wrap every answer, errors included.
  app.use(async (c, next) => {
    const sent = c.req.header("x-request-id");
    c.set("requestId", sent && requestIdPattern.test(sent) ? sent : crypto.randomUUID());
    c.set("traceparent", nextTraceparent(c.req.header("traceparent") ?? null));
    c.set("config", edgeConfig(c.env));
    const origin = c.req.header("origin");
    const corsAllowed = origin !== undefined && c.get("config").CORS_ORIGINS.includes(origin);
    if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
      c.res = preflight(corsAllowed ? origin : undefined, c.req.header("access-control-request-headers"));
    } else {
      await next();
    }
    const headers = c.res.headers;
    for (const [name, value] of Object.entries(securityHeaders)) {
      if (!headers.has(name)) headers.set(name, value);
    }
    headers.set("x-request-id", c.get("requestId"));
    if (corsAllowed) {
      headers.set("access-control-allow-origin", origin);
      headers.set(
        "access-control-expose-headers",
        "x-request-id, x-cache-status, ratelimit, ratelimit-policy, retry-after, location, etag",
      );
      headers.append("vary", "Origin");
    }
  });

  // A Bearer token is verified wherever it is sent; routes then decide whether it is needed.
  app.use(async (c, next) => {
    const authorization = c.req.header("authorization");
    if (authorization && /^bearer /i.test(authorization)) {
      try {
        c.set("principal", await edgeVerifier(c.get("config"))(authorization.slice(7).trim()));
      } catch {
        throw new ProblemError({
          status: 401,
          kind: "unauthorized",
          detail: "the access token is not valid",
          headers: { "www-authenticate": 'Bearer error="invalid_token"' },
        });
      }
    }
    await next();
  });

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.post("/v1/edge/cache/purge", async (c) => {
    checkAccess({ kind: "role", role: "admin" }, c.get("principal"));
    return c.json(await purgeCache(c.env.CACHE_GENERATION), 200);
  });
  // An aggregate costs several upstream calls, so it counts against the caller's limit like any route.
  app.use("/v1/storefront/*", async (c, next) => {
    const headers = await limitRate(c, "default");
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  });
  registerStorefront(app);
  registerDocs(app);

  app.all("*", async (c) => {
    const path = new URL(c.req.url).pathname;
    const match = findRoute(path, c.req.method);
    if (!("route" in match)) {
      if (match.allowed.length > 0) {
        return problemResponse(c, {
          status: 405,
          detail: `${c.req.method} is not allowed here; use ${match.allowed.join(", ")}`,
          headers: { allow: match.allowed.join(", ") },
        });
      }
      return problemResponse(c, { status: 404, detail: `no resource at ${path}` });
    }
    const { route } = match;
    const config = c.get("config");

    const length = Number(c.req.header("content-length") ?? 0);
    if (length > config.MAX_BODY_BYTES) {
      return problemResponse(c, {
        status: 413,
        kind: "body-too-large",
        detail: `the request body is larger than ${config.MAX_BODY_BYTES} bytes`,
      });
    }

    checkAccess(route.access, c.get("principal"));
    const rateHeaders = await limitRate(c, route.rateLimit);

    const forward = () =>
      callUpstream({
        upstream: route.upstream,
        route,
        request: upstreamRequest(c.req.raw, upstreamUrl(config, route.upstream), {
          requestId: c.get("requestId"),
          traceparent: c.get("traceparent"),
          clientIp: clientIp(c.req.raw),
        }),
        policy: configuredPolicy(config),
      }).then((response) => downstreamResponse(response, route.upstream));
    // cachedFetch itself refuses anything that may be private (a token, a cookie) and says BYPASS.
    const response = route.cache
      ? await cachedFetch(c.req.raw, {
        ctx: c.executionCtx as unknown as ExecutionContext,
        generations: c.env.CACHE_GENERATION,
        enabled: config.CACHE_ENABLED,
      }, forward)
      : await forward();
    for (const [name, value] of Object.entries(rateHeaders)) response.headers.set(name, value);
    return response;
  });

  return app;
}

/**
 * Takes a token from the caller's bucket under a route's policy and returns the RateLimit headers for
 * the answer; throws the 429 when the bucket is empty. Sign-in and contact limits count per address
 * whoever asks; other routes per user when signed in.
 */
async function limitRate(c: Context<EdgeEnv>, rateLimit: string): Promise<Record<string, string>> {
  const config = c.get("config");
  const principal = c.get("principal");
  const perUser = principal && rateLimit === "default";
  const policyName = perUser && config.RATE_LIMITS.authenticated ? "authenticated" : rateLimit;
  const policy = config.RATE_LIMITS[policyName] ?? config.RATE_LIMITS.default;
  const key = perUser ? `user:${principal.subject}` : `ip:${clientIp(c.req.raw)}`;
  const decision = await takeToken(c.env.RATE_LIMITER, policyName, policy, key);
  if (!decision.allowed) {
    throw new ProblemError({
      status: 429,
      kind: "rate-limited",
      detail: "too many requests; wait as Retry-After says",
      headers: decision.headers,
    });
  }
  return decision.headers;
}

function preflight(origin: string | undefined, requestedHeaders: string | undefined): Response {
  const headers = new Headers({ vary: "Origin, Access-Control-Request-Headers" });
  if (origin) {
    headers.set("access-control-allow-origin", origin);
    headers.set("access-control-allow-methods", "GET, HEAD, POST, PUT, PATCH, DELETE");
    headers.set("access-control-allow-headers", requestedHeaders ?? "authorization, content-type");
    headers.set("access-control-max-age", "600");
  }
  return new Response(null, { status: 204, headers });
}
