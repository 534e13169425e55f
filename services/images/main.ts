/**
 * The images service's process entry: configuration, store, server, shutdown. `startImages` is also
 * how the all-in-one start and the tests run it.
 */
import { type TokenVerifier, verifierFromConfig } from "@multishop/kit/auth";
import { runMain } from "@multishop/kit/config";
import { createLogger, type Logger } from "@multishop/kit/log";
import { serveApp, shutdownOnSignal } from "@multishop/kit/serve";
import { createImagesApp } from "./app.ts";
import { type ImagesConfig, loadImagesConfig } from "./config.ts";
import { openGcsStore } from "./store/gcs.ts";
import { openLocalStore } from "./store/local.ts";
import type { ImageStore } from "./store/types.ts";

export interface ImagesRuntime {
  logger: Logger;
  /** Defaults to identity's published keys (AUTH_JWKS_URL); tests sign their own tokens. */
  verifyToken?: TokenVerifier;
}

export function openImageStore(config: ImagesConfig): Promise<ImageStore> {
  if (config.IMAGES_STORE === "local") return openLocalStore(`${config.DATA_DIR}/images`);
  return openGcsStore({
    bucket: config.IMAGES_BUCKET,
    projectId: config.GCS_PROJECT_ID,
    emulatorHost: config.STORAGE_EMULATOR_HOST,
  });
}

export async function startImages(config: ImagesConfig, runtime: ImagesRuntime) {
  const store = await openImageStore(config);
  const app = createImagesApp({
    store,
    verifyToken: runtime.verifyToken ?? verifierFromConfig(config),
    logger: runtime.logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    maxImageBytes: config.IMAGE_MAX_BYTES,
    publicUrl: config.PUBLIC_URL,
    readiness: { store: store.ping },
  });
  return {
    app,
    store,
    // Neither store keeps a connection or a handle open between requests.
    close: () => Promise.resolve(),
  };
}

if (import.meta.main) {
  await runMain(async () => {
    const config = loadImagesConfig();
    const logger = createLogger("images", config.LOG_LEVEL);
    const images = await startImages(config, { logger });
    const server = serveApp(images.app, { hostname: config.HOST, port: config.PORT });
    logger.info("images listening", { url: server.url, store: images.store.description });
    await shutdownOnSignal({
      servers: [server],
      closers: [images.close],
      logger,
      timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    });
  });
}
