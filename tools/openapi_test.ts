import assert from "node:assert/strict";
import { allDocuments, openapiFolder } from "./openapi.ts";

Deno.test("the committed OpenAPI documents match the code (run `deno task openapi` when this fails)", async () => {
  for (const [name, text] of Object.entries(allDocuments())) {
    const committed = await Deno.readTextFile(new URL(name, openapiFolder));
    assert.equal(committed, text, `openapi/${name} is out of date`);
  }
});

Deno.test("the public document holds every public path of the contract so far", () => {
  const document = JSON.parse(allDocuments()["public.json"]);
  for (
    const path of [
      "/v1/auth/register",
      "/oauth/token",
      "/oauth/revoke",
      "/.well-known/jwks.json",
      "/v1/users/me",
    ]
  ) {
    assert.ok(document.paths[path], `${path} is missing`);
  }
  for (
    const [path, item] of Object.entries(document.paths) as [string, Record<string, { responses: object }>][]
  ) {
    for (const [method, operation] of Object.entries(item)) {
      assert.ok(Object.keys(operation.responses).length > 0, `${method} ${path} documents its responses`);
    }
  }
});
