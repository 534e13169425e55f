/**
 * RFC 9457 problem documents: the one error shape every service and the edge answer with.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export interface FieldError {
  /** Where the problem is: a dotted path into the body, or `query.x`, `header.x`, `path.x`. */
  field: string;
  reason: string;
}

export interface ProblemInit {
  status: ContentfulStatusCode;
  /** A short, stable slug naming the kind of problem; becomes the `type` URI. */
  kind?: string;
  title?: string;
  detail?: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
  /** Extra members for the body, for example RFC 6749 `error` codes. */
  extensions?: Record<string, unknown>;
  /** For protocols that fix the media type of their errors, such as OAuth's `application/json`. */
  contentType?: string;
}

/** Throw from anywhere inside a request to answer with a problem document. */
export class ProblemError extends Error {
  constructor(readonly problem: ProblemInit) {
    super(problem.detail ?? problem.title ?? statusTitle(problem.status));
    this.name = "ProblemError";
  }
}

export const problemContentType = "application/problem+json";

export function problemBody(problem: ProblemInit, instance?: string, requestId?: string) {
  return {
    type: problem.kind ? `urn:multishop:problem:${problem.kind}` : "about:blank",
    title: problem.title ?? statusTitle(problem.status),
    status: problem.status,
    ...(problem.detail ? { detail: problem.detail } : {}),
    ...(instance ? { instance } : {}),
    ...(requestId ? { requestId } : {}),
    ...(problem.errors?.length ? { errors: problem.errors } : {}),
    ...problem.extensions,
  };
}

export function problemResponse(c: Context, problem: ProblemInit): Response {
  const body = problemBody(problem, new URL(c.req.url).pathname, c.get("requestId"));
  // Through the context, so headers set earlier in the chain (X-Request-Id) are kept.
  return c.newResponse(JSON.stringify(body), problem.status, {
    ...problem.headers,
    "content-type": problem.contentType ?? problemContentType,
    "cache-control": "no-store",
  });
}

const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

export function statusTitle(status: number): string {
  return titles[status] ?? (status >= 500 ? "Server Error" : "Request Error");
}
