/**
 * The shop as `deno task start` wires it, end to end through the edge in workerd: an admin signs in,
 * uploads an image, sets it on a seeded product, and a visitor finds the product with its image,
 * category and brand.
 */
import assert from "node:assert/strict";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus } from "@multishop/kit/messaging";
import { encodePng } from "../services/images/placeholder.ts";
import { startServices } from "./services.ts";
import { demoCredentials, shopEnv, withPublicUrl } from "./shop.ts";

/** The statuses a server-sent event stream reports, until it ends or the deadline passes. */
/** The statuses an order's event stream shows, up to and including `until`. */
async function readStatuses(
  body: ReadableStream<Uint8Array>,
  until: string,
  deadlineMs: number,
): Promise<string[]> {
  const statuses: string[] = [];
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => reader.cancel(), deadlineMs);
  let buffered = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return statuses;
      buffered += value;
      for (const line of buffered.split("\n").slice(0, -1)) {
        if (!line.startsWith("data:")) continue;
        statuses.push(JSON.parse(line.slice(5)).status);
        if (statuses.at(-1) === until) return statuses;
      }
      buffered = buffered.slice(buffered.lastIndexOf("\n") + 1);
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel();
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("through the edge: images, basket with a coupon, checkout to confirmed, cached reads, limited sign-in, /docs", async () => {
  const dataDir = await Deno.makeTempDir();
  const config = withPublicUrl(shopEnv.parse({
    DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    EDGE_PORT: String(freePort()),
    IDENTITY_PORT: String(freePort()),
    CATALOG_PORT: String(freePort()),
    IMAGES_PORT: String(freePort()),
    BASKET_PORT: String(freePort()),
    DISCOUNT_PORT: String(freePort()),
    INVENTORY_PORT: String(freePort()),
    PAYMENT_PORT: String(freePort()),
    ORDER_PORT: String(freePort()),
  }));
  const credentials = await demoCredentials(config);
  const bus = createInProcessBus({ logger: createLogger("messaging", "silent") });
  // No store variables: every store embedded, whatever servers the environment names. Sign-in tokens
  // refill slowly here so that a slow machine cannot refill one between the 10th and the 11th attempt
  // (the default policy itself is checked in edge/ratelimit_test.ts).
  const services = await startServices(config, bus, credentials, {
    RATE_LIMITS: JSON.stringify({
      default: { capacity: 1000, refillPerSecond: 100 },
      login: { capacity: 10, refillPerSecond: 0.001 },
    }),
  });
  const servers = Object.values(services.serve("127.0.0.1"));
  const edge = await services.edge();
  // A storefront knows one address: every call below goes through the edge.
  const [identity, catalog, images] = [edge.url, edge.url, edge.url];
  try {
    const seeded = await services.seed();
    assert.equal(seeded.catalog.products, 500);

    const signIn = await fetch(`${identity}/oauth/token`, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "password",
        client_id: "storefront",
        username: credentials.admin.email,
        password: credentials.admin.password,
      }),
    });
    const { access_token: token } = await signIn.json();
    const auth = { authorization: `Bearer ${token}` };

    const form = new FormData();
    const picture = encodePng(2, 1, new Uint8Array([0, 255, 0, 0, 0, 0, 255]));
    form.append("file", new File([picture], "front.png", { type: "application/octet-stream" }));
    const upload = await fetch(`${images}/v1/images`, { method: "POST", headers: auth, body: form });
    assert.equal(upload.status, 201);
    const image = await upload.json();
    assert.equal(image.contentType, "image/png");

    const found = await (await fetch(`${catalog}/v1/products?q=skillet&category=home&limit=1`)).json();
    const [product] = found.items;
    assert.match(product.name, /Skillet/);
    assert.equal(product.category.parentId !== null, true);
    assert.ok(product.brand.name);

    const patched = await fetch(`${catalog}/v1/products/${product.id}`, {
      method: "PATCH",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ images: [{ url: image.url, alt: "Front" }] }),
    });
    assert.equal(patched.status, 200);

    const shown = await (await fetch(`${catalog}/v1/products/${product.id}`)).json();
    assert.deepEqual(shown.images, [{ url: image.url, alt: "Front" }]);
    const served = await fetch(shown.images[0].url);
    assert.equal(served.status, 200);
    assert.deepEqual(new Uint8Array(await served.arrayBuffer()), picture);

    const customerToken = (await (await fetch(`${identity}/oauth/token`, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "password",
        client_id: "storefront",
        username: credentials.customer.username,
        password: credentials.customer.password,
      }),
    })).json()).access_token;
    const refused = await fetch(`${catalog}/v1/products/${product.id}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${customerToken}`, "content-type": "application/json" },
      body: JSON.stringify({ images: [] }),
    });
    assert.equal(refused.status, 403);
    await refused.body?.cancel();

    // The customer fills a basket from the seeded catalog and applies a seeded coupon; the server
    // computes the totals from the catalog's prices.
    const customer = { authorization: `Bearer ${customerToken}`, "content-type": "application/json" };
    const picks =
      (await (await fetch(`${edge.url}/v1/products?category=books&sort=price_asc&limit=2`)).json()).items;
    for (const [index, pick] of picks.entries()) {
      const put = await fetch(`${edge.url}/v1/basket/items/${pick.id}`, {
        method: "PUT",
        headers: customer,
        body: JSON.stringify({ quantity: index + 1, price: { amount: 1, currency: "USD" } }),
      });
      assert.equal(put.status, 200);
      await put.body?.cancel();
    }
    const withCoupon = await fetch(`${edge.url}/v1/basket/coupon`, {
      method: "PUT",
      headers: customer,
      body: JSON.stringify({ code: "WELCOME10" }),
    });
    assert.equal(withCoupon.status, 200);
    const basket = await withCoupon.json();
    const subtotal = picks[0].price.amount + picks[1].price.amount * 2;
    assert.deepEqual(basket.totals, {
      subtotal: { amount: subtotal, currency: "USD" },
      discount: { amount: Math.floor(subtotal / 10), currency: "USD" },
      total: { amount: subtotal - Math.floor(subtotal / 10), currency: "USD" },
      itemCount: 3,
    });
    // Checkout: the customer orders the basket and watches the order reach `confirmed` on its event
    // stream, all through the edge. The admin makes sure the picked books are in stock first.
    for (const pick of picks) {
      const stocked = await fetch(`${edge.url}/v1/inventory/${pick.id}`, {
        method: "PUT",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ onHand: 20 }),
      });
      assert.ok(stocked.ok, `stock for ${pick.name}: ${stocked.status}`);
      await stocked.body?.cancel();
    }
    const address = await (await fetch(`${edge.url}/v1/addresses`, {
      method: "POST",
      headers: customer,
      body: JSON.stringify({
        name: "Demo",
        surname: "Customer",
        email: "demo@multishop.local",
        phone: "+1 555 0101",
        country: "US",
        city: "Springfield",
        district: "Downtown",
        line1: "1 Market Street",
        zipCode: "12345",
      }),
    })).json();
    const placed = await fetch(`${edge.url}/v1/orders`, {
      method: "POST",
      headers: { ...customer, "idempotency-key": crypto.randomUUID() },
      body: JSON.stringify({
        addressId: address.id,
        payment: {
          cardNumber: "4242424242424242",
          expMonth: 12,
          expYear: 2030,
          cvc: "123",
          holder: "Demo Customer",
        },
      }),
    });
    assert.equal(placed.status, 202);
    const order = await placed.json();
    assert.equal(order.status, "pending");
    assert.equal(
      order.totals.total.amount,
      basket.totals.total.amount,
      "the order keeps the basket's server-side totals",
    );
    const stream = await fetch(`${edge.url}/v1/orders/${order.id}/events`, {
      headers: { authorization: customer.authorization },
    });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get("content-type") ?? "", /text\/event-stream/);
    const statuses = await readStatuses(stream.body!, "confirmed", 20_000);
    assert.equal(statuses[0], "pending");
    assert.equal(statuses.at(-1), "confirmed");
    const emptied = async () =>
      (await (await fetch(`${edge.url}/v1/basket`, { headers: { authorization: customer.authorization } }))
        .json()).lines
        .length === 0;
    for (let attempt = 0; attempt < 100 && !(await emptied()); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(await emptied(), "the confirmed order emptied the basket");

    const otherCustomer = await fetch(`${edge.url}/v1/basket`);
    assert.equal(otherCustomer.status, 401, "no basket without signing in");
    await otherCustomer.body?.cancel();

    // A product page in one call: the product with its category and brand, and its stock.
    const page = await (await fetch(`${edge.url}/v1/storefront/products/${picks[0].id}`)).json();
    assert.equal(page.product.id, picks[0].id);
    assert.equal(page.availability.productId, picks[0].id);
    assert.equal(typeof page.availability.available, "number");
    assert.deepEqual(page.missing, ["reviews"]);

    // Public catalog reads are cached at the edge: the second identical GET is a HIT.
    const listing = `${edge.url}/v1/products?category=kitchen&sort=price_asc&limit=5`;
    const first = await fetch(listing);
    assert.equal(first.headers.get("x-cache-status"), "MISS");
    await first.body?.cancel();
    let second: Response | undefined;
    for (let attempt = 0; attempt < 200; attempt++) {
      second = await fetch(listing);
      if (second.headers.get("x-cache-status") === "HIT") break;
      await second.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 50)); // the cache write finishes after the answer
    }
    assert.equal(second!.headers.get("x-cache-status"), "HIT");
    assert.equal((await second!.json()).items.length, 5);

    // Sign-in is rate limited per address: ten attempts are answered, the eleventh is refused.
    const attempt = () =>
      fetch(`${edge.url}/oauth/token`, {
        method: "POST",
        headers: { "cf-connecting-ip": "198.51.100.7" },
        body: new URLSearchParams({
          grant_type: "password",
          client_id: "storefront",
          username: "demo",
          password: "wrong-guess",
        }),
      });
    for (let n = 1; n <= 10; n++) {
      const answer = await attempt();
      assert.equal(answer.status, 400, `attempt ${n} reaches identity`);
      await answer.body?.cancel();
    }
    const eleventh = await attempt();
    assert.equal(eleventh.status, 429);
    assert.ok(Number(eleventh.headers.get("retry-after")) >= 1);
    await eleventh.body?.cancel();

    // The merged API reference.
    const docs = await fetch(`${edge.url}/docs`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /openapi\.json/);
    const merged = await (await fetch(`${edge.url}/openapi.json`)).json();
    for (const path of ["/oauth/token", "/v1/products", "/v1/images", "/v1/storefront/home"]) {
      assert.ok(merged.paths[path], path);
    }
  } finally {
    await edge.close();
    await Promise.all(servers.map((server) => server.shutdown()));
    await services.close();
    await bus.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
