import assert from "node:assert/strict";
import { findRoute } from "../edge/src/routes.ts";
import { allDocuments, openapiFolder, serviceDocuments } from "./openapi.ts";

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

Deno.test("the public document describes the edge's own paths and the answers the edge adds", () => {
  const document = JSON.parse(allDocuments()["public.json"]);
  assert.deepEqual(document.servers.map((server: { url: string }) => server.url), ["/"]);
  assert.deepEqual(document.components.securitySchemes.bearerAuth, {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
  });
  for (
    const [path, method] of [
      ["/v1/storefront/home", "get"],
      ["/v1/storefront/products/{id}", "get"],
      ["/v1/edge/cache/purge", "post"],
      ["/healthz", "get"],
      ["/openapi.json", "get"],
      ["/docs", "get"],
    ]
  ) {
    assert.ok(document.paths[path]?.[method]?.responses[200], `${method} ${path} and its 200 are described`);
  }
  assert.deepEqual(document.paths["/v1/edge/cache/purge"].post.security, [{ bearerAuth: [] }]);
  const product = document.paths["/v1/storefront/products/{id}"].get.responses;
  assert.ok(product[400] && product[404] && product[502], "the product page's problems are described");

  const rateLimited = document.components.responses.RateLimited;
  assert.deepEqual(Object.keys(rateLimited.headers), ["RateLimit", "RateLimit-Policy", "Retry-After"]);
  for (const [path, method] of [["/v1/products", "get"], ["/oauth/token", "post"], ["/v1/images", "post"]]) {
    const responses = document.paths[path][method].responses;
    assert.deepEqual(responses[503], { $ref: "#/components/responses/Unavailable" }, `${method} ${path}`);
  }
  assert.deepEqual(document.paths["/v1/products"].get.responses[429], {
    $ref: "#/components/responses/RateLimited",
  });
  // Identity's own lockout answers 429 too, as OAuth's JSON; the edge's limit answers a problem document.
  const signInLimited = document.paths["/oauth/token"].post.responses[429];
  assert.deepEqual(Object.keys(signInLimited.content).sort(), [
    "application/json",
    "application/problem+json",
  ]);
  assert.ok(signInLimited.headers["Retry-After"] && signInLimited.headers.RateLimit);
  assert.equal(
    document.paths["/healthz"].get.responses[429],
    undefined,
    "the edge's own paths are not limited",
  );
});

Deno.test("every reference in the public document resolves", () => {
  const document = JSON.parse(allDocuments()["public.json"]);
  const refs = new Set<string>();
  const visit = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === "object") {
      for (const [key, child] of Object.entries(value)) {
        if (key === "$ref" && typeof child === "string") refs.add(child);
        else visit(child);
      }
    }
  };
  visit(document);
  assert.ok(refs.size > 0);
  for (const ref of refs) {
    const target = ref.replace(/^#\//, "").split("/").reduce(
      (node: Record<string, unknown> | undefined, key) => node?.[key] as Record<string, unknown> | undefined,
      document,
    );
    assert.ok(target, `${ref} points at nothing`);
  }
});

Deno.test("the public document holds exactly the service operations the edge forwards", () => {
  const document = JSON.parse(allDocuments()["public.json"]);
  const services = serviceDocuments();
  for (const service of Object.values(services)) {
    for (const [path, item] of Object.entries(service.paths ?? {})) {
      for (const method of Object.keys(item)) {
        const forwarded = "route" in findRoute(path.replaceAll(/\{[^}]+\}/g, "x"), method.toUpperCase());
        if (forwarded) {
          assert.ok(document.paths[path][method].responses[429], `${method} ${path} documents 429`);
        } else {
          assert.equal(
            document.paths[path]?.[method],
            undefined,
            `${method} ${path} is not routed, so not public`,
          );
        }
      }
    }
  }
  assert.equal(
    document.paths["/v1/internal/coupons/validate"],
    undefined,
    "service-to-service calls stay internal",
  );
});

type Operations = Record<
  string,
  Record<string, { operationId?: string; security?: unknown[]; tags?: string[] }>
>;

