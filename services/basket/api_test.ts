/**
 * The basket through HTTP, with the real catalog and discount services beside it (in process) and
 * the shared message bus, on both basket stores.
 */
import assert from "node:assert/strict";
import { orderEvents } from "@multishop/kit/contracts/orders";
import { startEmbeddedPostgres } from "@multishop/kit/embedded-postgres";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus } from "@multishop/kit/messaging";
import { call as callService, serveForTest, testTokenIssuer } from "@multishop/kit/testing";
import { loadCatalogConfig } from "../catalog/config.ts";
import { startCatalog } from "../catalog/main.ts";
import { seedCatalog } from "../catalog/seed.ts";
import { createMemoryCatalogStore } from "../catalog/store/memory.ts";
import { loadDiscountConfig } from "../discount/config.ts";
import { startDiscount } from "../discount/main.ts";
import { seedCoupons } from "../discount/seed.ts";
import { loadBasketConfig } from "./config.ts";
import { startBasket } from "./main.ts";
import { basketStoreTargets } from "./test_support.ts";

const logger = createLogger("test", "silent");

/** Stands in for identity's token endpoint: the basket's client gets a token with its scopes. */
function tokenEndpoint(tokens: Awaited<ReturnType<typeof testTokenIssuer>>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    await request.body?.cancel();
    if (request.headers.get("authorization") !== `Basic ${btoa("basket:basket-test-secret")}`) {
      return Response.json({ error: "invalid_client" }, { status: 401 });
    }
    const token = await tokens.client("basket", ["catalog:read", "discount:validate"]);
    return Response.json({ access_token: token, token_type: "Bearer", expires_in: 600 });
  });
  return { url: `http://127.0.0.1:${server.addr.port}/oauth/token`, close: () => server.shutdown() };
}

