/**
 * The edge: every request is matched against the route table, authenticated, rate limited, served
 * from the cache or forwarded, and answered with the edge's own headers.
 */
import type { Principal } from "@multishop/kit/auth";
import { ProblemError, problemResponse } from "@multishop/kit/problem";
import { nextTraceparent } from "@multishop/kit/trace";
import { type Context, Hono } from "hono";
import { checkAccess, edgeVerifier } from "./auth.ts";
import { cacheContextFor, cachedFetch, purgeCache } from "./cache.ts";
import { type EdgeBindings, type EdgeConfig, edgeConfig, upstreamUrl } from "./config.ts";
import { documentedMethods, registerDocs } from "./docs.ts";
import { bodyTooLarge, downstreamResponse, upstreamRequest } from "./proxy.ts";
import { takeToken } from "./ratelimit.ts";
import { callUpstream, configuredPolicy } from "./resilience.ts";
import { registerStorefront } from "./storefront.ts";
import { findRoute } from "./routes.ts";

export type EdgeEnv = {
  Bindings: EdgeBindings;
  Variables: {
    requestId: string;
    traceparent: string;
    config: EdgeConfig;
    clientIp: string;
    principal?: Principal;
  };
};

const securityHeaders = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
  "cross-origin-resource-policy": "cross-origin",
};

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The most header bytes (names, values and their separators) the edge reads: a generous token and
 * cookies fit many times over. Larger requests are answered 431 (RFC 6585 §5) here; far larger ones
 * are refused before the Worker runs (see the README's known limits).
 */
const maxHeaderBytes = 32 * 1024;

function headerBytes(headers: Headers): number {
  let total = 0;
  for (const [name, value] of headers) total += name.length + value.length + 4;
  return total;
}

/**
 * The client's address, for its rate-limit buckets and for the upstreams, from a source the deployment
 * trusts, never from a header any client can send: the header named by TRUSTED_CLIENT_IP_HEADER, which
 * the operator's proxy in front overwrites; else the connection's address, which self-hosted workerd
 * gives in `request.cf.clientIp` (edge/local.ts) and Cloudflare in CF-Connecting-IP, set whatever the
 * client sent (Cloudflare's `request.cf` has no clientIp).
 */
export function clientIp(request: Request, config: EdgeConfig): string {
  const trusted = config.TRUSTED_CLIENT_IP_HEADER && request.headers.get(config.TRUSTED_CLIENT_IP_HEADER);
  // A proxy that appends to a list (X-Forwarded-For) rather than overwriting adds the address it saw
  // last; entries before it are the client's own claims. Without the header, the request did not come
  // through that proxy, and the connection is the client's.
  if (trusted) return trusted.split(",").at(-1)!.trim();
  const connection = (request as { cf?: { clientIp?: unknown } }).cf?.clientIp;
  if (typeof connection === "string" && connection) return withoutPort(connection);
  const address = request.headers.get("cf-connecting-ip");
  if (!address) {
    throw new Error(
      "the client's address is unknown: run the Worker on Cloudflare or through edge/local.ts, which give it",
    );
  }
  return address;
}

/** workerd writes the peer as host:port, an IPv6 host in brackets. */
function withoutPort(peer: string): string {
  const bracketed = /^\[(.+)\]:\d+$/.exec(peer);
  if (bracketed) return bracketed[1];
  const colon = peer.lastIndexOf(":");
  return colon > 0 && peer.indexOf(":") === colon ? peer.slice(0, colon) : peer;
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
    if (headerBytes(c.req.raw.headers) > maxHeaderBytes) {
      throw new ProblemError({
        status: 431,
        kind: "headers-too-large",
        title: "Request Header Fields Too Large",
        detail: `the request's headers are larger than ${maxHeaderBytes} bytes`,
      });
    }
    c.set("config", edgeConfig(c.env));
    c.set("clientIp", clientIp(c.req.raw, c.get("config")));
    const origin = c.req.header("origin");
    const corsAllowed = origin !== undefined && c.get("config").CORS_ORIGINS.includes(origin);
    if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
      c.res = preflight(corsAllowed ? origin : undefined, c.req.header("access-control-request-headers"));
    } else {
      await next();
    }
    await drainUnreadBody(c.req.raw);
    const headers = c.res.headers;
    // A signed-in caller's answer is theirs alone: unless it says how it may be cached, no browser or
    // proxy keeps it (RFC 9111 lets them store some answers that carry no Cache-Control).
    if (c.req.header("authorization") && !headers.has("cache-control")) {
      headers.set("cache-control", "no-store");
    }
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

  // OPTIONS that is not a CORS preflight asks which methods a resource allows (RFC 9110 §9.3.7).
  app.options("*", (c) => {
    const path = new URL(c.req.url).pathname;
    const allowed = documentedMethods(path);
    if (!allowed) return notFound(c, path);
    return c.body(null, 204, { allow: allowed.join(", ") });
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
      // The document knows every method of a path, the edge's own included; the route table only
      // those it forwards.
      const allowed = documentedMethods(path) ??
        (match.allowed.length > 0 ? [...match.allowed, "OPTIONS"] : []);
      if (allowed.length > 0) {
        return problemResponse(c, {
          status: 405,
          detail: `${c.req.method} is not allowed here; use ${allowed.join(", ")}`,
          headers: { allow: allowed.join(", ") },
        });
      }
      return notFound(c, path);
    }
    const { route } = match;
    const config = c.get("config");

    const length = Number(c.req.header("content-length") ?? 0);
    if (length > config.MAX_BODY_BYTES) return problemResponse(c, bodyTooLarge(config.MAX_BODY_BYTES));

    checkAccess(route.access, c.get("principal"));
    const rateHeaders = await limitRate(c, route.rateLimit);

    const forward = () =>
      callUpstream({
        upstream: route.upstream,
        route,
        request: upstreamRequest(c.req.raw, upstreamUrl(config, route.upstream), {
          requestId: c.get("requestId"),
          traceparent: c.get("traceparent"),
          clientIp: c.get("clientIp"),
        }),
        policy: configuredPolicy(config),
      }).then((response) => downstreamResponse(response, route.upstream, c.get("requestId")));
    // cachedFetch itself refuses anything that may be private (a token, a cookie) and says BYPASS.
    const response = route.cache
      ? await cachedFetch(c.req.raw, cacheContextFor(c), forward)
      : await forward();
    for (const [name, value] of Object.entries(rateHeaders)) response.headers.set(name, value);
    return response;
  });

  return app;
}

