import assert from "node:assert/strict";
import type { ProblemError } from "@multishop/kit/problem";
import { detectImage, imageIdPattern, inspectUpload, newImageId } from "./domain.ts";
import { fixtures, png } from "./test_support.ts";

const text = (value: string) => new TextEncoder().encode(value);

Deno.test("the accepted formats are detected from their bytes, with their dimensions", () => {
  assert.deepEqual(detectImage(png(3, 2)), {
    contentType: "image/png",
    extension: "png",
    width: 3,
    height: 2,
  });
  assert.deepEqual(detectImage(fixtures.jpeg.bytes), {
    contentType: "image/jpeg",
    extension: "jpg",
    width: 1,
    height: 1,
  });
  assert.deepEqual(detectImage(fixtures.webp.bytes), {
    contentType: "image/webp",
    extension: "webp",
    width: 2,
    height: 2,
  });
  assert.deepEqual(detectImage(fixtures.avif.bytes), {
    contentType: "image/avif",
    extension: "avif",
    width: 2,
    height: 2,
  });
});

Deno.test("the generated PNG and the JPEG and WebP fixtures decode with a real decoder", async () => {
  for (
    const [bytes, type, width, height] of [
      [png(3, 2), "image/png", 3, 2],
      [fixtures.jpeg.bytes, "image/jpeg", 1, 1],
      [fixtures.webp.bytes, "image/webp", 2, 2],
    ] as const
  ) {
    const bitmap = await createImageBitmap(new Blob([bytes], { type }));
    assert.deepEqual([bitmap.width, bitmap.height], [width, height], type);
  }
});

Deno.test("everything else is refused: SVG, GIF, HEIC, HTML, text, truncated and empty files", () => {
  const heic = fixtures.avif.bytes.slice();
  heic.set(text("heic"), 8); // the major brand: image-size then reports "heic"
  const refused = {
    svg: text('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><script>alert(1)</script></svg>'),
    gif: fixtures.gif.bytes,
    heic,
    html: text("<!doctype html><html><body>hi</body></html>"),
    text: text("just some words"),
    truncatedPng: png(3, 2).subarray(0, 12),
    empty: new Uint8Array(),
  };
  for (const [name, bytes] of Object.entries(refused)) assert.equal(detectImage(bytes), undefined, name);
});

Deno.test("an upload over the limit answers 413, one that is no image 415", () => {
  const image = png(3, 2);
  assert.equal(inspectUpload(image, image.length).contentType, "image/png");
  assert.throws(() => inspectUpload(image, image.length - 1), (error: ProblemError) => {
    assert.equal(error.problem.status, 413);
    return true;
  });
  assert.throws(() => inspectUpload(text("GIF89a nope"), 1000), (error: ProblemError) => {
    assert.equal(error.problem.status, 415);
    return true;
  });
});

Deno.test("image ids: generated ones match, nothing else does", () => {
  for (const extension of ["png", "jpg", "webp", "avif"]) assert.match(newImageId(extension), imageIdPattern);
  const id = newImageId("png");
  for (const bad of [id.toUpperCase(), id.replace(".png", ".gif"), `../${id}`, `${id}/x`, id.slice(1), ""]) {
    assert.doesNotMatch(bad, imageIdPattern, bad);
  }
});
