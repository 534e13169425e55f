/** The inventory service through HTTP, as the storefront and admins use it, on both PostgreSQL targets. */
import assert from "node:assert/strict";
import { createEnvelope } from "@multishop/kit/messaging";
import { call as callService, type CallOptions, postgresTargets } from "@multishop/kit/testing";
import type { CatalogStatus } from "./domain.ts";
import { demoOnHand, seedStock } from "./seed.ts";
import { newOrderId, newProductId, startTestInventory } from "./test_support.ts";

/** The catalog's event about the product, as it publishes it. */
const catalogEvent = (
  type: "catalog.product.created" | "catalog.product.updated",
  productId: string,
  status: CatalogStatus,
  occurredAt?: string,
) =>
  createEnvelope(type, {
    productId,
    name: "Linen shirt",
    slug: `linen-shirt-${productId}`,
    price: { amount: 4_900, currency: "USD" },
    status,
    categoryId: "category-1",
    brandId: null,
    image: null,
  }, { occurredAt });

for (const target of await postgresTargets()) {
  Deno.test(
    { name: `inventory API on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) },
    async (t) => {
      const service = await startTestInventory(target);
      const { tokens, inventory } = service;
      const admin = await tokens.admin();
      const customer = await tokens.customer();
      const client = await tokens.client("basket", ["catalog:read"]);

      const call = (method: string, path: string, options: CallOptions = {}) =>
        callService(service.url, method, path, options);
      const asAdmin = (method: string, path: string, body?: unknown) =>
        call(method, path, { token: admin, body });
      const availability = (...productIds: string[]) =>
        call("GET", `/v1/inventory?productIds=${productIds.join(",")}`);
      const errorFields = (body: { errors?: { field: string }[] }) => body.errors?.map((e) => e.field);

      try {
        await t.step("readiness checks PostgreSQL and messaging", async () => {
          const ready = await call("GET", "/health/ready");
          assert.equal(ready.status, 200);
          assert.deepEqual(ready.body.checks, { postgres: "ok", messaging: "ok" });
        });

        await t.step("admin routes: 401 without a token, 403 for a customer or a service", async () => {
          const productId = newProductId();
          const routes: [string, string, unknown?][] = [
            ["GET", `/v1/inventory/${productId}`],
            ["PUT", `/v1/inventory/${productId}`, { onHand: 5 }],
          ];
          for (const [method, path, body] of routes) {
            const anonymous = await call(method, path, { body });
            assert.equal(anonymous.status, 401, `${method} ${path}`);
            assert.equal(anonymous.headers.get("content-type"), "application/problem+json");
            assert.equal(anonymous.headers.get("www-authenticate"), "Bearer");
            assert.equal(
              (await call(method, path, { token: customer, body })).status,
              403,
              `${method} ${path}`,
            );
            assert.equal(
              (await call(method, path, { token: client, body })).status,
              403,
              `${method} ${path}`,
            );
          }
          assert.equal((await availability(productId)).body.items[0].available, 0, "nothing was stored");
        });

        await t.step("PUT creates a product's stock (201), then changes it (200)", async () => {
          const productId = newProductId();
          const created = await asAdmin("PUT", `/v1/inventory/${productId}`, { onHand: 12 });
          assert.equal(created.status, 201);
          assert.equal(created.headers.get("location"), `/v1/inventory/${productId}`);
          const { updatedAt, ...rest } = created.body;
          assert.ok(Date.parse(updatedAt));
          assert.deepEqual(rest, {
            productId,
            onHand: 12,
            reserved: 0,
            available: 12,
            retired: false,
            catalogStatus: null,
          });

          const changed = await asAdmin("PUT", `/v1/inventory/${productId}`, { onHand: 30 });
          assert.equal(changed.status, 200);
          assert.equal(changed.headers.get("location"), null);
          assert.equal(changed.body.onHand, 30);
          const same = await asAdmin("PUT", `/v1/inventory/${productId}`, { onHand: 30 });
          assert.equal(same.status, 200, "setting the same count again is a change that changes nothing");

          const read = await asAdmin("GET", `/v1/inventory/${productId}`);
          assert.equal(read.status, 200);
          assert.deepEqual(read.body, same.body);
        });

        await t.step("GET shows on hand, reserved and available; an unknown product is 404", async () => {
          const productId = newProductId();
          await asAdmin("PUT", `/v1/inventory/${productId}`, { onHand: 10 });
          await inventory.reserve(newOrderId(), [{ productId, quantity: 4 }]);
          const read = await asAdmin("GET", `/v1/inventory/${productId}`);
          assert.deepEqual(
            [read.body.onHand, read.body.reserved, read.body.available, read.body.retired],
            [10, 4, 6, false],
          );
          const missing = await asAdmin("GET", `/v1/inventory/${newProductId()}`);
          assert.equal(missing.status, 404);
          assert.equal(missing.headers.get("content-type"), "application/problem+json");
        });

        await t.step("on hand may not go below what is reserved: 409, and nothing changes", async () => {
          const productId = newProductId();
          await asAdmin("PUT", `/v1/inventory/${productId}`, { onHand: 10 });
          const orderId = newOrderId();
          await inventory.reserve(orderId, [{ productId, quantity: 7 }]);
          const refused = await asAdmin("PUT", `/v1/inventory/${productId}`, { onHand: 6 });
          assert.equal(refused.status, 409);
          assert.equal(refused.body.type, "urn:multishop:problem:stock-reserved");
          assert.match(refused.body.detail, /7 units are reserved/);
          assert.deepEqual(errorFields(refused.body), ["onHand"]);
          assert.equal((await asAdmin("GET", `/v1/inventory/${productId}`)).body.onHand, 10);
          assert.equal((await asAdmin("PUT", `/v1/inventory/${productId}`, { onHand: 7 })).status, 200);
          await inventory.commit(orderId);
          const afterCommit = await asAdmin("PUT", `/v1/inventory/${productId}`, { onHand: 0 });
          assert.equal(afterCommit.status, 200, "committed units left the shelf and hold nothing");
        });

        await t.step("availability is public: each id once, in the order asked, unknown ones 0", async () => {
          const [plenty, last, soldOut, retired, unknown] = Array.from({ length: 5 }, newProductId);
          await asAdmin("PUT", `/v1/inventory/${plenty}`, { onHand: 40 });
          await asAdmin("PUT", `/v1/inventory/${last}`, { onHand: 3 });
          await inventory.reserve(newOrderId(), [{ productId: last, quantity: 2 }]);
          await asAdmin("PUT", `/v1/inventory/${soldOut}`, { onHand: 0 });
          await asAdmin("PUT", `/v1/inventory/${retired}`, { onHand: 9 });
          await inventory.retireProduct(retired);

          const answer = await availability(unknown, plenty, last, soldOut, retired, plenty);
          assert.equal(answer.status, 200);
          assert.deepEqual(answer.body, {
            items: [
              { productId: unknown, available: 0, inStock: false },
              { productId: plenty, available: 40, inStock: true },
              { productId: last, available: 1, inStock: true },
              { productId: soldOut, available: 0, inStock: false },
              { productId: retired, available: 0, inStock: false },
            ],
          });
          const withToken = await call("GET", `/v1/inventory?productIds=${plenty}`, { token: customer });
          assert.equal(withToken.body.items[0].available, 40);
          const spaced = await call("GET", `/v1/inventory?productIds=${plenty},%20${last}`);
          assert.deepEqual(spaced.body.items.map((i: { productId: string }) => i.productId), [plenty, last]);
          const hundred = Array.from({ length: 100 }, newProductId);
          assert.equal((await availability(...hundred)).body.items.length, 100);
        });

        await t.step("malformed availability queries answer 400 naming the field", async () => {
          const id = newProductId();
          const cases: [string, string[]][] = [
            ["", ["query.productIds"]],
            ["?productIds=", ["query.productIds.0"]],
            [`?productIds=${id},not-an-id`, ["query.productIds.1"]],
            [`?productIds=${id},,${id}`, ["query.productIds.1"]],
            [`?productIds=${id}'%20or%201=1`, ["query.productIds.0"]],
            [`?productIds=${Array.from({ length: 101 }, newProductId).join(",")}`, ["query.productIds"]],
          ];
          for (const [query, fields] of cases) {
            const response = await call("GET", `/v1/inventory${query}`);
            assert.equal(response.status, 400, query.slice(0, 80));
            assert.equal(response.headers.get("content-type"), "application/problem+json");
            assert.deepEqual(errorFields(response.body), fields, query.slice(0, 80));
          }
        });

        await t.step("bad ids and bodies answer 400 naming the field, and store nothing", async () => {
          const productId = newProductId();
          const cases: [unknown, string][] = [
            [{ onHand: -1 }, "onHand"],
            [{ onHand: 2.5 }, "onHand"],
            [{ onHand: "5" }, "onHand"],
            [{ onHand: 2_000_000_000 }, "onHand"],
            [{ onHand: { $gt: 0 } }, "onHand"],
            [{}, "onHand"],
            [{ onHand: 5, reserved: 0 }, "reserved"],
            [[{ onHand: 5 }], "body"],
            [null, "body"],
          ];
          for (const [body, field] of cases) {
            const response = await asAdmin("PUT", `/v1/inventory/${productId}`, body);
            assert.equal(response.status, 400, JSON.stringify(body));
            assert.ok(errorFields(response.body)?.includes(field), JSON.stringify(response.body.errors));
          }
          const badId = await asAdmin("PUT", "/v1/inventory/not-a-product", { onHand: 1 });
          assert.equal(badId.status, 400);
          assert.deepEqual(badId.body.errors, [{ field: "path.productId", reason: "must be a product id" }]);
          assert.equal((await asAdmin("GET", "/v1/inventory/not-a-product")).status, 400);
          const malformed = await call("PUT", `/v1/inventory/${productId}`, {
            token: admin,
            raw: '{"onHand":',
          });
          assert.equal(malformed.status, 400);
          const text = await call("PUT", `/v1/inventory/${productId}`, {
            token: admin,
            raw: '{"onHand": 5}',
            contentType: "text/plain",
          });
          assert.equal(text.status, 415);
          assert.equal((await asAdmin("GET", `/v1/inventory/${productId}`)).status, 404);
        });

        await t.step("the OpenAPI document describes the routes", async () => {
          const document = await call("GET", "/openapi.json");
          assert.equal(document.status, 200);
          assert.deepEqual(Object.keys(document.body.paths).sort(), [
            "/v1/inventory",
            "/v1/inventory/{productId}",
          ]);
          const [query] = document.body.paths["/v1/inventory"].get.parameters;
          assert.equal(query.name, "productIds");
          assert.equal(query.schema.type, "string");
        });

        await t.step(
          "drafts and archived products answer as unknown; the catalog's updates decide",
          async () => {
            const [draft, unknown] = [newProductId(), newProductId()];
            const asUnknown = (productId: string) => ({ productId, available: 0, inStock: false });
            assert.equal(
              await inventory.handle(catalogEvent("catalog.product.created", draft, "draft")),
              true,
            );
            assert.equal((await asAdmin("PUT", `/v1/inventory/${draft}`, { onHand: 8 })).status, 200);
            const hidden = await availability(draft, unknown);
            assert.equal(hidden.status, 200);
            assert.deepEqual(
              hidden.body.items,
              [asUnknown(draft), asUnknown(unknown)],
              "a draft is not shown",
            );
            const stock = await asAdmin("GET", `/v1/inventory/${draft}`);
            assert.equal(stock.body.onHand, 8, "admins see its stock");
            assert.equal(stock.body.catalogStatus, "draft");

            const published = catalogEvent("catalog.product.updated", draft, "active");
            assert.equal(await inventory.handle(published), true);
            assert.deepEqual((await availability(draft)).body.items, [
              { productId: draft, available: 8, inStock: true },
            ]);
            assert.equal(await inventory.handle(published), false, "a redelivery is handled once");
            await inventory.handle(catalogEvent("catalog.product.updated", draft, "archived"));
            assert.deepEqual((await availability(draft)).body.items, [asUnknown(draft)]);
            const retriedLate = catalogEvent(
              "catalog.product.updated",
              draft,
              "active",
              new Date(Date.now() - 60_000).toISOString(),
            );
            assert.equal(await inventory.handle(retriedLate), true);
            assert.deepEqual(
              (await availability(draft)).body.items,
              [asUnknown(draft)],
              "an older status arriving late changes nothing",
            );

            const late = newProductId();
            await inventory.handle(catalogEvent("catalog.product.updated", late, "active"));
            const arrived = await asAdmin("GET", `/v1/inventory/${late}`);
            assert.deepEqual([arrived.body.onHand, arrived.body.catalogStatus], [0, "active"]);
          },
        );

        await t.step("admin answers carry Cache-Control: no-store; public availability none", async () => {
          const productId = newProductId();
          const put = await asAdmin("PUT", `/v1/inventory/${productId}`, { onHand: 3 });
          assert.equal(put.headers.get("cache-control"), "no-store");
          const read = await asAdmin("GET", `/v1/inventory/${productId}`);
          assert.equal(read.headers.get("cache-control"), "no-store");
          assert.equal((await availability(productId)).headers.get("cache-control"), null);
        });

        await t.step("seedStock stocks the demo catalog once, with statuses; what exists stays", async () => {
          const statusOf = (i: number): CatalogStatus => i % 10 === 1 ? "draft" : "active";
          const products = Array.from(
            { length: 40 },
            (_, i) => ({ id: newProductId(), status: statusOf(i) }),
          );
          const productIds = products.map((product) => product.id);
          await asAdmin("PUT", `/v1/inventory/${productIds[0]}`, { onHand: 1 });
          assert.equal(await seedStock(service.store, products), 39);
          assert.equal(await seedStock(service.store, products), 0, "a second run changes nothing");
          const { items } = (await availability(...productIds)).body;
          assert.equal(items[0].available, 1, "an existing count is left alone");
          assert.deepEqual(
            items.slice(1).map((item: { available: number }) => item.available),
            products.slice(1).map((product) => product.status === "draft" ? 0 : demoOnHand(product.id)),
            "drafts are stocked but not shown",
          );
          const draft = await asAdmin("GET", `/v1/inventory/${productIds[1]}`);
          assert.deepEqual([draft.body.onHand, draft.body.catalogStatus], [
            demoOnHand(productIds[1]),
            "draft",
          ]);
        });

        await t.step("ids are refused as the document says", async () => {
          // Hex in the UUID's shape, but neither version nor variant is the RFC's.
          const notRfcUuid = "00000000-0000-0000-c000-000000000001";
          assert.equal((await availability(notRfcUuid)).status, 400);
          const document = (await call("GET", "/openapi.json")).body;
          const [query] = document.paths["/v1/inventory"].get.parameters;
          const pattern = new RegExp(query.schema.pattern);
          assert.ok(!pattern.test(notRfcUuid));
          const ids = Array.from({ length: 3 }, newProductId);
          assert.ok(pattern.test(ids.join(",")) && pattern.test(` ${ids.join(" , ")} `));
          assert.ok(!pattern.test(`${ids.join(",")},`), "no empty id");
          assert.ok(pattern.test(Array.from({ length: 100 }, newProductId).join(",")));
          assert.ok(!pattern.test(Array.from({ length: 101 }, newProductId).join(",")), "at most 100");
          const [path] = document.paths["/v1/inventory/{productId}"].get.parameters;
          assert.ok(!new RegExp(path.schema.pattern).test(notRfcUuid));
        });
      } finally {
        await service.close();
      }
    },
  );
}
