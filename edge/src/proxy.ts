/** Forwarding a request to an upstream and its answer back: headers in, headers out, bodies streamed. */
import { ProblemError, type ProblemInit } from "@multishop/kit/problem";

/** The answer to a request whose Content-Length is over MAX_BODY_BYTES. */
export function bodyTooLarge(maxBytes: number): ProblemInit {
  return { status: 413, kind: "body-too-large", detail: `the request body is larger than ${maxBytes} bytes` };
}

// RFC 9110 §7.6.1: these describe one connection and must not be forwarded. Expect (§10.1.1) asks
// the next hop for an interim 100 Continue, which the platform in front of the Worker has already
// handled; forwarded, the upstream answers it and fetch hands the Worker that interim answer instead
// of the final one.
const hopByHop = [
  "connection",
  "expect",
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
  /** The client's address as the edge trusts it (app.ts's clientIp). */
  clientIp: string;
}

/** The request as the upstream receives it: same method, path, query and body, with the edge's headers. */
export function upstreamRequest(request: Request, upstreamBase: string, info: ForwardInfo): Request {
  const incoming = new URL(request.url);
  const headers = stripHopByHop(request.headers);
  headers.delete("host");
  headers.set("x-request-id", info.requestId);
  headers.set("traceparent", info.traceparent);
  // Whatever the client wrote here is its own claim; upstreams get only the address the edge trusts.
  headers.set("x-forwarded-for", info.clientIp);
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
 * proxy's page) never reaches the client. It is logged with the request id, which the problem carries,
 * so that a report can be matched with the upstream's own log.
 */
export function downstreamResponse(response: Response, upstream: string, requestId: string): Response {
  if (response.status >= 500) {
    response.body?.cancel();
    console.error(JSON.stringify({
      message: "upstream server error",
      upstream,
      status: response.status,
      requestId,
    }));
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
