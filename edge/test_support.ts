/**
 * What the edge's workerd tests run against: upstreams that record what reached them (and can fail
 * on purpose), a JWKS endpoint for test tokens, and the Worker itself in workerd.
 */
import { testTokenIssuer } from "@multishop/kit/testing";
import { type LocalEdge, startLocalEdge } from "./local.ts";

export interface Seen {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

export interface TestUpstream {
  url: string;
  seen: Seen[];
  /** Replaces the answer; by default it echoes what it received as JSON. */
  respond: (request: Request, seen: Seen) => Response | Promise<Response>;
  close(): Promise<void>;
}

export function echo(name: string) {
  return (_request: Request, seen: Seen) =>
    Response.json({ upstream: name, method: seen.method, path: seen.path }, {
      headers: {
        "cache-control": "public, max-age=60, s-maxage=300",
        connection: "keep-alive, x-internal",
        "x-internal": "hidden",
      },
    });
}

export function startUpstream(name: string): TestUpstream {
  const upstream: TestUpstream = {
    url: "",
    seen: [],
    respond: echo(name),
    close: () => server.shutdown(),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const url = new URL(request.url);
    const seen = {
      method: request.method,
      path: url.pathname + url.search,
      headers: request.headers,
      body: await request.text(),
    };
    upstream.seen.push(seen);
    return upstream.respond(request, seen);
  });
  upstream.url = `http://127.0.0.1:${server.addr.port}`;
  return upstream;
}

export interface EdgeFixture {
  edge: LocalEdge;
  identity: TestUpstream;
  catalog: TestUpstream;
  images: TestUpstream;
  basket: TestUpstream;
  discount: TestUpstream;
  inventory: TestUpstream;
  order: TestUpstream;
  cargo: TestUpstream;
  comment: TestUpstream;
  message: TestUpstream;
  dashboard: TestUpstream;
  /** Every upstream above. */
  upstreams: TestUpstream[];
  tokens: Awaited<ReturnType<typeof testTokenIssuer>>;
  close(): Promise<void>;
}

/** The Worker in workerd in front of recording upstreams, trusting the test token issuer. */
export async function startEdgeFixture(variables: Record<string, string> = {}): Promise<EdgeFixture> {
  const tokens = await testTokenIssuer();
  const jwks = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json(tokens.jwks),
  );
  const identity = startUpstream("identity");
  const catalog = startUpstream("catalog");
  const images = startUpstream("images");
  const basket = startUpstream("basket");
  const discount = startUpstream("discount");
  const inventory = startUpstream("inventory");
  const order = startUpstream("order");
  const cargo = startUpstream("cargo");
  const comment = startUpstream("comment");
  const message = startUpstream("message");
  const dashboard = startUpstream("dashboard");
  const upstreams = [
    identity,
    catalog,
    images,
    basket,
    discount,
    inventory,
    order,
    cargo,
    comment,
    message,
    dashboard,
  ];
  const edge = await startLocalEdge({
    IDENTITY_URL: identity.url,
    CATALOG_URL: catalog.url,
    IMAGES_URL: images.url,
    BASKET_URL: basket.url,
    DISCOUNT_URL: discount.url,
    INVENTORY_URL: inventory.url,
    ORDER_URL: order.url,
    CARGO_URL: cargo.url,
    COMMENT_URL: comment.url,
    MESSAGE_URL: message.url,
    DASHBOARD_URL: dashboard.url,
    JWKS_URL: `http://127.0.0.1:${jwks.addr.port}/`,
    TOKEN_ISSUER: tokens.issuer,
    TOKEN_AUDIENCE: tokens.audience,
    CORS_ORIGINS: "https://shop.example",
    ...variables,
  }, { inspection: true });
  return {
    edge,
    identity,
    catalog,
    images,
    basket,
    discount,
    inventory,
    order,
    cargo,
    comment,
    message,
    dashboard,
    upstreams,
    tokens,
    async close() {
      await edge.close();
      await Promise.all(
        upstreams.map((upstream) => upstream.close()),
      );
      await jwks.shutdown();
    },
  };
}
