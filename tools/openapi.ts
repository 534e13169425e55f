/**
 * `deno task openapi`: writes each service's OpenAPI document and the merged public one to openapi/.
 * `deno task openapi --check` (and the test beside this file) fails when they are out of date.
 */
import { openApiDocument } from "@multishop/kit/app";
import { createLogger } from "@multishop/kit/log";
import { catalogDocument, createCatalogApp } from "../services/catalog/app.ts";
import { createIdentityApp, type IdentityAppDeps, identityDocument } from "../services/identity/app.ts";
import { createImagesApp, imagesDocument } from "../services/images/app.ts";

type Document = ReturnType<typeof openApiDocument>;

/** Dependencies that are never called: building routes touches none of them. */
function unused<T>(name: string): T {
  return new Proxy({}, {
    get() {
      throw new Error(`${name} is not available while the OpenAPI document is generated`);
    },
  }) as T;
}

export function serviceDocuments(): Record<string, Document> {
  const logger = createLogger("openapi", "silent");
  const identityApp = createIdentityApp({
    identity: unused("identity"),
    store: unused("store"),
    keys: unused("keys"),
    tokens: unused("tokens"),
    verifyToken: unused<IdentityAppDeps["verifyToken"]>("verifyToken"),
    logger,
    bodyLimitBytes: 1,
    readiness: {},
  });
  const catalogApp = createCatalogApp({
    catalog: unused("catalog"),
    store: unused("store"),
    verifyToken: unused<IdentityAppDeps["verifyToken"]>("verifyToken"),
    logger,
    bodyLimitBytes: 1,
    readiness: {},
    cache: { maxAgeSeconds: 1, sharedMaxAgeSeconds: 1 },
    clock: () => new Date(),
  });
  const imagesApp = createImagesApp({
    store: unused("store"),
    verifyToken: unused<IdentityAppDeps["verifyToken"]>("verifyToken"),
    logger,
    bodyLimitBytes: 1,
    maxImageBytes: 1,
    publicUrl: "http://127.0.0.1:5003",
    readiness: {},
  });
  return {
    identity: openApiDocument(identityApp, identityDocument),
    catalog: openApiDocument(catalogApp, catalogDocument),
    images: openApiDocument(imagesApp, imagesDocument),
  };
}

/** The public API as one document: every service's paths, as the edge serves them. */
export function publicDocument(documents: Record<string, Document>): Document {
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const [service, document] of Object.entries(documents)) {
    for (const [path, item] of Object.entries(document.paths ?? {})) {
      if (path in paths) throw new Error(`${service} and another service both define ${path}`);
      paths[path] = item;
    }
    for (const [name, schema] of Object.entries(document.components?.schemas ?? {})) {
      if (name in schemas && JSON.stringify(schemas[name]) !== JSON.stringify(schema)) {
        throw new Error(`schema ${name} differs between ${service} and another service; rename one`);
      }
      schemas[name] = schema;
    }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "MultiShop Edge",
      version: "1.0.0",
      description:
        "The public API of the shop, as clients reach it through the edge. Errors are RFC 9457 problem documents.",
    },
    servers: [{ url: "http://127.0.0.1:8787", description: "the edge, started by `deno task start`" }],
    paths: paths as Document["paths"],
    components: {
      schemas: schemas as NonNullable<Document["components"]>["schemas"],
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    },
  };
}

export function allDocuments(): Record<string, string> {
  const documents = serviceDocuments();
  const files: Record<string, string> = {};
  for (const [service, document] of Object.entries(documents)) {
    files[`${service}.json`] = JSON.stringify(document, null, 2) + "\n";
  }
  files["public.json"] = JSON.stringify(publicDocument(documents), null, 2) + "\n";
  return files;
}

export const openapiFolder = new URL("../openapi/", import.meta.url);

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  let stale = 0;
  for (const [name, text] of Object.entries(allDocuments())) {
    const file = new URL(name, openapiFolder);
    const current = await Deno.readTextFile(file).catch(() => "");
    if (current === text) continue;
    if (check) {
      console.error(`openapi/${name} is out of date`);
      stale++;
    } else {
      await Deno.writeTextFile(file, text);
      console.log(`wrote openapi/${name}`);
    }
  }
  if (stale > 0) {
    console.error("run `deno task openapi` and commit the result");
    Deno.exit(1);
  }
  if (!check) console.log("OpenAPI documents are up to date in openapi/");
}