Deno.test("every operation has an operationId, unique across the public API, for generated clients", () => {
  const documents = Object.fromEntries(
    Object.entries(allDocuments()).map(([name, text]) => [name, JSON.parse(text)]),
  );
  for (const [name, document] of Object.entries(documents)) {
    const seen = new Map<string, string>();
    for (const [path, item] of Object.entries(document.paths as Operations)) {
      for (const [method, operation] of Object.entries(item)) {
        const where = `${name}: ${method.toUpperCase()} ${path}`;
        assert.match(
          operation.operationId ?? "",
          /^[a-z][A-Za-z0-9]+$/,
          `${where} has a camelCase operationId`,
        );
        assert.ok(
          !seen.has(operation.operationId!),
          `${where} reuses ${seen.get(operation.operationId!)}'s id`,
        );
        seen.set(operation.operationId!, where);
      }
    }
  }
});

Deno.test("the public document says who may call each operation, and describes its tags", () => {
  const document = JSON.parse(allDocuments()["public.json"]);
  const declared = new Set(document.tags.map((tag: { name: string; description: string }) => {
    assert.ok(tag.description, `tag ${tag.name} has a description`);
    return tag.name;
  }));
  for (const [path, item] of Object.entries(document.paths as Operations)) {
    for (const [method, operation] of Object.entries(item)) {
      const route = findRoute(path.replaceAll(/\{[^}]+\}/g, "x"), method.toUpperCase());
      const guarded = "route" in route && route.route.access.kind !== "public";
      assert.deepEqual(
        operation.security,
        guarded ? [{ bearerAuth: [] }] : operation.security?.length ? operation.security : [],
        `${method} ${path}`,
      );
      for (const tag of operation.tags ?? []) assert.ok(declared.has(tag), `${method} ${path}: tag ${tag}`);
    }
  }
});

/**
 * The places in a schema where an object is described in line rather than named. A named schema's own
 * properties are its own, and so are those of the parts of an `allOf` that extends another.
 */
function inlineObjects(schema: unknown, where: string, named = false): string[] {
  if (schema === null || typeof schema !== "object" || "$ref" in schema) return [];
  const node = schema as Record<string, unknown>;
  const parts = (key: string) => (Array.isArray(node[key]) ? node[key] as unknown[] : []);
  return [
    ...("properties" in node && !named ? [where] : []),
    ...Object.entries((node.properties ?? {}) as Record<string, unknown>).flatMap(([name, property]) =>
      inlineObjects(property, `${where}.${name}`)
    ),
    ...inlineObjects(node.items, `${where}[]`),
    ...inlineObjects(node.additionalProperties, `${where}{}`),
    ...["anyOf", "oneOf"].flatMap((key) =>
      parts(key).flatMap((part, index) => inlineObjects(part, `${where}/${key}/${index}`))
    ),
    ...parts("allOf").flatMap((part, index) => inlineObjects(part, `${where}/allOf/${index}`, named)),
  ];
}

type Body = { content?: Record<string, { schema: { type?: string } }> };

Deno.test("every body, and every object in one, is a named schema, for generated clients to name", () => {
  const document = JSON.parse(allDocuments()["public.json"]);
  const inline = Object.entries(document.components.schemas).flatMap(([name, schema]) =>
    inlineObjects(schema, name, true)
  );
  type Operation = { requestBody?: Body; responses: Record<string, Body> };
  for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, Operation>>)) {
    for (const [method, operation] of Object.entries(item)) {
      const bodies = [["request", operation.requestBody], ...Object.entries(operation.responses)] as const;
      for (const [status, body] of bodies) {
        for (const [mediaType, { schema }] of Object.entries(body?.content ?? {})) {
          // Images, pages and scripts are strings; an event stream's events are described in line.
          if (schema.type === "string" || mediaType === "text/event-stream") continue;
          if (!("$ref" in schema)) inline.push(`${method} ${path} ${status} ${mediaType}`);
        }
      }
    }
  }
  assert.deepEqual(inline, []);
});

Deno.test("no two named schemas describe the same thing: a shared one is named once", () => {
  const document = JSON.parse(allDocuments()["public.json"]);
  const names = new Map<string, string>();
  for (const [name, schema] of Object.entries(document.components.schemas)) {
    const shape = JSON.stringify(
      schema,
      (key, value) => ["description", "example"].includes(key) ? undefined : value,
    );
    assert.ok(!names.has(shape), `${name} describes what ${names.get(shape)} does`);
    names.set(shape, name);
  }
});
