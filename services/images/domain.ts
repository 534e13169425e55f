/** What an acceptable image is, how images are named, and how an upload is judged. No I/O. */
import { imageSize } from "image-size";
import { ProblemError } from "@multishop/kit/problem";

/**
 * The accepted formats, keyed by the type name image-size reports. Raster formats only: SVG can
 * carry scripts, and GIF, TIFF, BMP, HEIC and the rest are not what a storefront should serve.
 */
const accepted = new Map([
  ["png", { contentType: "image/png", extension: "png" }],
  ["jpg", { contentType: "image/jpeg", extension: "jpg" }],
  ["webp", { contentType: "image/webp", extension: "webp" }],
  // image-size detects every HEIF flavour as "heif" but reports the file's major brand as its
  // type, so an AVIF file (major brand `avif`) arrives here as "avif" and HEIC as "heic".
  ["avif", { contentType: "image/avif", extension: "avif" }],
]);

export const acceptedContentTypes = [...accepted.values()].map((format) => format.contentType);

export interface DetectedImage {
  contentType: string;
  extension: string;
  width: number;
  height: number;
}

/** The format and dimensions the bytes themselves declare; undefined for anything not accepted. */
export function detectImage(bytes: Uint8Array): DetectedImage | undefined {
  let size;
  try {
    size = imageSize(bytes);
  } catch {
    return undefined; // image-size throws on unknown and on truncated input alike
  }
  const format = accepted.get(size.type ?? "");
  if (!format || !(size.width > 0 && size.height > 0)) return undefined;
  return { ...format, width: size.width, height: size.height };
}

/**
 * Ids are generated here (and, for the demo images, derived from names with kit/digest stableUuid), so a
 * strict pattern keeps anything else, and every path trick, out.
 */
export const imageIdPattern = new RegExp(
  `^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\\.(${
    [...accepted.values()].map((format) => format.extension).join("|")
  })$`,
);

/** An id always names the same bytes (an upload gets a new id), so caches may keep an image forever. */
export const cacheForever = "public, max-age=31536000, immutable";

export function newImageId(extension: string): string {
  return `${crypto.randomUUID()}.${extension}`;
}

/** Judges an upload by its size and its bytes, never by the name or type the client declared. */
export function inspectUpload(bytes: Uint8Array, maxBytes: number): DetectedImage {
  if (bytes.byteLength > maxBytes) {
    throw new ProblemError({
      status: 413,
      kind: "image-too-large",
      detail: `the file has ${bytes.byteLength} bytes; images may have at most ${maxBytes}`,
    });
  }
  const image = detectImage(bytes);
  if (!image) {
    throw new ProblemError({
      status: 415,
      kind: "unsupported-image",
      detail: `the file is not an image this service accepts; send ${acceptedContentTypes.join(", ")}`,
    });
  }
  return image;
}
