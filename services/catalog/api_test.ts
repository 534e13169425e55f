/** The catalog through HTTP, as the edge and admins use it, on both stores. */
import assert from "node:assert/strict";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus, type Envelope } from "@multishop/kit/messaging";
import { call as callService, type CallOptions, serveForTest, testTokenIssuer } from "@multishop/kit/testing";
import { loadCatalogConfig } from "./config.ts";
import { startCatalog } from "./main.ts";
import { catalogStoreTargets } from "./test_support.ts";

const logger = createLogger("catalog", "silent");

for (const target of await catalogStoreTargets()) {
  Deno.test({ name: `catalog API on the ${target.name} store`, ignore: Boolean(target.skip) }, async (t) => {
    const { store, close } = await target.open();
    const tokens = await testTokenIssuer();
    const bus = createInProcessBus({ logger });
    const events: Envelope[] = [];
    await bus.subscribe("test-observer", "catalog.#", (envelope) => {
      events.push(envelope);
      return Promise.resolve();
    });
    const catalog = await startCatalog(loadCatalogConfig({ LOG_LEVEL: "silent" }), {
      store,
      events: bus,
      logger,
      verifyToken: tokens.verifyToken,
    });
    const server = serveForTest(catalog.app);
    const admin = await tokens.admin();
    const customer = await tokens.customer();
    const call = (method: string, path: string, options: CallOptions = {}) =>
      callService(server.url, method, path, options);
    const asAdmin = (method: string, path: string, body?: unknown) =>
      call(method, path, { token: admin, body });
    const waitForEvents = async (count: number) => {
      for (let i = 0; i < 100 && events.length < count; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(events.length >= count, `expected ${count} events, got ${events.length}`);
    };

    try {
      const home = (await asAdmin("POST", "/v1/categories", { name: "Home & Kitchen", sortOrder: 1 })).body;
      const cookware =
        (await asAdmin("POST", "/v1/categories", { name: "Cookware", parentId: home.id })).body;
      const garden = (await asAdmin("POST", "/v1/categories", { name: "Garden", sortOrder: 2 })).body;
      const brand = (await asAdmin("POST", "/v1/brands", { name: "Le Créneau" })).body;
      const product = (body: Record<string, unknown>) => asAdmin("POST", "/v1/products", body);

      await t.step("writes need an admin: 401 without a token, 403 as a customer", async () => {
        const anonymous = await call("POST", "/v1/brands", { body: { name: "Nope" } });
        assert.equal(anonymous.status, 401);
        assert.equal(anonymous.headers.get("content-type"), "application/problem+json");
        assert.equal(
          (await call("POST", "/v1/brands", { token: customer, body: { name: "Nope" } })).status,
          403,
        );
        assert.equal((await call("DELETE", `/v1/categories/${garden.id}`, { token: customer })).status, 403);
        assert.equal((await call("GET", "/v1/catalog/stats", { token: customer })).status, 403);
        assert.equal((await call("GET", "/v1/brands")).body.items.length, 1, "nothing was created");
      });

      await t.step("categories come as a tree with slugs made from names", async () => {
        assert.equal(home.slug, "home-kitchen");
        const tree = (await call("GET", "/v1/categories")).body.items;
        assert.deepEqual(tree.map((c: { name: string }) => c.name), ["Home & Kitchen", "Garden"]);
        assert.deepEqual(tree[0].children.map((c: { name: string }) => c.name), ["Cookware"]);
        const nested = await asAdmin("POST", "/v1/categories", { name: "Too Deep", parentId: cookware.id });
        assert.equal(nested.status, 422, "one level of nesting");
      });

      const pan = await product({
        name: "Cast Iron Pan",
        description: "Seasoned, oven safe",
        price: { amount: 4999, currency: "USD" },
        categoryId: cookware.id,
        brandId: brand.id,
        attributes: [{ key: "diameter", value: "26 cm" }],
        status: "active",
      });

      await t.step("a product is created with its category and brand, and announced", async () => {
        assert.equal(pan.status, 201);
        assert.equal(pan.headers.get("location"), `/v1/products/${pan.body.id}`);
        assert.deepEqual(pan.body.category, {
          id: cookware.id,
          name: "Cookware",
          slug: "cookware",
          parentId: home.id,
        });
        assert.deepEqual(pan.body.brand, { id: brand.id, name: "Le Créneau", slug: "le-creneau" });
        await waitForEvents(1);
        const created = events.find((e) => e.type === "catalog.product.created")!;
        assert.equal((created.payload as { productId: string }).productId, pan.body.id);
        assert.equal(created.correlationId, pan.body.id);
      });

      await t.step(
        "search by words and category returns products with category and brand embedded",
        async () => {
          await product({
            name: "Garden Hose",
            price: { amount: 2500, currency: "USD" },
            categoryId: garden.id,
            status: "active",
          });
          await product({
            name: "Secret Pan",
            price: { amount: 100, currency: "USD" },
            categoryId: cookware.id,
            status: "draft",
          });
          const found =
            (await call("GET", `/v1/products?q=${encodeURIComponent("PAN créneau")}&category=${home.slug}`))
              .body;
          assert.deepEqual(found.items.map((p: { name: string }) => p.name), ["Cast Iron Pan"]);
          assert.equal(found.items[0].category.name, "Cookware");
          assert.equal(found.items[0].brand.name, "Le Créneau");
          assert.equal(found.nextCursor, null);
          const byId = (await call("GET", `/v1/products?category=${home.id}&sort=price_asc`)).body;
          assert.deepEqual(
            byId.items.map((p: { name: string }) => p.name),
            ["Cast Iron Pan"],
            "drafts stay hidden",
          );
          const unknown = (await call("GET", "/v1/products?category=no-such-category")).body;
          assert.deepEqual(unknown.items, []);
        },
      );

      await t.step("paging follows nextCursor; a cursor from another sort is refused", async () => {
        for (let i = 0; i < 5; i++) {
          await product({
            name: `Trowel ${i}`,
            price: { amount: 500 + i, currency: "USD" },
            categoryId: garden.id,
            status: "active",
          });
        }
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page: { items: { name: string }[]; nextCursor: string | null } = (await call(
            "GET",
            `/v1/products?category=${garden.id}&sort=price_asc&limit=2${cursor ? `&cursor=${cursor}` : ""}`,
          )).body;
          seen.push(...page.items.map((p) => p.name));
          cursor = page.nextCursor;
        } while (cursor);
        assert.deepEqual(seen, ["Trowel 0", "Trowel 1", "Trowel 2", "Trowel 3", "Trowel 4", "Garden Hose"]);
        const first = (await call("GET", `/v1/products?sort=price_asc&limit=1`)).body;
        const wrong = await call("GET", `/v1/products?sort=name&cursor=${first.nextCursor}`);
        assert.equal(wrong.status, 400);
        assert.equal(wrong.body.errors[0].field, "query.cursor");
      });

      await t.step(
        "public GETs carry Cache-Control and an ETag, and answer 304 to If-None-Match",
        async () => {
          const first = await call("GET", "/v1/products?sort=name");
          const tag = first.headers.get("etag");
          assert.ok(tag);
          assert.match(first.headers.get("cache-control") ?? "", /public, max-age=60, s-maxage=300/);
          const again = await call("GET", "/v1/products?sort=name", { headers: { "if-none-match": tag } });
          assert.equal(again.status, 304);
          assert.equal(again.body, undefined);
          const forAdmin = await call("GET", "/v1/products?sort=name", { token: admin });
          assert.equal(forAdmin.headers.get("cache-control"), "private, no-store");
          const changed = await call("GET", "/v1/products?sort=price_asc", {
            headers: { "if-none-match": tag },
          });
          assert.equal(changed.status, 200, "another listing has another tag");
        },
      );

      await t.step("drafts are visible to admins only", async () => {
        const draft = (await call("GET", "/v1/products?status=draft", { token: admin })).body.items[0];
        assert.equal(draft.name, "Secret Pan");
        assert.equal((await call("GET", `/v1/products/${draft.id}`)).status, 404);
        assert.equal((await call("GET", `/v1/products/${draft.id}`, { token: admin })).status, 200);
        assert.equal((await call("GET", "/v1/products?status=draft")).status, 403);
        assert.equal((await call("GET", "/v1/products?status=any", { token: customer })).status, 403);
      });

      await t.step("operator injection attempts are plain invalid values", async () => {
        const inBody = await product({
          name: "Evil",
          price: { amount: 1, currency: "USD" },
          categoryId: { $gt: "" },
        });
        assert.equal(inBody.status, 400);
        assert.equal(inBody.body.errors[0].field, "categoryId");
        const inPrice = await asAdmin("PATCH", `/v1/products/${pan.body.id}`, {
          price: { amount: { $gt: 0 }, currency: "USD" },
        });
        assert.equal(inPrice.status, 400);
        const inQuery = await call("GET", `/v1/products?category=${encodeURIComponent('{"$gt":""}')}`);
        assert.deepEqual(
          inQuery.body.items,
          [],
          "a would-be operator is just a category that does not exist",
        );
        const bracketed = await call("GET", "/v1/products?category[$ne]=x&sort=name");
        assert.equal(bracketed.status, 200);
        assert.equal(bracketed.body.items.length, 7, "unknown parameters do not filter");
        const regex = await call("GET", `/v1/products?q=${encodeURIComponent(".*")}`);
        assert.deepEqual(regex.body.items, []);
        const inPath = await call("GET", `/v1/products/${encodeURIComponent('{"$gt":""}')}`);
        assert.equal(inPath.status, 400);
        assert.equal(inPath.body.errors[0].field, "path.id");
        const extra = await product({
          name: "Extra",
          price: { amount: 1, currency: "USD" },
          categoryId: garden.id,
          $where: "1",
        });
        assert.equal(extra.status, 400);
        assert.equal(extra.body.errors[0].field, "$where");
      });

      await t.step("bad and unknown ids: 400 and 404, never 500", async () => {
        assert.equal((await call("GET", "/v1/products/12345")).status, 400);
        assert.equal((await call("GET", `/v1/products/${crypto.randomUUID()}`)).status, 404);
        assert.equal((await call("GET", `/v1/categories/${crypto.randomUUID()}`)).status, 404);
        assert.equal((await call("GET", "/v1/brands/nope")).status, 400);
        assert.equal(
          (await asAdmin("PATCH", `/v1/products/${crypto.randomUUID()}`, { name: "X" })).status,
          404,
        );
        assert.equal((await asAdmin("DELETE", `/v1/products/${crypto.randomUUID()}`)).status, 404);
        const orphan = await product({
          name: "Orphan",
          price: { amount: 1, currency: "USD" },
          categoryId: crypto.randomUUID(),
        });
        assert.equal(orphan.status, 422);
        assert.equal(orphan.body.errors[0].field, "categoryId");
      });

      await t.step(
        "slugs are unique (409), currency is the shop's, empty categories only are deleted",
        async () => {
          const clash = await product({
            name: "Cast Iron Pan",
            price: { amount: 1, currency: "USD" },
            categoryId: garden.id,
          });
          assert.equal(clash.status, 409);
          assert.equal(clash.body.errors[0].field, "slug");
          const euros = await product({
            name: "Euro Pan",
            price: { amount: 1, currency: "EUR" },
            categoryId: garden.id,
          });
          assert.equal(euros.status, 400);
          assert.equal(euros.body.errors[0].field, "price.currency");
          assert.equal((await asAdmin("DELETE", `/v1/categories/${garden.id}`)).status, 409);
          assert.equal(
            (await asAdmin("DELETE", `/v1/categories/${home.id}`)).status,
            409,
            "it has a subcategory",
          );
          assert.equal((await asAdmin("DELETE", `/v1/brands/${brand.id}`)).status, 409);
        },
      );

      await t.step("a price change publishes updated and price_changed with old and new price", async () => {
        events.length = 0;
        const changed = await asAdmin("PATCH", `/v1/products/${pan.body.id}`, {
          price: { amount: 3999, currency: "USD" },
          images: [{ url: "http://127.0.0.1:5003/v1/images/abc.png", alt: "The pan" }],
        });
        assert.equal(changed.status, 200);
        assert.equal(changed.body.images[0].alt, "The pan");
        assert.equal(changed.body.status, "active", "fields left out of a PATCH stay as they were");
        assert.equal(changed.body.brand.id, brand.id);
        assert.deepEqual(changed.body.attributes, [{ key: "diameter", value: "26 cm" }]);
        assert.equal(changed.body.description, "Seasoned, oven safe");
        await waitForEvents(2);
        assert.deepEqual(events.map((e) => e.type).sort(), [
          "catalog.product.price_changed",
          "catalog.product.updated",
        ]);
        const priceChanged = events.find((e) => e.type === "catalog.product.price_changed")!;
        assert.deepEqual(priceChanged.payload, {
          productId: pan.body.id,
          oldPrice: { amount: 4999, currency: "USD" },
          newPrice: { amount: 3999, currency: "USD" },
        });
        events.length = 0;
        await asAdmin("PATCH", `/v1/products/${pan.body.id}`, { name: "Cast Iron Skillet" });
        await waitForEvents(1);
        await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(
          events.map((e) => e.type),
          ["catalog.product.updated"],
          "no price change, no price event",
        );
      });

      await t.step("a PATCH that names no field answers 400 and changes nothing", async () => {
        const before = (await call("GET", `/v1/products/${pan.body.id}`)).body;
        events.length = 0;
        for (
          const path of [`/v1/products/${pan.body.id}`, `/v1/categories/${home.id}`, `/v1/brands/${brand.id}`]
        ) {
          const empty = await asAdmin("PATCH", path, {});
          assert.equal(empty.status, 400, path);
          assert.deepEqual(empty.body.errors, [{
            field: "body",
            reason: "must name at least one field to change",
          }]);
          const bodiless = await call("PATCH", path, { token: admin });
          assert.equal(bodiless.status, 400, `${path} without a body`);
        }
        assert.equal((await call("GET", `/v1/products/${pan.body.id}`)).body.updatedAt, before.updatedAt);
        await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(events, [], "nothing announced");
      });

      await t.step("renaming a brand shows in its products and in search", async () => {
        await asAdmin("PATCH", `/v1/brands/${brand.id}`, { name: "Fonderie" });
        const found = (await call("GET", "/v1/products?q=fonderie")).body.items;
        assert.deepEqual(found.map((p: { brand: { name: string } }) => p.brand.name), ["Fonderie"]);
      });

      await t.step("deleting a product answers 204 and announces it", async () => {
        events.length = 0;
        assert.equal((await asAdmin("DELETE", `/v1/products/${pan.body.id}`)).status, 204);
        await waitForEvents(1);
        assert.deepEqual(events[0].payload, { productId: pan.body.id });
        assert.equal((await call("GET", `/v1/products/${pan.body.id}`)).status, 404);
      });

      await t.step("storefront content: admins write, the public reads active items in order", async () => {
        const slide = (title: string, sortOrder: number, active = true) =>
          asAdmin("POST", "/v1/content/sliders", {
            title,
            description: "Autumn deals",
            image: "http://127.0.0.1:5003/v1/images/slide.png",
            sortOrder,
            active,
          });
        const second = await slide("Second", 2);
        assert.equal(second.status, 201);
        await slide("First", 1);
        await slide("Hidden", 0, false);
        const titles = (await call("GET", "/v1/content/sliders")).body.items.map((s: { title: string }) =>
          s.title
        );
        assert.deepEqual(titles, ["First", "Second"]);
        assert.equal((await call("GET", "/v1/content/sliders?all=true")).status, 403);
        assert.equal(
          (await call("GET", "/v1/content/sliders?all=true", { token: admin })).body.items.length,
          3,
        );
        const invalid = await asAdmin("POST", "/v1/content/sliders", { title: "No image", description: "x" });
        assert.equal(invalid.status, 400);
        assert.equal(invalid.body.errors[0].field, "image");
        const replaced = await asAdmin("PUT", `/v1/content/sliders/${second.body.id}`, {
          title: "Second, renamed",
          description: "Autumn deals",
          image: "http://127.0.0.1:5003/v1/images/slide.png",
          sortOrder: 2,
        });
        assert.equal(replaced.body.title, "Second, renamed");
        assert.equal(
          (await asAdmin("PUT", `/v1/content/features/${second.body.id}`, { title: "x", icon: "truck" }))
            .status,
          404,
        );
        assert.equal((await asAdmin("DELETE", `/v1/content/sliders/${second.body.id}`)).status, 204);
        assert.equal((await call("GET", "/v1/content/about")).status, 404);
        const about = {
          description: "Since 1999",
          address: "1 Market St",
          email: "hello@shop.example",
          phone: "+1 555 0100",
        };
        assert.equal((await asAdmin("PUT", "/v1/content/about", about)).status, 200);
        assert.deepEqual((await call("GET", "/v1/content/about")).body, about);
      });

      await t.step("contact: anyone writes, admins read, mark read and delete", async () => {
        const sent = await call("POST", "/v1/contact", {
          body: { name: "Ada", email: "ada@example.com", subject: "Order", message: "Where is it?" },
        });
        assert.equal(sent.status, 201);
        const bad = await call("POST", "/v1/contact", {
          body: { name: "Ada", email: "nope", subject: "x", message: "y" },
        });
        assert.equal(bad.status, 400);
        assert.equal(bad.body.errors[0].field, "email");
        assert.equal((await call("GET", "/v1/contact", { token: customer })).status, 403);
        const inbox = (await asAdmin("GET", "/v1/contact?unread=true")).body;
        assert.deepEqual(inbox.items.map((m: { name: string }) => m.name), ["Ada"]);
        assert.equal((await asAdmin("POST", `/v1/contact/${sent.body.id}/read`)).status, 204);
        assert.equal((await asAdmin("GET", "/v1/contact?unread=true")).body.items.length, 0);
        assert.equal((await asAdmin("DELETE", `/v1/contact/${sent.body.id}`)).status, 204);
        assert.equal((await asAdmin("DELETE", `/v1/contact/${sent.body.id}`)).status, 404);
      });

      await t.step("admin statistics", async () => {
        const stats = (await asAdmin("GET", "/v1/catalog/stats")).body;
        assert.equal(stats.categories, 3);
        assert.equal(stats.brands, 1);
        assert.equal(stats.products, 7);
        assert.equal(stats.cheapest.name, "Secret Pan");
        assert.equal(stats.dearest.name, "Garden Hose");
        assert.equal(stats.averagePrice, (2500 + 100 + 500 + 501 + 502 + 503 + 504) / 7);
      });
    } finally {
      await server.close();
      await catalog.close();
      await bus.close();
      await close();
    }
  });
}