for (const target of await basketStoreTargets()) {
  Deno.test({ name: `basket API on the ${target.name} store`, ignore: Boolean(target.skip) }, async (t) => {
    const tokens = await testTokenIssuer();
    const bus = createInProcessBus({ logger });
    const catalogStore = await createMemoryCatalogStore();
    await seedCatalog(catalogStore, { url: (slug, variant) => `http://images.test/${slug}-${variant}.png` });
    const catalog = await startCatalog(loadCatalogConfig({ LOG_LEVEL: "silent" }), {
      store: catalogStore,
      events: bus,
      logger,
      verifyToken: tokens.verifyToken,
    });
    const catalogServer = serveForTest(catalog.app);
    const discountDb = await startEmbeddedPostgres();
    const discount = await startDiscount(loadDiscountConfig({ LOG_LEVEL: "silent" }), {
      postgres: discountDb,
      logger,
      verifyToken: tokens.verifyToken,
    });
    await seedCoupons(discount.store);
    const discountServer = serveForTest(discount.app);
    const identity = tokenEndpoint(tokens);
    const { store, close: closeStore } = await target.open({ ttlSeconds: 3600 });
    const basket = await startBasket(
      loadBasketConfig({
        LOG_LEVEL: "silent",
        CATALOG_URL: catalogServer.url,
        DISCOUNT_URL: discountServer.url,
        SERVICE_TOKEN_URL: identity.url,
        SERVICE_CLIENT_SECRET: "basket-test-secret",
      }),
      { store, bus, logger, verifyToken: tokens.verifyToken },
    );
    const basketServer = serveForTest(basket.app);

    const [ann, bob] = [crypto.randomUUID(), crypto.randomUUID()];
    const annToken = await tokens.customer(ann);
    const bobToken = await tokens.customer(bob);
    const adminToken = await tokens.admin();
    const call = (token: string | undefined, method: string, path: string, body?: unknown) =>
      callService(basketServer.url, method, path, { token, body });
    const products = await catalogStore.products.list({ statuses: ["active"], sort: "price_asc", limit: 10 });
    const [cheap, mid, dear] = [products[0], products[4], products[9]];
    const draft = (await catalogStore.products.list({ statuses: ["draft"], sort: "newest", limit: 1 }))[0];
    const eventually = async (check: () => Promise<boolean>, what: string) => {
      for (let i = 0; i < 100; i++) {
        if (await check()) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.fail(`${what} did not happen`);
    };

    try {
      await t.step("a customer fills a basket; prices, names and totals come from the server", async () => {
        const first = await call(annToken, "PUT", `/v1/basket/items/${cheap.id}`, { quantity: 2 });
        assert.equal(first.status, 200);
        const { body } = await call(annToken, "PUT", `/v1/basket/items/${mid.id}`, {
          quantity: 1,
          price: { amount: 1, currency: "USD" },
          name: "Free stuff",
        });
        const line = body.lines.find((l: { productId: string }) => l.productId === mid.id);
        assert.equal(line.name, mid.name, "the client's name is ignored");
        assert.deepEqual(line.unitPrice, mid.price, "the client's price is ignored");
        const subtotal = cheap.price.amount * 2 + mid.price.amount;
        assert.deepEqual(body.totals, {
          subtotal: { amount: subtotal, currency: "USD" },
          discount: { amount: 0, currency: "USD" },
          total: { amount: subtotal, currency: "USD" },
          itemCount: 3,
        });
      });

      await t.step("another user's basket is unreachable: there is no way to name it", async () => {
        const bobs = await call(bobToken, "GET", "/v1/basket");
        assert.deepEqual(bobs.body.lines, []);
        await call(bobToken, "PUT", `/v1/basket/items/${dear.id}`, { quantity: 1 });
        await call(bobToken, "DELETE", "/v1/basket");
        assert.equal(
          (await call(annToken, "GET", "/v1/basket")).body.lines.length,
          2,
          "Bob's clearing left Ann's alone",
        );
        assert.equal((await call(undefined, "GET", "/v1/basket")).status, 401);
        const service = await tokens.client("someone", ["catalog:read"]);
        assert.equal((await call(service, "GET", "/v1/basket")).status, 403, "a client token has no basket");
      });

      await t.step("limits and unknown products", async () => {
        assert.equal(
          (await call(annToken, "PUT", `/v1/basket/items/${crypto.randomUUID()}`, { quantity: 1 })).status,
          422,
        );
        assert.equal(
          (await call(annToken, "PUT", `/v1/basket/items/${draft.id}`, { quantity: 1 })).status,
          422,
          "drafts are not sold",
        );
        const tooMany = await call(annToken, "PUT", `/v1/basket/items/${cheap.id}`, { quantity: 100 });
        assert.equal(tooMany.status, 400);
        assert.equal(tooMany.body.errors[0].field, "quantity");
        assert.equal(
          (await call(annToken, "PUT", `/v1/basket/items/${cheap.id}`, { quantity: -1 })).status,
          400,
        );
        assert.equal(
          (await call(annToken, "PUT", "/v1/basket/items/not-an-id", { quantity: 1 })).status,
          400,
        );
        assert.equal((await call(annToken, "DELETE", `/v1/basket/items/${dear.id}`)).status, 404);
      });

      await t.step("two tabs adding at once lose nothing", async () => {
        const more = products.slice(5, 9);
        await Promise.all(
          more.map((p) => call(annToken, "PUT", `/v1/basket/items/${p.id}`, { quantity: 1 })),
        );
        const { body } = await call(annToken, "GET", "/v1/basket");
        for (const p of more) {
          assert.ok(body.lines.some((l: { productId: string }) => l.productId === p.id), p.name);
        }
        for (const p of more) await call(annToken, "PUT", `/v1/basket/items/${p.id}`, { quantity: 0 });
        assert.equal((await call(annToken, "GET", "/v1/basket")).body.lines.length, 2);
      });

      await t.step(
        "a catalog price change reaches the basket; an archived product is not charged",
        async () => {
          const newPrice = { amount: cheap.price.amount + 1000, currency: "USD" };
          const patched = await fetch(`${catalogServer.url}/v1/products/${cheap.id}`, {
            method: "PATCH",
            headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
            body: JSON.stringify({ price: newPrice }),
          });
          assert.equal(patched.status, 200);
          await patched.body?.cancel();
          const priceOf = async () =>
            (await call(annToken, "GET", "/v1/basket")).body.lines.find((l: { productId: string }) =>
              l.productId === cheap.id
            )
              .unitPrice.amount;
          await eventually(async () => (await priceOf()) === newPrice.amount, "the new price in the basket");
          const archived = await fetch(`${catalogServer.url}/v1/products/${mid.id}`, {
            method: "PATCH",
            headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
            body: JSON.stringify({ status: "archived" }),
          });
          await archived.body?.cancel();
          await eventually(async () => {
            const { body } = await call(annToken, "GET", "/v1/basket");
            return body.totals.subtotal.amount === newPrice.amount * 2;
          }, "the archived line leaving the subtotal");
          const { body } = await call(annToken, "GET", "/v1/basket");
          const line = body.lines.find((l: { productId: string }) => l.productId === mid.id);
          assert.equal(line.available, false);
          assert.equal(line.lineTotal.amount, 0);
        },
      );

      await t.step("a coupon applies and the discount is computed on the server", async () => {
        const applied = await call(annToken, "PUT", "/v1/basket/coupon", { code: "welcome10" });
        assert.equal(applied.status, 200);
        const subtotal = applied.body.totals.subtotal.amount;
        assert.deepEqual(applied.body.coupon, {
          code: "WELCOME10",
          valid: true,
          discount: { amount: Math.floor(subtotal / 10), currency: "USD" },
        });
        assert.equal(applied.body.totals.total.amount, subtotal - Math.floor(subtotal / 10));
        const removed = await call(annToken, "DELETE", "/v1/basket/coupon");
        assert.equal(removed.body.coupon, null);
        assert.equal(removed.body.totals.discount.amount, 0);
      });

      await t.step("every rejection reason answers 422 naming it", async () => {
        const admin = (path: string, body: unknown) =>
          fetch(`${discountServer.url}${path}`, {
            method: "POST",
            headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
            body: JSON.stringify(body),
          }).then((r) => r.json());
        await admin("/v1/coupons", { code: "DORMANT", type: "fixed", value: 100, active: false });
        await admin("/v1/coupons", {
          code: "LATER",
          type: "fixed",
          value: 100,
          active: true,
          validFrom: "2099-01-01T00:00:00Z",
        });
        await admin("/v1/coupons", {
          code: "ONCEPERUSER",
          type: "fixed",
          value: 100,
          active: true,
          perUserLimit: 1,
        });
        await discount.discount.reserve({
          orderId: "order-1",
          code: "ONEUSE",
          userId: bob,
          subtotal: { amount: 5000, currency: "USD" },
        });
        await discount.discount.reserve({
          orderId: "order-2",
          code: "ONCEPERUSER",
          userId: ann,
          subtotal: { amount: 5000, currency: "USD" },
        });
        const cheapBasket = await call(bobToken, "PUT", `/v1/basket/items/${products[1].id}`, {
          quantity: 1,
        });
        assert.ok(cheapBasket.body.totals.subtotal.amount < 5000, "Bob's basket is below HOME15's minimum");
        const cases: [string, string, string][] = [
          [annToken, "NOSUCHCODE", "unknown"],
          [annToken, "DORMANT", "inactive"],
          [annToken, "LATER", "not_started"],
          [annToken, "EXPIRED", "expired"],
          [annToken, "ONEUSE", "exhausted"],
          [annToken, "ONCEPERUSER", "per_user_limit"],
          [bobToken, "HOME15", "below_minimum"],
        ];
        for (const [token, code, reason] of cases) {
          const answer = await call(token, "PUT", "/v1/basket/coupon", { code });
          assert.equal(answer.status, 422, code);
          assert.equal(answer.body.reason, reason, code);
          assert.equal(answer.body.errors[0].field, "code");
        }
        assert.equal(
          (await call(annToken, "GET", "/v1/basket")).body.coupon,
          null,
          "a refused code is not kept",
        );
      });

      await t.step("a confirmed order empties its user's basket", async () => {
        const usd = (amount: number) => ({ amount, currency: "USD" });
        await bus.publish("order.confirmed", orderEvents["order.confirmed"], {
          orderId: "order-9",
          userId: ann,
          lines: [{ productId: "product-1", name: "Linen shirt", unitPrice: usd(4500), quantity: 1 }],
          address: {
            name: "Ann",
            surname: "Lee",
            email: "ann@example.com",
            phone: "+1 555 0100",
            country: "US",
            city: "Portland",
            district: "Pearl",
            line1: "1 Main St",
            line2: null,
            zipCode: "97209",
          },
          total: usd(4500),
        });
        await eventually(
          async () => (await call(annToken, "GET", "/v1/basket")).body.lines.length === 0,
          "the basket being emptied",
        );
        assert.ok((await call(bobToken, "GET", "/v1/basket")).body.lines.length > 0, "Bob's basket stays");
      });
    } finally {
      await basketServer.close();
      await closeStore();
      await identity.close();
      await discountServer.close();
      await discount.close();
      await discountDb.stop();
      await catalogServer.close();
      await catalog.close();
      await bus.close();
    }
  });
}
