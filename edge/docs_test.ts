/** The edge's documentation in workerd: the bundled OpenAPI document and the reference page. */
import assert from "node:assert/strict";
import { acceptsGzip, scalarIntegrity, scalarScriptPath } from "./src/docs.ts";
import { startEdgeFixture } from "./test_support.ts";

const committed = new URL("../openapi/public.json", import.meta.url);
const vendored = new URL("./vendor/scalar-api-reference/standalone.js.gz.base64", import.meta.url);

/** Subresource Integrity (sha384) of some bytes, as a page names it. */
async function integrityOf(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-384", bytes));
  return `sha384-${btoa(String.fromCharCode(...digest))}`;
}

Deno.test("the edge serves the public OpenAPI document and an interactive reference", async (t) => {
  const fixture = await startEdgeFixture();
  const call = (path: string, init: RequestInit = {}) => fetch(`${fixture.edge.url}${path}`, init);

  try {
    await t.step("/openapi.json is the merged document in openapi/public.json", async () => {
      const response = await call("/openapi.json");
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type")!, /^application\/json/);
      const document = await response.json();
      assert.deepEqual(document, JSON.parse(await Deno.readTextFile(committed)));
      for (
        const [path, from] of [
          ["/v1/products/{id}", "catalog"],
          ["/oauth/token", "identity"],
          ["/v1/images/{id}", "images"],
          ["/v1/storefront/home", "the edge"],
          ["/v1/storefront/products/{id}", "the edge"],
        ]
      ) {
        assert.ok(document.paths[path], `${path} from ${from}`);
      }
      assert.equal(fixture.catalog.seen.length, 0, "served by the edge itself");

      const again = await call("/openapi.json", {
        headers: { "if-none-match": response.headers.get("etag")! },
      });
      assert.equal(again.status, 304, "revalidated by its ETag");
      await again.body?.cancel();
    });

    await t.step(
      "/docs loads the pinned Scalar reference of /openapi.json from the edge itself, and only that script",
      async () => {
        const response = await call("/docs");
        assert.equal(response.status, 200);
        assert.match(response.headers.get("content-type")!, /^text\/html/);
        const html = await response.text();
        assert.match(html, /<script id="api-reference" type="application\/json" data-url="\/openapi.json"/);

        const sources = [...html.matchAll(/<script[^>]* src="([^"]+)"/g)].map((match) => match[1]);
        assert.deepEqual(sources, [scalarScriptPath]);
        assert.match(scalarScriptPath, /^\/docs\/scalar-\d+\.\d+\.\d+\.js$/, "pinned to a version");
        assert.ok(
          html.includes(`src="${scalarScriptPath}" integrity="${scalarIntegrity}"`),
          "with its Subresource Integrity",
        );
        assert.match(scalarIntegrity, /^sha384-[A-Za-z0-9+/]{64}$/);
        for (const [, inline] of html.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)) {
          assert.equal(inline.trim(), "", "no inline script: settings are data attributes");
        }

        const policy = Object.fromEntries(
          response.headers.get("content-security-policy")!.split(";").map((directive) => {
            const [name, ...values] = directive.trim().split(/\s+/);
            return [name, values];
          }),
        );
        assert.deepEqual(policy["script-src"], ["'self'"], "no script from anywhere but the edge");
        assert.deepEqual(policy["default-src"], ["'none'"]);
        assert.deepEqual(policy["frame-ancestors"], ["'none'"]);
        assert.deepEqual(policy["connect-src"], ["'self'"], "the page may fetch /openapi.json, nothing else");
      },
    );

    await t.step("the script is npm's file, served for good, and in the public document", async () => {
      const stored = Uint8Array.fromBase64(await Deno.readTextFile(vendored));
      const gunzipped = new Blob([stored]).stream().pipeThrough(new DecompressionStream("gzip"));
      const file = await new Response(gunzipped).bytes();
      assert.equal(await integrityOf(file), scalarIntegrity, "edge/vendor holds the file the page names");

      for (const acceptEncoding of ["gzip, deflate, br, zstd", "identity"]) {
        const response = await call(scalarScriptPath, { headers: { "accept-encoding": acceptEncoding } });
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("content-type"), "text/javascript; charset=utf-8");
        assert.equal(response.headers.get("cache-control"), "public, max-age=31536000, immutable");
        assert.equal(response.headers.get("vary"), "accept-encoding");
        if (acceptEncoding.includes("gzip")) {
          assert.equal(response.headers.get("content-encoding"), "gzip");
          assert.equal(response.headers.get("content-length"), String(stored.length), "sent as it is stored");
        } else {
          assert.equal(response.headers.get("content-encoding"), null, "decoded for a client without gzip");
        }
        // Deno's fetch takes the gzip off.
        assert.equal(await integrityOf(await response.bytes()), scalarIntegrity, acceptEncoding);
      }

      const head = await call(scalarScriptPath, { method: "HEAD" });
      assert.equal(head.status, 200);
      await head.body?.cancel();
      const other = await call(scalarScriptPath.replace(/\d+\.js$/, "999.js"));
      assert.equal(other.status, 404, "no other version");
      await other.body?.cancel();

      const document = JSON.parse(await Deno.readTextFile(committed));
      const docsPaths = Object.keys(document.paths).filter((path) => path.startsWith("/docs"));
      assert.deepEqual(docsPaths, ["/docs", scalarScriptPath], "tools/openapi.ts names the served path");
      assert.ok(document.paths[scalarScriptPath].get.responses[200].content["text/javascript"]);
      assert.equal(fixture.catalog.seen.length, 0, "served by the edge itself");
    });
  } finally {
    await fixture.close();
  }
});

Deno.test("acceptsGzip reads Accept-Encoding as RFC 9110 says", () => {
  assert.equal(acceptsGzip("gzip, deflate, br"), true);
  assert.equal(acceptsGzip("br;q=1.0, GZip;q=0.5"), true);
  assert.equal(acceptsGzip("*"), true);
  assert.equal(acceptsGzip("identity"), false);
  assert.equal(acceptsGzip(undefined), false);
  assert.equal(acceptsGzip(""), false);
  assert.equal(acceptsGzip("gzip;q=0, *"), false);
  assert.equal(acceptsGzip("*;q=0"), false);
});
