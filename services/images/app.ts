/** The images service's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { type App, type AppEnv, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import { bearerSecurity, requireRole } from "@multishop/kit/auth";
import { jsonResponse, problems } from "@multishop/kit/openapi";
import { ProblemError } from "@multishop/kit/problem";
import { acceptedContentTypes, cacheForever, imageIdPattern, inspectUpload, newImageId } from "./domain.ts";
import type { ImageStore } from "./store/types.ts";

export interface ImagesAppDeps extends ServiceAppDeps {
  store: ImageStore;
  maxImageBytes: number;
  /** The base of the URLs handed out for stored images. */
  publicUrl: string;
}

export const imagesDocument = {
  title: "MultiShop Images",
  version: "1.0.0",
  description: "Uploaded product and content images (PNG, JPEG, WebP, AVIF), served with long-lived caching.",
};

const imageSchema = z.object({
  id: z.string().openapi({ example: "0b6e6a4e-6a5b-4c1e-9f57-2b8f0c1d2e3f.png" }),
  url: z.string().url(),
  contentType: z.enum(acceptedContentTypes as [string, ...string[]]),
  size: z.number().int().openapi({ description: "bytes" }),
  width: z.number().int(),
  height: z.number().int(),
}).openapi("UploadedImage");

const uploadSchema = z.strictObject({
  file: z.instanceof(File, { error: (issue) => issue.input === undefined ? "is required" : "must be a file" })
    .openapi({ type: "string", format: "binary", description: "the image; its type is read from its bytes" }),
}).openapi("ImageUpload");

const idParams = z.object({
  id: z.string().regex(imageIdPattern, "must be an image id, like <uuid>.png"),
});

const notFound = (id: string) => new ProblemError({ status: 404, detail: `there is no image ${id}` });

/**
 * Only multipart carries a file. The body is parsed here so that a malformed one answers with a
 * fitting message; the route's validator then reuses the parsed form.
 */
const multipartOnly = createMiddleware<AppEnv>(async (c, next) => {
  if (!/^multipart\/form-data\s*(;|$)/i.test(c.req.header("content-type") ?? "")) {
    throw new ProblemError({
      status: 415,
      detail: "send the image as multipart/form-data, in a file field named file",
    });
  }
  try {
    await c.req.formData();
  } catch {
    throw new ProblemError({
      status: 400,
      kind: "malformed-body",
      detail: "the request body is not valid multipart/form-data",
      errors: [{ field: "body", reason: "is not valid multipart/form-data" }],
    });
  }
  await next();
});

/** RFC 9110 §13.1.2: a weak comparison against each listed tag, or `*`. */
function matchesAny(ifNoneMatch: string | undefined, etag: string): boolean {
  return (ifNoneMatch ?? "").split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === etag;
  });
}

export function createImagesApp(deps: ImagesAppDeps): App {
  const app = createApp({
    ...imagesDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
  });

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/images",
      operationId: "uploadImage",
      tags: ["images"],
      summary: "Upload an image",
      description: "PNG, JPEG, WebP or AVIF, at most IMAGE_MAX_BYTES (5 MiB by default). The type is " +
        "read from the bytes; the file name and the declared type are ignored.",
      security: bearerSecurity,
      middleware: [requireRole("admin"), multipartOnly],
      request: { body: { required: true, content: { "multipart/form-data": { schema: uploadSchema } } } },
      responses: {
        201: jsonResponse(imageSchema, "The stored image"),
        ...problems(400, 401, 403, 413, 415),
      },
    }),
    async (c) => {
      const { file } = c.req.valid("form");
      const bytes = new Uint8Array(await file.arrayBuffer());
      const image = inspectUpload(bytes, deps.maxImageBytes);
      const id = newImageId(image.extension);
      await deps.store.put(id, bytes, image.contentType);
      const url = `${deps.publicUrl}/v1/images/${id}`;
      c.header("location", url);
      return c.json({
        id,
        url,
        contentType: image.contentType,
        size: bytes.byteLength,
        width: image.width,
        height: image.height,
      }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/images/{id}",
      operationId: "getImage",
      tags: ["images"],
      summary: "An image's bytes",
      description: "Public. Cached for a year (an id never changes its bytes); answers 304 to a current " +
        "If-None-Match.",
      request: { params: idParams },
      responses: {
        200: {
          description: "The image",
          content: Object.fromEntries(
            acceptedContentTypes.map((type) => [type, { schema: z.string().openapi({ format: "binary" }) }]),
          ),
        },
        304: { description: "Not modified: the ETag sent in If-None-Match is current" },
        ...problems(400, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const image = await deps.store.open(id);
      if (!image) throw notFound(id);
      const etag = `"${image.etag}"`;
      const caching = { etag, "cache-control": cacheForever };
      const notModified = matchesAny(c.req.header("if-none-match"), etag);
      const head = c.req.method === "HEAD"; // Hono runs this route for HEAD too
      // Neither answer sends the bytes: release the open file or download now, not at collection.
      if (notModified || head) await image.stream.cancel();
      if (notModified) return c.body(null, 304, caching);
      const headers = {
        ...caching,
        "content-type": image.contentType,
        "content-length": String(image.size),
        "x-content-type-options": "nosniff",
      };
      return head ? c.body(null, 200, headers) : c.body(image.stream, 200, headers);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/images/{id}",
      operationId: "deleteImage",
      tags: ["images"],
      summary: "Delete an image",
      description: "Needs the admin role. Caches may keep serving the image for up to a year: it was " +
        "served as immutable.",
      security: bearerSecurity,
      middleware: [requireRole("admin")],
      request: { params: idParams },
      responses: { 204: { description: "Deleted" }, ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      if (!(await deps.store.remove(id))) throw notFound(id);
      return c.body(null, 204);
    },
  );

  return app;
}
