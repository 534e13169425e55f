/**
 * Placeholder product photos for the demo catalog: a PNG with a soft two-colour gradient and
 * diagonal bands, its hue chosen per category. Encoded here (deflate and CRC from node:zlib) so the
 * demo needs no image files in the repository.
 */
import { crc32, deflateSync } from "node:zlib";

export function placeholderPng(
  options: { width: number; height: number; hue: number; variant: number },
): Uint8Array<ArrayBuffer> {
  const { width, height } = options;
  const rows = new Uint8Array((width * 3 + 1) * height);
  const [from, to] = [hslToRgb(options.hue, 0.45, 0.82), hslToRgb((options.hue + 25) % 360, 0.5, 0.62)];
  const band = 24 + options.variant * 10;
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    rows[row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const mix = (x + y) / (width + height);
      const shade = Math.floor((x + y) / band) % 2 === 0 ? 1 : 0.94;
      for (let channel = 0; channel < 3; channel++) {
        rows[row + 1 + x * 3 + channel] = Math.round((from[channel] * (1 - mix) + to[channel] * mix) * shade);
      }
    }
  }
  return encodePng(width, height, rows);
}

/** An 8-bit RGB PNG from its raw scanlines (each row a filter-type byte, then 3 bytes a pixel). */
export function encodePng(width: number, height: number, scanlines: Uint8Array): Uint8Array<ArrayBuffer> {
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  return concat([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", new Uint8Array(deflateSync(scanlines))),
    chunk("IEND", new Uint8Array()),
  ]);
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function hslToRgb(hue: number, saturation: number, lightness: number): [number, number, number] {
  const a = saturation * Math.min(lightness, 1 - lightness);
  const f = (n: number) => {
    const k = (n + hue / 30) % 12;
    return 255 * (lightness - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)));
  };
  return [f(0), f(8), f(4)];
}