/**
 * Takes a token from the caller's bucket under a route's policy and returns the RateLimit headers for
 * the answer; throws the 429 when the bucket is empty. Sign-in and contact limits count per address
 * whoever asks, every request in the bucket's object; other routes per user when signed in, decided in
 * the isolate from leased tokens (ratelimit.ts says what that costs in consistency).
 */
async function limitRate(c: Context<EdgeEnv>, rateLimit: string): Promise<Record<string, string>> {
  const config = c.get("config");
  const principal = c.get("principal");
  const perUser = principal && rateLimit === "default";
  const policyName = perUser && config.RATE_LIMITS.authenticated ? "authenticated" : rateLimit;
  const policy = config.RATE_LIMITS[policyName] ?? config.RATE_LIMITS.default;
  const key = perUser ? `user:${principal.subject}` : `ip:${c.get("clientIp")}`;
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

/**
 * Reads what is left of a request body that the answer did not need (a 401, 404 or 429 given before
 * it was read). workerd resets a connection closed with a body still arriving, and the client then
 * gets no answer at all; bodies over the limit were refused by their Content-Length before this.
 */
async function drainUnreadBody(request: Request): Promise<void> {
  if (!request.body || request.bodyUsed) return;
  await request.body.pipeTo(new WritableStream()).catch(() => {});
}

/**
 * No resource has a path ending in a slash (or with an empty segment): such a path is not the one
 * without it, and is answered 404 rather than forwarded, with the path the client probably meant.
 */
function notFound(c: Context<EdgeEnv>, path: string): Response {
  const trimmed = path.replace(/\/+$/, "");
  const hint = trimmed !== path && trimmed !== "" ? `; paths do not end with a slash: try ${trimmed}` : "";
  return problemResponse(c, { status: 404, detail: `no resource at ${path}${hint}` });
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
