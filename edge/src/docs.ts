/**
 * The edge's documentation: the merged public OpenAPI document, written by `deno task openapi` and
 * bundled into the Worker (so it describes exactly the build that serves it), and an interactive
 * reference of it.
 */
import type { Hono } from "hono";
import { etag } from "hono/etag";
import publicDocument from "../../openapi/public.json" with { type: "json" };
import type { EdgeEnv } from "./app.ts";

/** Scalar API Reference, pinned; `npm view @scalar/api-reference version` tells the latest. */
const scalarVersion = "1.72.1";

/** The package's self-contained browser build (its `browser` entry): one file that loads no other script. */
const scalarScript =
  `https://cdn.jsdelivr.net/npm/@scalar/api-reference@${scalarVersion}/dist/browser/standalone.js`;

/**
 * Subresource Integrity of that file, so that the CDN cannot serve other code. After moving the
 * version: `npm pack @scalar/api-reference@<version>`, unpack it, and
 * `openssl dgst -sha384 -binary package/dist/browser/standalone.js | openssl base64 -A`.
 */
const scalarIntegrity = "sha384-U11tb2XnKvmwt8RlTvnwUnYgrN+ur4Xyh9htLhjajWNR/Oyl5AX5DEz00qRmlrmK";

const documentText = JSON.stringify(publicDocument);

const contentSecurityPolicy = [
  "default-src 'none'",
  // That one file and nothing inline: the page passes its settings as data attributes.
  `script-src ${scalarScript}`,
  // Scalar injects its stylesheet and sets style attributes at run time; styles cannot run code.
  "style-src 'unsafe-inline'",
  "img-src 'self' data:",
  // The document itself, and the "send request" client calling the edge that serves it (the document's
  // one server, relative).
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

// Scalar's own fonts come from its font server, which the policy does not allow; system fonts serve.
const scalarConfiguration = JSON.stringify({ withDefaultFonts: false }).replaceAll('"', "&quot;");

const docsPage = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>${publicDocument.info.title} API reference</title>
  </head>
  <body>
    <script id="api-reference" type="application/json" data-url="/openapi.json"
      data-configuration="${scalarConfiguration}"></script>
    <script src="${scalarScript}" integrity="${scalarIntegrity}" crossorigin="anonymous"></script>
  </body>
</html>
`;

/** Both change only with a new build of the Worker, so caches may keep them a while and revalidate. */
const cacheControl = "public, max-age=300";

export function registerDocs(app: Hono<EdgeEnv>): void {
  app.get("/openapi.json", etag(), (c) =>
    c.body(documentText, 200, {
      "content-type": "application/json",
      "cache-control": cacheControl,
      // Public and without credentials: browser-based editors and client generators on other sites
      // may read it.
      "access-control-allow-origin": "*",
    }));
  app.get("/docs", (c) =>
    c.html(docsPage, 200, {
      "content-security-policy": contentSecurityPolicy,
      "cache-control": cacheControl,
    }));
}

type PathTemplate = { segments: string[]; literals: number; methods: string[] };

const httpMethods = ["get", "head", "post", "put", "patch", "delete"];

const pathTemplates: PathTemplate[] = Object.entries(publicDocument.paths).map(([template, operations]) => {
  const segments = template.split("/");
  const methods = httpMethods.filter((method) => method in operations).map((method) => method.toUpperCase());
  // Every GET is answered to HEAD too (Hono and the Workers runtime do so), and OPTIONS by the edge.
  if (methods.includes("GET") && !methods.includes("HEAD")) {
    methods.splice(methods.indexOf("GET") + 1, 0, "HEAD");
  }
  methods.push("OPTIONS");
  const literals = segments.filter((segment) => !segment.startsWith("{")).length;
  return { segments, literals, methods };
});

/**
 * The methods the public document lists for a path (what an `Allow` header names), or undefined when
 * it describes no such path. As OpenAPI has it, a path without parameters wins over a template that
 * also matches (`/v1/users/count` over `/v1/users/{id}`), and so does the template with more fixed
 * segments.
 */
export function documentedMethods(path: string): string[] | undefined {
  const given = path.split("/");
  let best: PathTemplate | undefined;
  for (const template of pathTemplates) {
    if (template.segments.length !== given.length) continue;
    const matches = template.segments.every((segment, i) =>
      segment.startsWith("{") ? given[i] !== "" : segment === given[i]
    );
    if (matches && (!best || template.literals > best.literals)) best = template;
  }
  return best?.methods;
}
