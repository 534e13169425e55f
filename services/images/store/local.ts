/**
 * Images in a local folder: the embedded default. Each image is two files, the bytes (`<id>`) and a
 * small JSON sidecar (`<id>.json`) with its content type and ETag. Both are written to a temporary
 * name and renamed into place, so a reader never sees half a file; the sidecar is written last and
 * removed first, so its presence is what makes an image exist.
 */
import { join } from "node:path";
import { base64url } from "jose";
import { imageIdPattern } from "../domain.ts";
import type { ImageStore } from "./types.ts";

interface Sidecar {
  contentType: string;
  etag: string;
}

export async function openLocalStore(dir: string): Promise<ImageStore> {
  await Deno.mkdir(dir, { recursive: true });

  // Ids come from the route's pattern; checking again here keeps every other name (`..`, `/`) out
  // of the folder even if a future caller forgets.
  const path = (id: string, suffix = "") => {
    if (!imageIdPattern.test(id)) throw new Error(`not an image id: ${JSON.stringify(id)}`);
    return join(dir, id + suffix);
  };

  async function readSidecar(id: string): Promise<Sidecar | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(path(id, ".json")));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  return {
    description: `local folder ${dir}`,

    async put(id, bytes, contentType) {
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      const sidecar: Sidecar = { contentType, etag: base64url.encode(digest) };
      await writeAtomically(path(id), bytes);
      await writeAtomically(path(id, ".json"), new TextEncoder().encode(JSON.stringify(sidecar)));
    },

    async open(id) {
      const sidecar = await readSidecar(id);
      if (!sidecar) return undefined;
      let file: Deno.FsFile;
      try {
        file = await Deno.open(path(id));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return undefined; // removed since the sidecar was read
        throw error;
      }
      try {
        const { size } = await file.stat();
        // The readable closes the file when it is read to the end or cancelled.
        return { stream: file.readable, size, ...sidecar };
      } catch (error) {
        file.close();
        throw error;
      }
    },

    async remove(id) {
      const existed = await removeIfPresent(path(id, ".json"));
      await removeIfPresent(path(id));
      return existed;
    },

    async ping() {
      await Deno.stat(dir);
    },
  };
}

async function writeAtomically(target: string, data: Uint8Array) {
  const temporary = `${target}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeFile(temporary, data);
    await Deno.rename(temporary, target);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

async function removeIfPresent(target: string): Promise<boolean> {
  try {
    await Deno.remove(target);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
