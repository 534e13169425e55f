/** Demo images: four placeholder photos per category, stored once under ids derived from their names. */
import { stableUuid } from "@multishop/kit/digest";
import { placeholderPng } from "./placeholder.ts";
import type { ImageStore } from "./store/types.ts";

export const demoVariants = 4;

/** Stores what is missing and answers the URL of each category's variants. */
export async function seedDemoImages(store: ImageStore, publicUrl: string, categorySlugs: string[]) {
  const urls = new Map<string, string>();
  for (const [index, slug] of categorySlugs.entries()) {
    for (let variant = 0; variant < demoVariants; variant++) {
      const id = `${await stableUuid(`multishop:image:${slug}:${variant}`)}.png`;
      const existing = await store.open(id);
      if (existing) {
        await existing.stream.cancel();
      } else {
        const hue = Math.round((index * 360) / categorySlugs.length);
        await store.put(id, placeholderPng({ width: 800, height: 800, hue, variant }), "image/png");
      }
      urls.set(`${slug}:${variant}`, `${publicUrl}/v1/images/${id}`);
    }
  }
  return {
    url(slug: string, variant: number): string {
      const url = urls.get(`${slug}:${variant % demoVariants}`);
      if (!url) throw new Error(`no demo image for category ${slug}`);
      return url;
    },
  };
}
