/** One suite, two stores: what the catalog relies on holds on MongoDB/FerretDB and in process alike. */
import assert from "node:assert/strict";
import { DuplicateSlugError, type Product, type ProductQuery, sortValue } from "../domain/model.ts";
import { foldText } from "../domain/text.ts";
import { productChanged, productCreated, productDeleted } from "../events.ts";
import { brand, catalogStoreTargets, category, nextTime, product } from "../test_support.ts";
import type { CatalogStore } from "./types.ts";

const query = (overrides: Partial<ProductQuery> = {}): ProductQuery => ({
  statuses: ["active"],
  sort: "newest",
  limit: 100,
  ...overrides,
});

const names = (products: Product[]) => products.map((p) => p.name);

async function walk(
  store: CatalogStore,
  base: ProductQuery,
  pageSize: number,
  between?: () => Promise<void>,
) {
  const seen: Product[] = [];
  let after: ProductQuery["after"];
  for (let page = 0; page < 1000; page++) {
    const items = await store.products.list({ ...base, limit: pageSize, after });
    seen.push(...items);
    if (items.length < pageSize) return seen;
    const last = items.at(-1)!;
    after = { value: sortValue(last, base.sort), id: last.id };
    await between?.();
  }
  throw new Error("paging did not end");
}

for (const target of await catalogStoreTargets()) {
  Deno.test({ name: `catalog store contract: ${target.name}`, ignore: Boolean(target.skip) }, async (t) => {
    const { store, close } = await target.open();
    try {
      const clothing = category("Clothing", undefined, 1);
      const shirts = category("Shirts", clothing, 2);
      const kitchen = category("Kitchen", undefined, 0);
      for (const c of [clothing, shirts, kitchen]) await store.categories.insert(c);
      const acme = brand("Acmé Wear");
      const chef = brand("Chef Works");
      for (const b of [acme, chef]) await store.brands.insert(b);
      const items = [
        product("Linen Shirt", { price: 4500, category: shirts, brand: acme }),
        product("Crème Apron", {
          price: 1999,
          category: kitchen,
          brand: chef,
          description: "Cotton, machine washable",
        }),
        product("Denim Jacket", { price: 8900, category: clothing, brand: acme }),
        product("Éclair Mould", { price: 1500, category: kitchen, brand: chef }),
        product("Oxford Shirt", { price: 4500, category: shirts }),
        product("Wool Scarf", { price: 2500, category: clothing, status: "draft" }),
        product("Old Hat", { price: 900, category: clothing, status: "archived" }),
      ];
      for (const p of items) await store.products.insert(p);

      await t.step("categories sort by order then name; brands by name", async () => {
        assert.deepEqual((await store.categories.list()).map((c) => c.name), [
          "Kitchen",
          "Clothing",
          "Shirts",
        ]);
        assert.deepEqual((await store.brands.list()).map((b) => b.name), ["Acmé Wear", "Chef Works"]);
      });

      await t.step("slugs are unique in each collection, on insert and on replace", async () => {
        await assert.rejects(
          store.categories.insert({ ...category("Other"), slug: clothing.slug }),
          DuplicateSlugError,
        );
        await assert.rejects(store.brands.insert({ ...brand("Other"), slug: acme.slug }), DuplicateSlugError);
        await assert.rejects(
          store.products.insert({ ...product("Other", { category: kitchen }), slug: items[0].slug }),
          DuplicateSlugError,
        );
        await assert.rejects(
          store.products.replace({ ...items[1], slug: items[0].slug }, {
            expectedUpdatedAt: items[1].updatedAt,
            events: [],
          }),
          DuplicateSlugError,
        );
        const sameSlugOtherCollection = { ...brand("Clothing"), slug: clothing.slug };
        await store.brands.insert(sameSlugOtherCollection);
        await store.brands.remove(sameSlugOtherCollection.id);
      });

      await t.step("public listing shows active products only", async () => {
        assert.deepEqual(
          names(await store.products.list(query())),
          ["Oxford Shirt", "Éclair Mould", "Denim Jacket", "Crème Apron", "Linen Shirt"],
        );
        assert.equal((await store.products.list(query({ statuses: ["draft", "archived"] }))).length, 2);
      });

      await t.step("a category filter includes its children", async () => {
        assert.deepEqual(
          names(await store.products.list(query({ categoryId: clothing.id, sort: "name" }))),
          ["Denim Jacket", "Linen Shirt", "Oxford Shirt"],
        );
        assert.deepEqual(names(await store.products.list(query({ categoryId: shirts.id, sort: "name" }))), [
          "Linen Shirt",
          "Oxford Shirt",
        ]);
      });

      await t.step("brand and price range filters", async () => {
        assert.deepEqual(names(await store.products.list(query({ brandId: chef.id, sort: "price_asc" }))), [
          "Éclair Mould",
          "Crème Apron",
        ]);
        assert.deepEqual(
          names(await store.products.list(query({ minPrice: 1999, maxPrice: 4500, sort: "name" }))),
          ["Crème Apron", "Linen Shirt", "Oxford Shirt"],
        );
      });

      await t.step("search is case- and accent-insensitive over name, description and brand", async () => {
        const search = async (text: string) =>
          names(await store.products.list(query({ search: foldText(text), sort: "name" })));
        assert.deepEqual(await search("CREME"), ["Crème Apron"]);
        assert.deepEqual(await search("eclair"), ["Éclair Mould"]);
        assert.deepEqual(await search("acme"), ["Denim Jacket", "Linen Shirt"]);
        assert.deepEqual(await search("cotton"), ["Crème Apron"]);
        assert.deepEqual(await search("shirt acme"), ["Linen Shirt"], "every word must match");
        assert.deepEqual(await search(".*"), [], "a pattern is searched for literally");
        assert.deepEqual(await search("scarf"), [], "drafts are not found");
      });

      await t.step("sort orders, with ties broken by id", async () => {
        const byPrice = await store.products.list(query({ sort: "price_asc" }));
        assert.deepEqual(byPrice.map((p) => p.price.amount), [1500, 1999, 4500, 4500, 8900]);
        const tied = byPrice.filter((p) => p.price.amount === 4500).map((p) => p.id);
        assert.deepEqual(tied, [...tied].sort());
        assert.deepEqual(
          (await store.products.list(query({ sort: "price_desc" }))).map((p) => p.price.amount),
          [8900, 4500, 4500, 1999, 1500],
        );
        assert.deepEqual(
          names(await store.products.list(query({ sort: "name" }))),
          ["Crème Apron", "Denim Jacket", "Éclair Mould", "Linen Shirt", "Oxford Shirt"],
        );
      });

      await t.step("products carry their category and brand", async () => {
        const [linen] = await store.products.list(query({ search: "linen" }));
        assert.deepEqual(linen.category, {
          id: shirts.id,
          name: "Shirts",
          slug: shirts.slug,
          parentId: clothing.id,
        });
        assert.deepEqual(linen.brand, { id: acme.id, name: "Acmé Wear", slug: acme.slug });
        assert.ok(linen.createdAt instanceof Date);
      });

      await t.step("renaming a brand or category reaches the products that carry it", async () => {
        const renamed = { id: acme.id, name: "Zenith Apparel", slug: acme.slug };
        await store.products.refreshBrand(renamed);
        assert.deepEqual(names(await store.products.list(query({ search: "zenith", sort: "name" }))), [
          "Denim Jacket",
          "Linen Shirt",
        ]);
        assert.deepEqual(await store.products.list(query({ search: "acme" })), []);
        await store.products.refreshCategory({
          id: shirts.id,
          name: "Tops",
          slug: shirts.slug,
          parentId: null,
        });
        assert.equal((await store.products.get(items[0].id))?.category.name, "Tops");
        assert.deepEqual(names(await store.products.list(query({ categoryId: clothing.id, sort: "name" }))), [
          "Denim Jacket",
        ], "a category moved out of its parent leaves the parent's listing");
        await store.products.refreshCategory({
          id: shirts.id,
          name: "Shirts",
          slug: shirts.slug,
          parentId: clothing.id,
        });
      });

      await t.step("cursor paging visits every product once in every order", async () => {
        for (const sort of ["newest", "price_asc", "price_desc", "name"] as const) {
          const all = await store.products.list(query({ sort }));
          const paged = await walk(store, query({ sort }), 2);
          assert.deepEqual(paged.map((p) => p.id), all.map((p) => p.id), sort);
        }
      });

      await t.step("paging while products are added: no duplicates, no gaps", async () => {
        const bulk = Array.from(
          { length: 40 },
          (_, i) =>
            product(`Bulk ${String(i).padStart(2, "0")}`, { price: 100 + (i * 37) % 500, category: kitchen }),
        );
        for (const p of bulk) await store.products.insert(p);
        for (const sort of ["newest", "price_asc", "name"] as const) {
          const before = new Set((await store.products.list(query({ sort, limit: 1000 }))).map((p) => p.id));
          let added = 0;
          const seen = await walk(store, query({ sort }), 7, async () => {
            await Promise.all([0, 1].map(() =>
              store.products.insert(
                product(`Added ${sort} ${added++}`, {
                  price: 100 + (added * 53) % 500,
                  category: kitchen,
                  createdAt: nextTime(),
                }),
              )
            ));
          });
          const ids = seen.map((p) => p.id);
          assert.equal(new Set(ids).size, ids.length, `${sort}: no product twice`);
          for (const id of before) assert.ok(ids.includes(id), `${sort}: nothing that existed is skipped`);
        }
      });

      await t.step("get, remove and count", async () => {
        assert.equal((await store.products.get(items[0].id))?.name, "Linen Shirt");
        assert.equal((await store.products.findBySlug(items[0].slug))?.id, items[0].id);
        assert.equal(await store.products.get(crypto.randomUUID()), undefined);
        assert.equal(await store.products.count({ brandId: chef.id }), 2);
        assert.equal(await store.products.count({ categoryId: clothing.id }), 5);
        const oldHat = items[6];
        const removal = {
          expectedUpdatedAt: oldHat.updatedAt,
          events: productDeleted(oldHat.id, nextTime()),
        };
        assert.equal(await store.products.remove(oldHat.id, removal), true);
        assert.equal(await store.products.remove(oldHat.id, removal), false);
        // Its tombstone waits for the relay, unseen: the statistics below must not count it either.
        assert.equal(await store.products.get(oldHat.id), undefined);
        assert.equal(await store.products.findBySlug(oldHat.slug), undefined);
        assert.equal(await store.products.count({ categoryId: clothing.id }), 4);
        const successor = { ...product("New Hat", { category: clothing }), slug: oldHat.slug };
        await store.products.insert(successor);
        assert.equal(
          (await store.products.findBySlug(oldHat.slug))?.id,
          successor.id,
          "the slug is free again",
        );
      });

      await t.step("statistics", async () => {
        const stats = await store.products.stats();
        const all = await store.products.list(
          query({ statuses: ["draft", "active", "archived"], limit: 1000 }),
        );
        assert.equal(stats.products, all.length);
        assert.equal(stats.activeProducts, all.filter((p) => p.status === "active").length);
        const amounts = all.map((p) => p.price.amount);
        assert.equal(stats.averagePrice, amounts.reduce((a, b) => a + b, 0) / amounts.length);
        assert.equal(stats.cheapest?.price.amount, Math.min(...amounts));
        assert.equal(stats.dearest?.price.amount, Math.max(...amounts));
      });

      await t.step("storefront content: active items in order, kinds kept apart", async () => {
        const at = nextTime();
        const item = (kind: "sliders" | "features", title: string, sortOrder: number, active = true) => ({
          id: crypto.randomUUID(),
          kind,
          active,
          sortOrder,
          fields: { title },
          createdAt: at,
          updatedAt: at,
        });
        const second = item("sliders", "Second", 2);
        await store.content.insert(second);
        await store.content.insert(item("sliders", "First", 1));
        await store.content.insert(item("sliders", "Hidden", 0, false));
        await store.content.insert(item("features", "Fast delivery", 0));
        const titles = async (activeOnly: boolean) =>
          (await store.content.list("sliders", { activeOnly })).map((i) => i.fields.title);
        assert.deepEqual(await titles(true), ["First", "Second"]);
        assert.deepEqual(await titles(false), ["Hidden", "First", "Second"]);
        assert.equal(await store.content.get("features", second.id), undefined);
        assert.equal(await store.content.remove("features", second.id), false);
        assert.ok(await store.content.replace({ ...second, fields: { title: "Renamed" } }));
        assert.equal((await store.content.get("sliders", second.id))?.fields.title, "Renamed");
        assert.equal(await store.content.about(), undefined);
        const about = {
          description: "We sell things",
          address: "1 Main St",
          email: "hi@example.com",
          phone: "+1 555",
        };
        await store.content.setAbout(about);
        await store.content.setAbout({ ...about, phone: "+1 556" });
        assert.deepEqual(await store.content.about(), { ...about, phone: "+1 556" });
      });

      await t.step("contact messages: newest first, paged, unread filter, mark read, delete", async () => {
        const messages = Array.from({ length: 5 }, (_, i) => ({
          id: crypto.randomUUID(),
          name: `Sender ${i}`,
          email: `s${i}@example.com`,
          subject: "Hello",
          message: "Where is my order?",
          read: false,
          createdAt: nextTime(),
        }));
        for (const m of messages) await store.contact.insert(m);
        const first = await store.contact.list({ limit: 3, unreadOnly: false });
        assert.deepEqual(first.map((m) => m.name), ["Sender 4", "Sender 3", "Sender 2"]);
        const last = first.at(-1)!;
        const second = await store.contact.list({ limit: 3, unreadOnly: false, after: last });
        assert.deepEqual(second.map((m) => m.name), ["Sender 1", "Sender 0"]);
        assert.ok(await store.contact.markRead(messages[4].id));
        assert.equal((await store.contact.list({ limit: 10, unreadOnly: true })).length, 4);
        assert.ok(await store.contact.remove(messages[0].id));
        assert.equal(await store.contact.remove(messages[0].id), false);
        assert.equal(await store.contact.markRead(crypto.randomUUID()), false);
      });
    } finally {
      await close();
    }
  });
}

