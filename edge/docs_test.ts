/** The edge's documentation in workerd: the bundled OpenAPI document and the reference page. */
import assert from "node:assert/strict";
import { startEdgeFixture } from "./test_support.ts";

const committed = new URL("../openapi/public.json", import.meta.url);

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
      "/docs loads the pinned Scalar reference of /openapi.json, and only that script",
      async () => {
        const response = await call("/docs");
        assert.equal(response.status, 200);
        assert.match(response.headers.get("content-type")!, /^text\/html/);
        const html = await response.text();
        assert.match(html, /<script id="api-reference" type="application\/json" data-url="\/openapi.json"/);

        const sources = [...html.matchAll(/<script[^>]* src="([^"]+)"/g)].map((match) => match[1]);
        assert.equal(sources.length, 1);
        const [script] = sources;
        assert.match(
          script,
          /^https:\/\/cdn\.jsdelivr\.net\/npm\/@scalar\/api-reference@\d+\.\d+\.\d+\/[^"]+\.js$/,
          "pinned to a version",
        );
        assert.match(html, /integrity="sha384-[A-Za-z0-9+/]{64}" crossorigin="anonymous"/);
        for (const [, inline] of html.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)) {
          assert.equal(inline.trim(), "", "no inline script: settings are data attributes");
        }

        const policy = Object.fromEntries(
          response.headers.get("content-security-policy")!.split(";").map((directive) => {
            const [name, ...values] = directive.trim().split(/\s+/);
            return [name, values];
          }),
        );
        assert.deepEqual(policy["script-src"], [script]);
        assert.deepEqual(policy["default-src"], ["'none'"]);
        assert.deepEqual(policy["frame-ancestors"], ["'none'"]);
        assert.ok(policy["connect-src"].includes("'self'"), "the page may fetch /openapi.json");
      },
    );
  } finally {
    await fixture.close();
  }
});
