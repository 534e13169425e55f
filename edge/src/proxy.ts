/** Forwarding a request to an upstream and its answer back: headers in, headers out, bodies streamed. */
import { ProblemError } from "@multishop/kit/problem";

// RFC 9110 §7.6.1: these describe one connection and must not be forwarded.
const hopByHop = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

export function stripHopByHop(headers: Headers): Headers {
  const result = new Headers(headers);
  const named = (headers.get("connection") ?? "").split(",").map((name) => name.trim().toLowerCase()).filter(
    Boolean,
  );
  for (const name of [...hopByHop, ...named]) result.delete(name);
  return result;
}

export interface ForwardInfo {
  requestId: string;
  traceparent: string;
  clientIp: string;
}

/** The request as the upstream receives it: same method, path, query and body, with the edge's headers. */
export function upstreamRequest(request: Request, upstreamBase: string, info: ForwardInfo): Request {
  const incoming = new URL(request.url);
  const headers = stripHopByHop(request.headers);
  headers.delete("host");
  headers.set("x-request-id", info.requestId);
  headers.set("traceparent", info.traceparent);
  const forwardedFor = request.headers.get("x-forwarded-for");
  headers.set("x-forwarded-for", forwardedFor ? `${forwardedFor}, ${info.clientIp}` : info.clientIp);
  headers.set("x-forwarded-proto", incoming.protocol.replace(":", ""));
  headers.set("x-forwarded-host", incoming.host);
  return new Request(`${upstreamBase}${incoming.pathname}${incoming.search}`, {
    method: request.method,
    headers,
    body: request.method === "GET" || request.method === "HEAD" ? undefined : request.body,
    redirect: "manual",
  });
}

/**
 * The upstream's answer without connection headers, ready for the edge's own headers. A server error
 * is replaced by the edge's own problem document: whatever the upstream wrote (a stack trace, a
 * proxy's page) never reaches the client.
 */
export function downstreamResponse(response: Response, upstream: string): Response {
  if (response.status >= 500) {
    response.body?.cancel();
    const unavailable = response.status === 503 || response.status === 504;
    const retryAfter = response.headers.get("retry-after");
    throw new ProblemError({
      status: unavailable ? response.status as 503 | 504 : 502,
      kind: "upstream-failure",
      detail: `the ${upstream} service could not answer; try again shortly`,
      headers: retryAfter ? { "retry-after": retryAfter } : undefined,
    });
  }
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: stripHopByHop(response.headers),
  });
}