for (const target of await catalogStoreTargets()) {
  Deno.test({
    name: `catalog store contract: pending product events, ${target.name}`,
    ignore: Boolean(target.skip),
  }, async (t) => {
    const { store, close } = await target.open();
    const ids = (events: readonly { id: string }[] | undefined) => events?.map((event) => event.id);
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      const lamps = category("Lamps");
      await store.categories.insert(lamps);
      const lamp = product("Desk Lamp", { price: 3000, category: lamps });
      const created = productCreated(lamp);
      await store.products.insert(lamp, created);
      const repriced = { ...lamp, price: { amount: 2500, currency: "USD" }, updatedAt: nextTime() };
      const changed = productChanged(lamp, repriced);
      let latest = repriced;

      await t.step("events are stored with the change, and only on the product as it was read", async () => {
        assert.equal(
          await store.products.replace(repriced, { expectedUpdatedAt: lamp.updatedAt, events: changed }),
          true,
        );
        const stale = { ...lamp, name: "Stale Lamp", updatedAt: nextTime() };
        assert.equal(
          await store.products.replace(stale, {
            expectedUpdatedAt: lamp.updatedAt,
            events: productChanged(lamp, stale),
          }),
          false,
          "a write based on an older read is refused",
        );
        assert.equal((await store.products.get(lamp.id))?.name, "Desk Lamp");
      });

      await t.step("no read shows pending events or lease fields", async () => {
        const fields = Object.keys(repriced).sort();
        assert.deepEqual(Object.keys((await store.products.get(lamp.id))!).sort(), fields);
        assert.deepEqual(Object.keys((await store.products.findBySlug(lamp.slug))!).sort(), fields);
        const [listed] = await store.products.list(query({ categoryId: lamps.id }));
        assert.deepEqual(Object.keys(listed).sort(), fields);
        assert.deepEqual(listed, repriced);
      });

      await t.step("a claim leases one product's events, oldest first, as written", async () => {
        const claimed = await store.outbox.claim("relay-a", 60_000);
        assert.equal(claimed?.key, lamp.id);
        assert.deepEqual(claimed?.events, [...created, ...changed]);
        assert.equal(claimed?.failures, 0);
        assert.equal(await store.outbox.claim("relay-b", 60_000), undefined, "leased to relay-a");

        // A change while the events are out joins the queue behind them.
        latest = { ...repriced, price: { amount: 2000, currency: "USD" }, updatedAt: nextTime() };
        const later = productChanged(repriced, latest);
        assert.equal(
          await store.products.replace(latest, { expectedUpdatedAt: repriced.updatedAt, events: later }),
          true,
        );
        await store.outbox.settle(lamp.id, "relay-a", { published: [...created, changed[0]] });
        const rest = await store.outbox.claim("relay-b", 60_000);
        assert.deepEqual(ids(rest?.events), ids([changed[1], ...later]), "exactly the published ones went");
      });

      await t.step("a failed publish keeps the events, and the product waits for its retry", async () => {
        await store.outbox.settle(lamp.id, "relay-b", { published: [], retryAt: new Date(Date.now() + 300) });
        assert.equal(await store.outbox.claim("relay-a", 60_000), undefined);
        await sleep(400);
        const retried = await store.outbox.claim("relay-a", 60_000);
        assert.equal(retried?.failures, 1);
        assert.equal(retried?.events.length, 3);
        await store.outbox.settle(lamp.id, "relay-a", { published: [] });
      });

      await t.step(
        "a lease that ran out passes to another relay; the first one's publishes still count",
        async () => {
          const first = await store.outbox.claim("relay-a", 100);
          assert.equal(first?.failures, 0, "a released lease forgets the failures");
          assert.equal(await store.outbox.claim("relay-b", 60_000), undefined);
          await sleep(150);
          const second = await store.outbox.claim("relay-b", 60_000);
          assert.deepEqual(ids(second?.events), ids(first?.events));
          await store.outbox.settle(lamp.id, "relay-a", { published: first!.events.slice(0, 1) });
          assert.equal(await store.outbox.claim("relay-c", 60_000), undefined, "relay-b keeps its lease");
          await store.outbox.settle(lamp.id, "relay-b", { published: second!.events });
          assert.equal(await store.outbox.claim("relay-c", 60_000), undefined, "nothing is pending");
        },
      );

      await t.step("a deleted product's tombstone stays, unseen, until its event is published", async () => {
        const deleted = productDeleted(lamp.id, nextTime());
        assert.equal(
          await store.products.remove(lamp.id, { expectedUpdatedAt: lamp.updatedAt, events: deleted }),
          false,
        );
        assert.equal(
          await store.products.remove(lamp.id, { expectedUpdatedAt: latest.updatedAt, events: deleted }),
          true,
        );
        assert.equal(await store.products.get(lamp.id), undefined);
        assert.equal(await store.products.findBySlug(lamp.slug), undefined);
        assert.deepEqual(await store.products.list(query({ categoryId: lamps.id })), []);
        assert.equal(await store.products.count({ categoryId: lamps.id }), 0);
        assert.equal((await store.products.stats()).products, 0);
        const successor = { ...product("Floor Lamp", { category: lamps }), slug: lamp.slug };
        await store.products.insert(successor);

        const claimed = await store.outbox.claim("relay-a", 60_000);
        assert.deepEqual(claimed?.events, deleted);
        await store.outbox.settle(lamp.id, "relay-a", { published: deleted });
        assert.equal(await store.outbox.claim("relay-a", 60_000), undefined);
        assert.equal(
          await store.products.remove(lamp.id, { expectedUpdatedAt: latest.updatedAt, events: deleted }),
          false,
          "a deleted product stays deleted",
        );
        assert.equal((await store.products.stats()).products, 1);
      });
    } finally {
      await close();
    }
  });
}
