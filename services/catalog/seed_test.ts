import assert from "node:assert/strict";
import { demoProductCount, seedCatalog } from "./seed.ts";
import { createMemoryCatalogStore } from "./store/memory.ts";

const images = {
  url: (slug: string, variant: number) => `http://images.test/v1/images/${slug}-${variant}.png`,
};

Deno.test("the demo catalog is realistic, and seeding it twice adds nothing", async () => {
  const store = await createMemoryCatalogStore();
  const first = await seedCatalog(store, images);
  assert.equal(first.products, demoProductCount);
  const categories = await store.categories.list();
  assert.ok(categories.length >= 12);
  assert.ok(categories.filter((c) => c.parentId).length >= 5, "some categories are nested");
  assert.equal((await store.brands.list()).length, 20);
  const all = await store.products.list({
    statuses: ["draft", "active", "archived"],
    sort: "price_asc",
    limit: 1000,
  });
  assert.equal(all.length, demoProductCount);
  assert.ok(new Set(all.map((p) => p.price.amount)).size > 200, "prices vary");
  assert.ok(all.every((p) => p.images.length === 2 && p.attributes.length >= 2 && p.description.length > 20));
  assert.ok(all.filter((p) => p.status === "active").length > 400);
  assert.ok(new Set(all.map((p) => p.slug)).size === all.length, "slugs are unique");
  assert.equal((await store.content.list("sliders", { activeOnly: true })).length, 3);
  assert.ok(await store.content.about());

  const second = await seedCatalog(store, images);
  assert.equal(second.created, 0);
  assert.equal(
    (await store.products.list({ statuses: ["active", "draft", "archived"], sort: "newest", limit: 1000 }))
      .length,
    demoProductCount,
  );
  const fresh = await createMemoryCatalogStore();
  const again = await seedCatalog(fresh, images);
  assert.equal(again.created, first.created);
  const ids = async (seeded: typeof store) => ({
    categories: (await seeded.categories.list()).map((c) => c.id).sort(),
    brands: (await seeded.brands.list()).map((b) => b.id).sort(),
    products: (await seeded.products.list({
      statuses: ["draft", "active", "archived"],
      sort: "newest",
      limit: 1000,
    })).map((p) => p.id).sort(),
  });
  assert.deepEqual(await ids(fresh), await ids(store), "a fresh store gets the same ids");
  await fresh.close();
  await store.close();
});
