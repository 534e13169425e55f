/**
 * Images in a Google Cloud Storage bucket: production, or fake-gcs-server when an emulator URL is
 * given. Uploads, deletes and bucket calls go through the official client; downloads are one plain
 * `fetch` of the object's media URL (see `open`).
 */
import { Storage } from "@google-cloud/storage";
import { cacheForever } from "../domain.ts";
import type { ImageStore } from "./types.ts";

export interface GcsOptions {
  bucket: string;
  projectId: string;
  /** fake-gcs-server's URL, like http://127.0.0.1:4443; unset for Google Cloud itself. */
  emulatorHost?: string;
}

export function gcsClient(options: GcsOptions): Storage {
  const storage = new Storage({ projectId: options.projectId, apiEndpoint: options.emulatorHost });
  // The client takes STORAGE_EMULATOR_HOST from the environment as its JSON API base verbatim, so
  // with the usual `http://host:port` every call misses the `/storage/v1` prefix and answers 404
  // (apiEndpoint does not override it). Setting the base from the endpoint makes both work.
  if (options.emulatorHost) storage.baseUrl = `${storage.apiEndpoint}/storage/v1`;
  return storage;
}

export async function openGcsStore(options: GcsOptions): Promise<ImageStore> {
  const storage = gcsClient(options);
  const bucket = storage.bucket(options.bucket);
  const [exists] = await bucket.exists();
  if (!exists) {
    await bucket.create().catch((error) => {
      if (error.code !== 409) throw error; // another instance created it meanwhile
    });
  }
  const objectUrl = (id: string) =>
    `${storage.apiEndpoint}/storage/v1/b/${encodeURIComponent(options.bucket)}/o/${encodeURIComponent(id)}`;

  return {
    description: `GCS bucket ${options.bucket}${options.emulatorHost ? ` at ${options.emulatorHost}` : ""}`,

    async put(id, bytes, contentType) {
      await bucket.file(id).save(bytes, {
        resumable: false, // images are small: one request, no upload session
        contentType,
        metadata: { cacheControl: cacheForever },
      });
    },

    // The client's createReadStream, under Deno, crashes the process with an unhandled "socket hang
    // up" when the stream is cancelled early (a browser that navigates away), and warns about
    // leaking listeners on every read. A fetch body streams the same bytes and cancels cleanly.
    async open(id) {
      // The emulator takes no credentials; the client leaves them off for a custom endpoint too.
      const headers = options.emulatorHost ? undefined : await storage.authClient.getRequestHeaders();
      const response = await fetch(`${objectUrl(id)}?alt=media`, { headers });
      if (response.status === 404) {
        await response.body?.cancel();
        return undefined;
      }
      if (!response.ok || !response.body) {
        const text = await response.text();
        throw new Error(`GCS answered ${response.status} reading ${id}: ${text.slice(0, 200)}`);
      }
      const md5 = /(?:^|,)\s*md5=([^,]+)/.exec(response.headers.get("x-goog-hash") ?? "")?.[1];
      return {
        stream: response.body,
        size: Number(
          response.headers.get("content-length") ?? response.headers.get("x-goog-stored-content-length"),
        ),
        contentType: response.headers.get("content-type") ?? "application/octet-stream",
        // An id is never reused for other bytes, so it is a valid last resort.
        etag: md5 ?? response.headers.get("x-goog-generation") ?? id,
      };
    },

    async remove(id) {
      try {
        await bucket.file(id).delete();
        return true;
      } catch (error) {
        if ((error as { code?: number }).code === 404) return false;
        throw error;
      }
    },

    async ping() {
      await bucket.getMetadata();
    },
  };
}
