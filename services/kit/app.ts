/**
 * The app factory every service starts from: request ids, one log line per request, problem
 * documents on every error path, health endpoints and the service's OpenAPI document.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Hook } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { authenticate, type Principal, type TokenVerifier } from "./auth.ts";
import { describeError, type Logger } from "./log.ts";
import { type FieldError, ProblemError, problemResponse } from "./problem.ts";
import { withTimeout } from "./schedule.ts";
import { inSpan } from "./trace_context.ts";
import { findUnstorableText, storableInput, unstorableReason } from "./text_rule.ts";
import { fieldErrors } from "./validation.ts";

export type AppEnv = { Variables: { requestId: string; principal?: Principal } };
export type App = OpenAPIHono<AppEnv>;

export type ReadinessCheck = () => Promise<unknown>;

/** What every service's routes are built from, besides the service's own use cases and stores. */
export interface ServiceAppDeps {
  verifyToken: TokenVerifier;
  logger: Logger;
  bodyLimitBytes: number;
  /** The service's own dependencies, checked by `GET /health/ready`. */
  readiness: Record<string, ReadinessCheck>;
}

export interface AppOptions {
  title: string;
  version: string;
  description?: string;
  logger: Logger;
  bodyLimitBytes: number;
  /** The service's own dependencies, checked by `GET /health/ready`. */
  readiness?: Record<string, ReadinessCheck>;
  /** When given, a Bearer token on any request is verified and its principal put on the context. */
  verifyToken?: TokenVerifier;
  /**
   * How a request whose text breaks the kit's rule is refused, where a protocol fixes the shape of its
   * errors (OAuth's token endpoint); undefined answers the usual 400 validation problem.
   */
  invalidInput?: (c: Context<AppEnv>, errors: FieldError[]) => ProblemError | undefined;
}

function validationProblem(errors: FieldError[]): ProblemError {
  return new ProblemError({
    status: 400,
    kind: "validation",
    title: "Invalid request",
    detail: "one or more fields are invalid",
    errors,
  });
}

const validationHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (!result.success) throw validationProblem(fieldErrors(result.error, result.target));
  // Headers are not seen by the kit's text rule until a route declares and parses them.
  if (result.target === "header") {
    const field = findUnstorableText(result.data);
    if (field !== undefined) {
      throw validationProblem([{ field: `header.${field}`, reason: unstorableReason }]);
    }
  }
};

export function createApp(options: AppOptions): App {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const { logger } = options;

  app.use(requestId({ headerName: "X-Request-Id", generator: () => crypto.randomUUID() }));
  // Everything the request does (log lines, messages published) is a span of the caller's trace.
  app.use((c, next) => inSpan(c.req.header("traceparent"), next));
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    logger.info("request", {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: Math.round((performance.now() - started) * 100) / 100,
      requestId: c.get("requestId"),
      userId: c.get("principal")?.subject,
    });
  });
  app.use(bodyLimit({
    maxSize: options.bodyLimitBytes,
    onError: () => {
      throw new ProblemError({
        status: 413,
        kind: "body-too-large",
        detail: `the request body is larger than ${options.bodyLimitBytes} bytes`,
      });
    },
  }));
  app.use(utf8Bodies);
  app.use(storableInput(
    (path, segment) => parameterAt(app, path, segment),
    (c, errors) => {
      throw options.invalidInput?.(c, errors) ?? validationProblem(errors);
    },
  ));
  if (options.verifyToken) app.use(authenticate(options.verifyToken));
  app.use(noStoreWhenSignedIn);

  app.onError((error, c) => respondToError(error, c, logger));
  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    // OPTIONS asks what the resource allows (RFC 9110 §9.3.7); CORS preflights are the edge's.
    if (allowed.length > 0 && c.req.method === "OPTIONS") {
      return c.body(null, 204, { allow: [...allowed, "OPTIONS"].join(", ") });
    }
    if (allowed.length > 0) {
      return problemResponse(c, {
        status: 405,
        detail: `${c.req.method} is not allowed here; use ${allowed.join(", ")}`,
        headers: { allow: allowed.join(", ") },
      });
    }
    return problemResponse(c, { status: 404, detail: `no resource at ${c.req.path}` });
  });

  app.get("/health/live", (c) => c.json({ status: "live" }));
  app.get("/health/ready", async (c) => {
    const checks = await runReadiness(options.readiness ?? {}, logger);
    const ready = Object.values(checks).every((state) => state === "ok");
    return c.json({ status: ready ? "ready" : "unready", checks }, ready ? 200 : 503);
  });

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
  });
  app.get("/openapi.json", (c) => c.json(openApiDocument(app, options)));
  return app;
}

