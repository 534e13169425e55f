/**
 * The generated API clients: they match openapi/public.json (`deno task clients` regenerates them), and the
 * TypeScript client runs a storefront's whole flow against a started shop, through the edge only: register,
 * sign in, refresh, search and read products, the product page, the basket and its coupon, an address, an
 * order to `confirmed`, a review, and problems read as typed errors. The shop runs on the stores the
 * environment gives: the real servers when their variables are set (as in CI), else the embedded ones.
 */
import assert from "node:assert/strict";
import { createShopClient, type Problem, type Schemas } from "@multishop/client";
import { infraRequired } from "@multishop/kit/testing";
import { allClientFiles, bearerOperations, type OpenApiDocument, repositoryRoot } from "./clients.ts";
import { startServices } from "./services.ts";
import { demoCredentials, freePorts, shopEnv, withPublicUrl } from "./shop.ts";
import { embeddedStores, realServerStores, type ShopStores, unsetServerVariables } from "./test_stores.ts";

Deno.test("the committed clients match openapi/public.json (run `deno task clients` when this fails)", async () => {
  for (const [path, text] of Object.entries(await allClientFiles())) {
    const committed = await Deno.readTextFile(new URL(path, repositoryRoot)).catch(() => "");
    assert.equal(committed, text, `${path} is out of date`);
  }
});

Deno.test("the TypeScript client pins openapi-fetch as the root import map does", async () => {
  const read = async (path: string) => JSON.parse(await Deno.readTextFile(new URL(path, repositoryRoot)));
  const [root, client] = await Promise.all([read("deno.json"), read("clients/typescript/deno.json")]);
  assert.match(root.imports["openapi-fetch"], /^npm:openapi-fetch@\d+\.\d+\.\d+$/);
  assert.equal(client.imports["openapi-fetch"], root.imports["openapi-fetch"]);
});

Deno.test("bearerOperations: the token goes where every security requirement names bearerAuth", () => {
  const bearer = [{ bearerAuth: [] }];
  const document = {
    openapi: "3.1.0",
    info: { title: "t", version: "1" },
    security: bearer,
    paths: {
      "/public": { get: { security: [], responses: {} } },
      "/optional": { get: { security: [{}, { bearerAuth: [] }], responses: {} } },
      "/mine/{id}": {
        get: { security: bearer, responses: {} },
        delete: { responses: {} },
        parameters: [],
      },
    },
  } as unknown as OpenApiDocument;
  assert.deepEqual(bearerOperations(document), { "/mine/{id}": ["GET", "DELETE"] });
});

/**
 * The real servers when the environment names them all (databases, catalog and exchange of the run's own),
 * else the embedded stores; with MULTISHOP_REQUIRE_INFRA=1 (CI) the real servers or a failure.
 */
async function openStores(): Promise<ShopStores & { name: string }> {
  const unset = unsetServerVariables();
  if (unset.length === 0) return { name: "the real servers", ...await realServerStores("clients") };
  if (infraRequired) {
    assert.fail(
      `MULTISHOP_REQUIRE_INFRA=1 but ${unset.join(", ")} not set (\`deno task infra:up\` prints them)`,
    );
  }
  return { name: `the embedded stores (${unset.join(", ")} not set)`, ...embeddedStores() };
}

