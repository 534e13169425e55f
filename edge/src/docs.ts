/**
 * The edge's documentation: the merged public OpenAPI document, written by `deno task openapi` and
 * bundled into the Worker (so it describes exactly the build that serves it), and an interactive
 * reference of it.
 */
import type { Hono } from "hono";
import { etag } from "hono/etag";
import publicDocument from "../../openapi/public.json" with { type: "json" };
import type { EdgeEnv } from "./app.ts";
// Scalar API Reference's self-contained browser build, `dist/browser/standalone.js` (the package's
// `browser` entry): one file that loads no other script, bundled into the Worker so that the page needs
// nothing but the edge. It is kept gzipped, in base64: text that `deno bundle` copies as it is (it rewrites
// a CommonJS interop pattern wherever it appears in its output, and the raw file holds one), and that the
// edge sends gzipped as it is stored. docs_test checks it against the integrity below.
import scalarScriptGzipBase64 from "../vendor/scalar-api-reference/standalone.js.gz.base64" with {
  type: "text",
};

/** The version of that file; `npm view @scalar/api-reference version` tells the latest. */
const scalarVersion = "1.72.1";

/** Where the edge serves it: the version in the path, so that browsers may keep it for good. */
export const scalarScriptPath = `/docs/scalar-${scalarVersion}.js`;

/**
 * Subresource Integrity of the file as npm publishes it. To move the version: `npm pack
 * @scalar/api-reference@<version>` and unpack it; write `gzip -9n < package/dist/browser/standalone.js |
 * base64 -w0` to edge/vendor/scalar-api-reference/standalone.js.gz.base64; put
 * `openssl dgst -sha384 -binary package/dist/browser/standalone.js | openssl base64 -A` here; and change the
 * script's path in tools/openapi.ts (then `deno task openapi`) and in .redocly.lint-ignore.yaml.
 */
export const scalarIntegrity = "sha384-U11tb2XnKvmwt8RlTvnwUnYgrN+ur4Xyh9htLhjajWNR/Oyl5AX5DEz00qRmlrmK";

/** The gzipped file (1.3 MB), decoded once per isolate on first use. */
let scalarScriptGzip: Uint8Array<ArrayBuffer> | undefined;

/** Whether an Accept-Encoding (RFC 9110 §12.5.3) takes gzip. */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  let gzip: number | undefined;
  let any: number | undefined;
  for (const entry of (acceptEncoding ?? "").split(",")) {
    const [coding, ...parameters] = entry.split(";").map((part) => part.trim().toLowerCase());
    const q = parameters.find((parameter) => parameter.startsWith("q="));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    if (coding === "gzip" || coding === "x-gzip") gzip = weight;
    else if (coding === "*") any = weight;
  }
  return (gzip ?? any ?? 0) > 0;
}

const documentText = JSON.stringify(publicDocument);

const contentSecurityPolicy = [
  "default-src 'none'",
  // That one file, from the edge itself, and nothing inline: the page passes its settings as data
  // attributes.
  "script-src 'self'",
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

// Nothing that needs Scalar's servers, which the policy does not allow: its fonts (system fonts serve), its
// AI agent and MCP generator, its telemetry, and the toolbar it shows on localhost (share, deploy).
const scalarConfiguration = JSON.stringify({
  withDefaultFonts: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  telemetry: false,
  showDeveloperTools: "never",
}).replaceAll('"', "&quot;");

const docsPage = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>${publicDocument.info.title} API reference</title>
    <!-- No icon: otherwise browsers ask for /favicon.ico, which the edge does not have. -->
    <link rel="icon" href="data:,">
  </head>
  <body>
    <script id="api-reference" type="application/json" data-url="/openapi.json"
      data-configuration="${scalarConfiguration}"></script>
    <script src="${scalarScriptPath}" integrity="${scalarIntegrity}"></script>
  </body>
</html>
`;

/** Both change only with a new build of the Worker, so caches may keep them a while and revalidate. */
const cacheControl = "public, max-age=300";

/** The script's path names its version: what it serves never changes. */
const immutable = "public, max-age=31536000, immutable";

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
  app.get(scalarScriptPath, (c) => {
    const gzipped = scalarScriptGzip ??= Uint8Array.fromBase64(scalarScriptGzipBase64);
    const headers = {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": immutable,
      vary: "accept-encoding",
    };
    if (!acceptsGzip(c.req.header("accept-encoding"))) {
      return c.body(new Blob([gzipped]).stream().pipeThrough(new DecompressionStream("gzip")), 200, headers);
    }
    // Sent as stored: "manual" tells the Workers runtime that the body is encoded already.
    const init = { status: 200, headers: { ...headers, "content-encoding": "gzip" }, encodeBody: "manual" };
    return new Response(gzipped, init);
  });
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