export function openApiDocument(app: App, options: Pick<AppOptions, "title" | "version" | "description">) {
  const document = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: { title: options.title, version: options.version, description: options.description },
    // Relative: the service that serves this document, wherever it runs.
    servers: [{ url: "/", description: "the service that serves this document" }],
  });
  // A route that declares no Bearer requirement takes none; without `security: []` a document with no
  // top-level requirement leaves that unsaid, and generated clients cannot tell.
  for (const item of Object.values(document.paths ?? {})) {
    for (const method of ["get", "put", "post", "delete", "patch"] as const) {
      const operation = item[method];
      if (operation) operation.security ??= [];
    }
  }
  return document;
}

function respondToError(error: Error, c: Context<AppEnv>, logger: Logger): Response {
  if (error instanceof ProblemError) return problemResponse(c, error.problem);
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    const malformed = status === 400 && /malformed/i.test(error.message);
    return problemResponse(c, {
      status,
      kind: malformed ? "malformed-body" : undefined,
      detail: malformed ? "the request body is not valid JSON" : error.message || undefined,
      errors: malformed ? [{ field: "body", reason: "is not valid JSON" }] : undefined,
    });
  }
  logger.error("unhandled error", {
    requestId: c.get("requestId"),
    path: c.req.path,
    ...describeError(error),
  });
  return problemResponse(c, {
    status: 500,
    detail: "an unexpected error occurred; quote the request id when reporting it",
  });
}

/**
 * An answer made for a signed-in caller is theirs (their orders, their basket) or for admins only, so
 * no cache, the browser's included, may keep it unless its route chose a policy of its own (publicCache
 * marks public data fetched with a token `private, no-store` itself; problem documents are no-store).
 */
const noStoreWhenSignedIn: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  if (c.get("principal") && !c.res.headers.has("cache-control")) c.header("cache-control", "no-store");
};

/** Bodies are read as UTF-8 (JSON requires it, RFC 8259); one declared in another charset would be misread. */
const utf8Bodies: MiddlewareHandler = async (c, next) => {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(c.req.header("content-type") ?? "")?.[1];
  if (charset && !/^(utf-8|us-ascii)$/i.test(charset)) {
    throw new ProblemError({
      status: 415,
      kind: "unsupported-charset",
      detail: `the body is declared as ${charset}; send it as UTF-8`,
    });
  }
  await next();
};

async function runReadiness(checks: Record<string, ReadinessCheck>, logger: Logger) {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(check(), 2_000, "the check did not answer");
        return [name, "ok"] as const;
      } catch (error) {
        logger.warn("readiness check failed", { check: name, ...describeError(error) });
        return [name, "failing"] as const;
      }
    }),
  );
  return Object.fromEntries(entries);
}

interface RoutePattern {
  method: string;
  pattern: RegExp;
  /** The parameter name at each path segment, where the route has one. */
  parameters: (string | undefined)[];
}

const routePatterns = new WeakMap<App, RoutePattern[]>();

function patternsOf(app: App): RoutePattern[] {
  let patterns = routePatterns.get(app);
  if (!patterns) {
    patterns = app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => ({
        method: route.method,
        pattern: pathPattern(route.path),
        parameters: route.path.split("/").map((segment) =>
          segment.startsWith(":") ? segment.slice(1) : undefined
        ),
      }));
    routePatterns.set(app, patterns);
  }
  return patterns;
}

/** The methods that some route accepts at this path, for 405 answers and their `Allow` header. */
function allowedMethods(app: App, path: string): string[] {
  const matching = patternsOf(app).filter(({ pattern }) => pattern.test(path));
  const methods = new Set(matching.map(({ method }) => method));
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}

/** The name of the route parameter that a segment of this path fills, if any route has one there. */
function parameterAt(app: App, path: string, segment: number): string | undefined {
  return patternsOf(app).find(({ pattern, parameters }) => pattern.test(path) && parameters[segment])
    ?.parameters[segment];
}

function pathPattern(routePath: string): RegExp {
  const escaped = routePath
    .split("/")
    .map((segment) => {
      if (segment === "*") return ".*";
      if (segment.startsWith(":")) return "[^/]+";
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return new RegExp(`^${escaped}$`);
}

export { z };
export type { FieldError };
