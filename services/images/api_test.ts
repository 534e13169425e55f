/** The images service over HTTP, on each store target: uploads, downloads, caching, refusals. */
import assert from "node:assert/strict";
import { imageIdPattern, newImageId } from "./domain.ts";
import { fixtures, png, randomBytes, startTestImages, storeTargets, testPublicUrl } from "./test_support.ts";

const maxImageBytes = 4096;

interface UploadOptions {
  token?: string;
  type?: string;
  name?: string;
  field?: string;
}

function upload(base: string, bytes: Uint8Array<ArrayBuffer> | string, options: UploadOptions = {}) {
  const form = new FormData();
  const { field = "file", type = "application/octet-stream", name = "upload.bin" } = options;
  if (typeof bytes === "string") form.append(field, bytes);
  else form.append(field, new File([bytes], name, { type }));
  return fetch(`${base}/v1/images`, {
    method: "POST",
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    body: form,
  });
}

async function problemFields(response: Response): Promise<string[]> {
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  return ((await response.json()).errors ?? []).map((error: { field: string }) => error.field);
}

for (const target of await storeTargets()) {
  Deno.test({ name: `images API on ${target.name}`, ignore: Boolean(target.skip) }, async (t) => {
    const images = await startTestImages(target, { IMAGE_MAX_BYTES: String(maxImageBytes) });
    const base = images.url;
    const admin = await images.tokens.admin();
    const customer = await images.tokens.customer();
    const asAdmin = { authorization: `Bearer ${admin}` };

    try {
      await t.step("an admin uploads PNG, JPEG, WebP and AVIF; each comes back byte for byte", async () => {
        const cases = [
          { bytes: png(3, 2), type: "image/png", width: 3, height: 2 },
          { ...fixtures.jpeg, type: "image/jpeg" },
          { ...fixtures.webp, type: "image/webp" },
          { ...fixtures.avif, type: "image/avif" },
        ];
        for (const { bytes, type, width, height } of cases) {
          const response = await upload(base, bytes, { token: admin, type, name: "photo" });
          assert.equal(response.status, 201, type);
          const body = await response.json();
          assert.match(body.id, imageIdPattern);
          assert.deepEqual(body, {
            id: body.id,
            url: `${testPublicUrl}/v1/images/${body.id}`,
            contentType: type,
            size: bytes.length,
            width,
            height,
          });
          assert.equal(response.headers.get("location"), body.url);

          const download = await fetch(`${base}/v1/images/${body.id}`);
          assert.equal(download.status, 200);
          assert.equal(download.headers.get("content-type"), type);
          assert.equal(download.headers.get("content-length"), String(bytes.length));
          assert.equal(download.headers.get("cache-control"), "public, max-age=31536000, immutable");
          assert.equal(download.headers.get("x-content-type-options"), "nosniff");
          assert.deepEqual(new Uint8Array(await download.arrayBuffer()), bytes);
        }
      });

      await t.step("a current ETag answers 304; HEAD answers the headers alone", async () => {
        const { id } = await (await upload(base, png(4, 4), { token: admin })).json();
        const first = await fetch(`${base}/v1/images/${id}`);
        await first.body?.cancel();
        const etag = first.headers.get("etag")!;
        assert.match(etag, /^"[^"]+"$/);
        for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
          const cached = await fetch(`${base}/v1/images/${id}`, {
            headers: { "if-none-match": ifNoneMatch },
          });
          assert.equal(cached.status, 304, ifNoneMatch);
          assert.equal(cached.headers.get("etag"), etag);
          assert.equal(await cached.text(), "");
        }
        const stale = await fetch(`${base}/v1/images/${id}`, { headers: { "if-none-match": '"other"' } });
        assert.equal(stale.status, 200);
        await stale.body?.cancel();
        const head = await fetch(`${base}/v1/images/${id}`, { method: "HEAD" });
        assert.equal(head.status, 200);
        assert.equal(head.headers.get("content-type"), "image/png");
        assert.equal(head.headers.get("etag"), etag);
        assert.equal(head.headers.get("content-length"), first.headers.get("content-length"));
        assert.equal(await head.text(), "");
      });

      await t.step("delete answers 204, then the image is gone", async () => {
        const { id } = await (await upload(base, png(2, 2), { token: admin })).json();
        const deleted = await fetch(`${base}/v1/images/${id}`, { method: "DELETE", headers: asAdmin });
        assert.equal(deleted.status, 204);
        assert.equal((await fetch(`${base}/v1/images/${id}`)).status, 404);
        const again = await fetch(`${base}/v1/images/${id}`, { method: "DELETE", headers: asAdmin });
        assert.equal(again.status, 404);
        assert.equal((await again.json()).status, 404);
      });

      await t.step("the type comes from the bytes: a PNG sent as a JPEG is stored as a PNG", async () => {
        const response = await upload(base, png(2, 3), {
          token: admin,
          type: "image/jpeg",
          name: "photo.jpg",
        });
        assert.equal(response.status, 201);
        const body = await response.json();
        assert.equal(body.contentType, "image/png");
        assert.match(body.id, /\.png$/);
        const download = await fetch(`${base}/v1/images/${body.id}`);
        assert.equal(download.headers.get("content-type"), "image/png");
        await download.body?.cancel();
      });

      await t.step("text, HTML, SVG, GIF and empty files answer 415, whatever they claim to be", async () => {
        const encode = (text: string) => new TextEncoder().encode(text);
        const refused = [
          { bytes: encode("plain words"), type: "text/plain", name: "notes.txt" },
          { bytes: encode("<!doctype html><script>alert(1)</script>"), type: "image/png", name: "x.png" },
          {
            bytes: encode(
              '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><script>alert(1)</script></svg>',
            ),
            type: "image/svg+xml",
            name: "logo.svg",
          },
          { bytes: fixtures.gif.bytes, type: "image/gif", name: "dot.gif" },
          { bytes: new Uint8Array(), type: "image/png", name: "empty.png" },
        ];
        for (const { bytes, type, name } of refused) {
          const response = await upload(base, bytes, { token: admin, type, name });
          assert.equal(response.status, 415, name);
          assert.equal((await response.json()).type, "urn:multishop:problem:unsupported-image");
        }
      });

      await t.step(
        "an image over IMAGE_MAX_BYTES answers 413, and so does a body over the limit",
        async () => {
          const tooLarge = png(64, 64);
          assert.ok(tooLarge.length > maxImageBytes);
          const response = await upload(base, tooLarge, { token: admin, type: "image/png" });
          assert.equal(response.status, 413);
          assert.equal((await response.json()).type, "urn:multishop:problem:image-too-large");
          const huge = await upload(base, randomBytes(200_000), { token: admin });
          assert.equal(huge.status, 413);
          assert.equal((await huge.json()).type, "urn:multishop:problem:body-too-large");
        },
      );

      await t.step("a form without a file in field `file` answers 400 naming file", async () => {
        const wrongField = await upload(base, png(2, 2), { token: admin, field: "image" });
        assert.equal(wrongField.status, 400);
        assert.ok((await problemFields(wrongField)).includes("file"));
        const notAFile = await upload(base, "just text", { token: admin });
        assert.equal(notAFile.status, 400);
        assert.deepEqual(await problemFields(notAFile), ["file"]);
      });

      await t.step("a body that is not multipart answers 415; broken multipart 400", async () => {
        const post = (body: BodyInit, type: string) =>
          fetch(`${base}/v1/images`, { method: "POST", headers: { ...asAdmin, "content-type": type }, body });
        for (
          const [body, type] of [
            [png(2, 2), "image/png"],
            [JSON.stringify({ file: "x" }), "application/json"],
            ["file=x", "application/x-www-form-urlencoded"],
          ] as const
        ) {
          const response = await post(body, type);
          assert.equal(response.status, 415, type);
          assert.equal(response.headers.get("content-type"), "application/problem+json");
        }
        for (const type of ["multipart/form-data; boundary=abc", "multipart/form-data"]) {
          const broken = await post("no parts at all", type);
          assert.equal(broken.status, 400, type);
          assert.deepEqual(await problemFields(broken), ["body"]);
        }
      });

      await t.step("uploads and deletes need an admin: 401 without a token, 403 for a customer", async () => {
        const id = newImageId("png");
        assert.equal((await upload(base, png(2, 2))).status, 401);
        assert.equal((await upload(base, png(2, 2), { token: customer })).status, 403);
        assert.equal((await fetch(`${base}/v1/images/${id}`, { method: "DELETE" })).status, 401);
        const forbidden = await fetch(`${base}/v1/images/${id}`, {
          method: "DELETE",
          headers: { authorization: `Bearer ${customer}` },
        });
        assert.equal(forbidden.status, 403);
      });

      await t.step("a malformed id answers 400 naming path.id; an unknown one 404", async () => {
        for (
          const id of [
            "abc",
            "..%2Fsecret.png",
            `${crypto.randomUUID()}.gif`,
            newImageId("png").toUpperCase(),
          ]
        ) {
          const response = await fetch(`${base}/v1/images/${id}`);
          assert.equal(response.status, 400, id);
          assert.deepEqual(await problemFields(response), ["path.id"]);
          const deleted = await fetch(`${base}/v1/images/${id}`, { method: "DELETE", headers: asAdmin });
          assert.equal(deleted.status, 400, id);
          await deleted.body?.cancel();
        }
        const unknown = await fetch(`${base}/v1/images/${newImageId("webp")}`);
        assert.equal(unknown.status, 404);
        await unknown.body?.cancel();
      });

      await t.step("a client that goes away mid-download leaves the service serving", async () => {
        const id = newImageId("png");
        await images.store.put(id, randomBytes(3_000_000), "image/png");
        const abort = new AbortController();
        const response = await fetch(`${base}/v1/images/${id}`, { signal: abort.signal });
        await response.body!.getReader().read();
        abort.abort();
        await new Promise((resolve) => setTimeout(resolve, 50));
        const whole = await fetch(`${base}/v1/images/${id}`);
        assert.equal((await whole.arrayBuffer()).byteLength, 3_000_000);
      });

      await t.step("readiness checks the store; the API document declares the multipart upload", async () => {
        const ready = await fetch(`${base}/health/ready`);
        assert.equal(ready.status, 200);
        assert.deepEqual(await ready.json(), { status: "ready", checks: { store: "ok" } });
        const document = await (await fetch(`${base}/openapi.json`)).json();
        const operation = document.paths["/v1/images"].post;
        assert.deepEqual(Object.keys(operation.requestBody.content), ["multipart/form-data"]);
        assert.deepEqual(operation.requestBody.content["multipart/form-data"].schema, {
          $ref: "#/components/schemas/ImageUpload",
        });
        assert.equal(document.components.schemas.ImageUpload.properties.file.format, "binary");
        assert.ok(document.paths["/v1/images/{id}"].get);
        assert.ok(document.paths["/v1/images/{id}"].delete);
      });
    } finally {
      await images.close();
    }
  });
}