/** Fails with the problem when a call answered one, naming the call; narrows `data` otherwise. */
function ok<T>(
  result: { data?: T; error?: unknown; response: Response },
  call: string,
): T {
  if (result.error !== undefined || result.data === undefined) {
    assert.fail(`${call}: ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

Deno.test("the TypeScript client: a storefront's flow through the edge, from registering to a review", async () => {
  const stores = await openStores();
  const dataDir = await Deno.makeTempDir();
  const config = withPublicUrl(shopEnv.parse({
    DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    ...freePorts(),
    ...stores.shop,
  }));
  const credentials = await demoCredentials(config);
  const services = await startServices(config, stores.bus, credentials, stores.services);
  const servers = Object.values(services.serve("127.0.0.1"));
  const edge = await services.edge();
  try {
    await services.seed();
    console.log(`the flow runs on ${stores.name}, through the edge at ${edge.url}`);
    const started = performance.now();

    // Everything below is the generated client, at the one address a storefront knows.
    const shop = createShopClient({ baseUrl: edge.url });
    const suffix = crypto.randomUUID().slice(0, 8);
    const password = `correct horse ${suffix}`;
    const registration = {
      username: `shopper_${suffix}`,
      email: `shopper.${suffix}@example.com`,
      name: "Ada",
      surname: "Shopper",
      password,
    };
    const user = ok(await shop.POST("/v1/auth/register", { body: registration }), "registerUser");
    assert.equal(user.username, registration.username);
    assert.deepEqual(user.roles, ["customer"]);

    // A wrong password is an OAuth error, typed.
    const refused = await shop.signIn(registration.email, "not the password");
    assert.equal(refused.response.status, 400);
    assert.ok(refused.error && "error" in refused.error, "an RFC 6749 error");
    assert.equal(refused.error.error, "invalid_grant");
    assert.equal(shop.tokens === undefined, true, "a refused sign-in keeps no tokens");

    // Sign in with the email (the username works too); the client keeps the tokens and sends them.
    const signedIn = ok(await shop.signIn(registration.email, password), "signIn");
    assert.equal(signedIn.token_type, "Bearer");
    assert.ok(
      signedIn.expires_in > 0 && signedIn.refresh_token,
      "an access token that expires, a refresh token",
    );
    assert.equal(ok(await shop.GET("/v1/users/me"), "getCurrentUser").id, user.id);

    const refreshed = ok(await shop.refresh(), "refresh");
    assert.notEqual(refreshed.refresh_token, signedIn.refresh_token, "refresh tokens rotate");
    assert.notEqual(refreshed.access_token, signedIn.access_token);
    assert.equal(shop.tokens?.access_token, refreshed.access_token, "the client keeps the new tokens");
    assert.equal(ok(await shop.GET("/v1/users/me"), "getCurrentUser").email, registration.email);

    // Search, then read the first result that is in stock, and its product page.
    const search = await shop.GET("/v1/products", {
      params: { query: { q: "skillet", sort: "price_asc", limit: 10 } },
    });
    const found = ok(search, "listProducts");
    assert.notEqual(search.response.headers.get("x-cache-status"), "BYPASS", "public reads carry no token");
    assert.ok(found.items.length > 0, "the search finds skillets");
    for (const item of found.items) assert.match(`${item.name} ${item.description}`, /skillet/i);
    let page: Schemas["StorefrontProduct"] | undefined;
    for (const item of found.items) {
      const candidate = ok(
        await shop.GET("/v1/storefront/products/{id}", { params: { path: { id: item.id } } }),
        "getStorefrontProduct",
      );
      if ((candidate.availability?.available ?? 0) >= 2) {
        page = candidate;
        break;
      }
    }
    assert.ok(page, `one of ${found.items.length} skillets has 2 in stock`);
    const product = ok(
      await shop.GET("/v1/products/{id}", { params: { path: { id: page.product.id } } }),
      "getProduct",
    );
    assert.equal(product.id, page.product.id);
    assert.equal(product.price.currency, "USD");
    assert.deepEqual(page.missing, [], "every part of the page is there");
    assert.equal(page.availability?.productId, product.id);
    assert.equal(page.availability?.inStock, true);
    assert.equal(page.rating?.count, 0, "no reviews yet");
    assert.deepEqual(page.reviews, []);

    // The basket: two of it, priced by the server; WELCOME10 takes 10 % off.
    const filled = ok(
      await shop.PUT("/v1/basket/items/{productId}", {
        params: { path: { productId: product.id } },
        body: { quantity: 2 },
      }),
      "setBasketItemQuantity",
    );
    assert.deepEqual(filled.lines.map((line) => [line.productId, line.quantity]), [[product.id, 2]]);
    const subtotal = product.price.amount * 2;
    assert.equal(filled.totals.subtotal.amount, subtotal);
    const discounted = ok(
      await shop.PUT("/v1/basket/coupon", { body: { code: "WELCOME10" } }),
      "applyCoupon",
    );
    assert.deepEqual(discounted.coupon && { code: discounted.coupon.code, valid: discounted.coupon.valid }, {
      code: "WELCOME10",
      valid: true,
    });
    const discount = Math.floor(subtotal / 10);
    assert.deepEqual(discounted.totals, {
      subtotal: { amount: subtotal, currency: "USD" },
      discount: { amount: discount, currency: "USD" },
      total: { amount: subtotal - discount, currency: "USD" },
      itemCount: 2,
    });

    // An unknown code is refused with a problem document, typed; the basket keeps WELCOME10.
    const rejected = await shop.PUT("/v1/basket/coupon", { body: { code: `NOSUCH${suffix.toUpperCase()}` } });
    assert.equal(rejected.data, undefined);
    const problem: Problem | undefined = rejected.error;
    assert.equal(rejected.response.status, 422);
    assert.equal(rejected.response.headers.get("content-type"), "application/problem+json");
    assert.equal(problem?.status, 422);
    assert.equal(problem?.type, "urn:multishop:problem:coupon-rejected");
    assert.equal(problem?.errors?.[0]?.field, "code");
    assert.ok(problem?.detail, "the problem says why");
    const basket = ok(await shop.GET("/v1/basket"), "getBasket");
    assert.equal(basket.coupon?.code, "WELCOME10");

    // Checkout: an address, then the order, placed once under its Idempotency-Key.
    const address = ok(
      await shop.POST("/v1/addresses", {
        body: {
          name: "Ada",
          surname: "Shopper",
          email: registration.email,
          phone: "+1 555 0101",
          country: "US",
          city: "Springfield",
          district: "Downtown",
          line1: "1 Market Street",
          zipCode: "12345",
        },
      }),
      "createAddress",
    );
    assert.equal(address.line2, null);
    const idempotencyKey = crypto.randomUUID();
    const place = () =>
      shop.POST("/v1/orders", {
        params: { header: { "idempotency-key": idempotencyKey } },
        body: {
          addressId: address.id,
          payment: {
            cardNumber: "4242424242424242",
            expMonth: 12,
            expYear: new Date().getFullYear() + 2,
            cvc: "123",
            holder: "Ada Shopper",
          },
        },
      });
    const placed = await place();
    assert.equal(placed.response.status, 202);
    const order = ok(placed, "placeOrder");
    assert.equal(order.status, "pending");
    assert.equal(order.couponCode, "WELCOME10");
    assert.deepEqual(order.totals.total, discounted.totals.total, "the order keeps the basket's totals");
    const again = ok(await place(), "placeOrder again");
    assert.equal(again.id, order.id, "the same Idempotency-Key places no second order");

    let status: Schemas["Order"]["status"] = order.status;
    for (const deadline = Date.now() + 30_000; status === "pending" && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const current = ok(
        await shop.GET("/v1/orders/{id}", { params: { path: { id: order.id } } }),
        "getOrder",
      );
      status = current.status;
      assert.notEqual(status, "cancelled", `the order was cancelled: ${current.cancellationReason}`);
    }
    assert.equal(status, "confirmed", "the order is confirmed within 30 s");

    // A review of what was bought; it waits for moderation.
    const review = ok(
      await shop.POST("/v1/products/{productId}/reviews", {
        params: { path: { productId: product.id } },
        body: { rating: 5, title: "Heats evenly", text: "Seared a steak on the first day." },
      }),
      "createReview",
    );
    assert.deepEqual([review.productId, review.rating, review.status], [product.id, 5, "pending"]);
    assert.equal(review.authorName, registration.username);

    // An unknown product: a 404 problem, typed.
    const missing = await shop.GET("/v1/products/{id}", { params: { path: { id: crypto.randomUUID() } } });
    assert.equal(missing.data, undefined);
    assert.equal(missing.response.status, 404);
    assert.equal(missing.error?.status, 404);
    assert.equal(missing.error?.title, "Not Found");
    console.log(`the flow took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await edge.close();
    await Promise.all(servers.map((server) => server.shutdown()));
    await services.close();
    await stores.bus.close();
    await stores.cleanUp();
    await Deno.remove(dataDir, { recursive: true });
  }
});
