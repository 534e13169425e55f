/**
 * Test helpers: real images to upload, the store targets a suite runs against (a temporary folder
 * always, a fresh bucket on fake-gcs-server when STORAGE_EMULATOR_HOST answers; with
 * MULTISHOP_REQUIRE_INFRA=1 an unreachable emulator fails the suite instead of skipping it, as
 * kit's postgresTargets does), and the service on a free port.
 */
import { createLogger } from "@multishop/kit/log";
import { infraRequired, serveForTest, testTokenIssuer } from "@multishop/kit/testing";
import { loadImagesConfig } from "./config.ts";
import { startImages } from "./main.ts";
import { encodePng } from "./placeholder.ts";
import { gcsClient } from "./store/gcs.ts";

const readFixture = (name: string) => Deno.readFile(new URL(`./testdata/${name}`, import.meta.url));

/**
 * Tiny known-good files: each decodes in browsers (they are the WebP and AVIF probes feature
 * detection scripts use) and in Deno's createImageBitmap (all but AVIF, which it cannot decode).
 */
export const fixtures = {
  jpeg: { bytes: await readFixture("1x1.jpg"), width: 1, height: 1 },
  webp: { bytes: await readFixture("2x2.webp"), width: 2, height: 2 },
  avif: { bytes: await readFixture("2x2.avif"), width: 2, height: 2 },
  gif: { bytes: await readFixture("1x1.gif"), width: 1, height: 1 },
};

/** A valid 8-bit RGB PNG with correct CRCs; its pixels vary, so its size grows with its area. */
export function png(width: number, height: number): Uint8Array<ArrayBuffer> {
  const stride = 1 + width * 3; // a filter-type byte (0, none) before each row
  const pixels = new Uint8Array(stride * height);
  let seed = width * 31 + height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width * 3; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      pixels[y * stride + 1 + x] = seed >>> 24;
    }
  }
  return encodePng(width, height, pixels);
}

export async function sha256(data: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>): Promise<string> {
  const bytes = data instanceof Uint8Array ? data : await new Response(data).arrayBuffer();
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).toHex();
}

export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  // getRandomValues fills at most 64 KiB a call.
  for (let offset = 0; offset < length; offset += 65_536) {
    crypto.getRandomValues(bytes.subarray(offset, offset + 65_536));
  }
  return bytes;
}

export interface StoreTarget {
  name: "local" | "gcs";
  /** Set when the target cannot run here and the suite may skip it. */
  skip?: string;
  /** The variables that point the service at a fresh, empty store, and how to delete that store. */
  open(): Promise<{ env: Record<string, string>; drop(): Promise<void> }>;
}

export async function storeTargets(): Promise<StoreTarget[]> {
  const local: StoreTarget = {
    name: "local",
    async open() {
      const dir = await Deno.makeTempDir({ prefix: "multishop-images-" });
      return {
        env: { IMAGES_STORE: "local", DATA_DIR: dir },
        drop: () => Deno.remove(dir, { recursive: true }),
      };
    },
  };
  const unreachable = await emulatorProblem();
  const gcs: StoreTarget = {
    name: "gcs",
    skip: unreachable && !infraRequired ? unreachable : undefined,
    // deno-lint-ignore require-await
    async open() {
      if (unreachable) throw new Error(`fake-gcs-server is required but ${unreachable}`);
      const emulatorHost = Deno.env.get("STORAGE_EMULATOR_HOST")!;
      const bucket = `test-${crypto.randomUUID()}`;
      return {
        env: { IMAGES_STORE: "gcs", STORAGE_EMULATOR_HOST: emulatorHost, IMAGES_BUCKET: bucket },
        async drop() {
          const handle = gcsClient({ bucket, projectId: "test", emulatorHost }).bucket(bucket);
          if (!(await handle.exists())[0]) return;
          await handle.deleteFiles({ force: true });
          await handle.delete();
        },
      };
    },
  };
  if (gcs.skip) console.log(`%cskipping GCS tests: ${gcs.skip}`, "color: yellow");
  return [local, gcs];
}

async function emulatorProblem(): Promise<string | undefined> {
  const host = Deno.env.get("STORAGE_EMULATOR_HOST");
  if (!host) {
    return "STORAGE_EMULATOR_HOST is not set (start servers with `deno task infra:up` and export what it prints)";
  }
  try {
    const response = await fetch(`${host}/storage/v1/b?project=test`, { signal: AbortSignal.timeout(3_000) });
    await response.body?.cancel();
    return response.ok ? undefined : `STORAGE_EMULATOR_HOST (${host}) answers ${response.status}`;
  } catch (error) {
    return `STORAGE_EMULATOR_HOST (${host}) does not answer: ${(error as Error).message}`;
  }
}

export const testPublicUrl = "http://images.test";

/** The service on one store target, verifying tokens from a test issuer. */
export async function startTestImages(target: StoreTarget, env: Record<string, string> = {}) {
  const tokens = await testTokenIssuer();
  const store = await target.open();
  try {
    const config = loadImagesConfig({ LOG_LEVEL: "silent", PUBLIC_URL: testPublicUrl, ...store.env, ...env });
    const images = await startImages(config, {
      logger: createLogger("images", "silent"),
      verifyToken: tokens.verifyToken,
    });
    const server = serveForTest(images.app);
    return {
      url: server.url,
      tokens,
      store: images.store,
      async close() {
        await server.close();
        await images.close();
        await store.drop();
      },
    };
  } catch (error) {
    await store.drop();
    throw error;
  }
}
