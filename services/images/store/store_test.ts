/** One contract, run against every image store: a temporary folder, and a fresh bucket on fake-gcs-server. */
import assert from "node:assert/strict";
import { newImageId } from "../domain.ts";
import { loadImagesConfig } from "../config.ts";
import { openImageStore } from "../main.ts";
import { png, randomBytes, sha256, storeTargets } from "../test_support.ts";

for (const target of await storeTargets()) {
  Deno.test({ name: `image store contract on ${target.name}`, ignore: Boolean(target.skip) }, async (t) => {
    const { env, drop } = await target.open();
    try {
      const store = await openImageStore(loadImagesConfig(env));
      await store.ping();

      await t.step("put then open gives back the same bytes, content type and size", async () => {
        const id = newImageId("png");
        const bytes = png(5, 4);
        await store.put(id, bytes, "image/png");
        const image = await store.open(id);
        assert.ok(image);
        assert.equal(image.contentType, "image/png");
        assert.equal(image.size, bytes.length);
        assert.ok(image.etag);
        assert.equal(await sha256(image.stream), await sha256(bytes));
      });

      await t.step("the ETag follows the bytes", async () => {
        const [first, same, other] = [newImageId("png"), newImageId("png"), newImageId("png")];
        await store.put(first, png(2, 2), "image/png");
        await store.put(same, png(2, 2), "image/png");
        await store.put(other, png(3, 3), "image/png");
        const etags = [];
        for (const id of [first, same, other]) {
          const image = (await store.open(id))!;
          await image.stream.cancel();
          etags.push(image.etag);
        }
        assert.equal(etags[0], etags[1]);
        assert.notEqual(etags[0], etags[2]);
      });

      await t.step("open of an unknown id answers undefined", async () => {
        assert.equal(await store.open(newImageId("webp")), undefined);
      });

      await t.step("remove answers true, and the image is gone", async () => {
        const id = newImageId("jpg");
        await store.put(id, png(2, 2), "image/jpeg");
        assert.equal(await store.remove(id), true);
        assert.equal(await store.open(id), undefined);
        assert.equal(await store.remove(id), false);
      });

      await t.step("remove of an unknown id answers false", async () => {
        assert.equal(await store.remove(newImageId("avif")), false);
      });

      await t.step("a 3 MB object streams back intact, in many chunks", async () => {
        const id = newImageId("png");
        const bytes = randomBytes(3_000_000);
        await store.put(id, bytes, "image/png");
        const image = (await store.open(id))!;
        assert.equal(image.size, bytes.length);
        const chunks: Uint8Array[] = [];
        for await (const chunk of image.stream) chunks.push(chunk);
        assert.ok(chunks.length > 1, `${chunks.length} chunk(s)`);
        assert.equal(await sha256(ReadableStream.from(chunks)), await sha256(bytes));
      });

      await t.step("a stream cancelled part-way leaves the store working", async () => {
        const id = newImageId("png");
        await store.put(id, randomBytes(2_000_000), "image/png");
        const reader = (await store.open(id))!.stream.getReader();
        await reader.read();
        await reader.cancel();
        const again = (await store.open(id))!;
        assert.equal((await new Response(again.stream).arrayBuffer()).byteLength, 2_000_000);
      });

      if (target.name === "local") {
        await t.step("names that are not image ids never reach the file system", async () => {
          for (const id of ["../escape.png", "/etc/passwd", "a/b.png"]) {
            await assert.rejects(store.put(id, png(1, 1), "image/png"), /not an image id/);
            await assert.rejects(store.open(id), /not an image id/);
          }
        });
      }
    } finally {
      await drop();
    }
  });
}
