/**
 * The shop as `deno task start` wires it, end to end through the edge in workerd, once on the embedded
 * stores and once on the real servers (PostgreSQL, MongoDB, Redis, RabbitMQ, Cloud Storage): an admin
 * signs in and sets an uploaded image on a product; a customer fills a basket, applies a coupon and
 * checks out, watching the order on its event stream while the admin's dashboard stream shows the new
 * figures; the shipment follows to delivered; the customer reviews a product, and once approved the
 * product page shows the rating; customer and admin exchange messages; cached reads, limited sign-in
 * and /docs.
 */
import assert from "node:assert/strict";
import { infraRequired } from "@multishop/kit/testing";
import { encodePng } from "../services/images/placeholder.ts";
import { startServices } from "./services.ts";
import { demoCredentials, freePorts, shopEnv, withPublicUrl } from "./shop.ts";
import { embeddedStores, realServerStores, type ShopStores, unsetServerVariables } from "./test_stores.ts";

interface ServerSentEvent {
  event: string;
  // deno-lint-ignore no-explicit-any
  data: any;
}

/** Reads a server-sent event stream event by event; each wait fails the test after its deadline. */
function eventStream(response: Response, name: string) {
  assert.equal(response.status, 200, `${name}: ${response.status}`);
  assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/, name);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const parsed: ServerSentEvent[] = [];
  let buffered = "";
  return {
    /** The first event (from now on) for which `wanted` holds. */
    async next(wanted: (event: ServerSentEvent) => boolean, what: string, deadlineMs = 20_000) {
      const deadline = Date.now() + deadlineMs;
      while (true) {
        const index = parsed.findIndex(wanted);
        if (index >= 0) return parsed.splice(0, index + 1).at(-1)!;
        parsed.length = 0;
        const left = deadline - Date.now();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<"timeout">((resolve) =>
          timer = setTimeout(() => resolve("timeout"), left)
        );
        const chunk = await Promise.race([reader.read(), timeout]).finally(() => clearTimeout(timer));
        if (chunk === "timeout") assert.fail(`${name}: no ${what} within ${deadlineMs} ms`);
        if (chunk.done) assert.fail(`${name}: the stream ended before ${what}`);
        buffered += chunk.value;
        for (let end; (end = buffered.indexOf("\n\n")) >= 0; buffered = buffered.slice(end + 2)) {
          const lines = buffered.slice(0, end).split("\n");
          const data = lines.filter((line) => line.startsWith("data:")).map((line) => line.slice(5)).join(
            "\n",
          );
          if (!data) continue;
          const event = lines.find((line) => line.startsWith("event:"))?.slice(6).trim() ?? "message";
          parsed.push({ event, data: JSON.parse(data) });
        }
      }
    },
    close: () => reader.cancel(),
  };
}

/** Polls until `check` holds, failing after the deadline with `what`. */
async function eventually(check: () => Promise<boolean>, what: string, deadlineMs = 20_000) {
  for (const deadline = Date.now() + deadlineMs; Date.now() < deadline;) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Where the shop keeps its data in one run: embedded in a temporary folder, or on the real servers. */
interface Target {
  name: string;
  skip?: string;
  open(): Promise<ShopStores>;
}

const embedded: Target = { name: "the embedded stores", open: () => Promise.resolve(embeddedStores()) };

const unset = unsetServerVariables();
const realServers: Target = {
  name: "the real servers",
  skip: unset.length > 0 && !infraRequired
    ? `${unset.join(", ")} not set (start servers with \`deno task infra:up\`)`
    : undefined,
  open() {
    assert.deepEqual(unset, [], "the real servers' variables must be set");
    return realServerStores("e2e");
  },
};

for (const target of [embedded, realServers]) {
  Deno.test({
    name: `through the edge, on ${target.name}: checkout, shipping, reviews, messages, live figures`,
    ignore: Boolean(target.skip),
  }, async () => {
    const dataDir = await Deno.makeTempDir();
    const opened = await target.open();
    const config = withPublicUrl(shopEnv.parse({
      DATA_DIR: dataDir,
      LOG_LEVEL: "silent",
      ...freePorts(),
      ...opened.shop,
    }));
    const credentials = await demoCredentials(config);
    const { bus } = opened;
    // The target's store variables only (none: everything embedded, whatever the environment names). Sign-in
    // tokens refill slowly here so that a slow machine cannot refill one between the 10th and the 11th attempt
    // (the default policy itself is checked in edge/ratelimit_test.ts).
    const services = await startServices(config, bus, credentials, {
      ...opened.services,
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
      // The admin watches the live figures meanwhile.
      const dashboard = eventStream(
        await fetch(`${edge.url}/v1/admin/dashboard/events`, { headers: auth }),
        "the admin dashboard",
      );
      const before = (await dashboard.next(({ data }) => data.orders !== null, "the first figures")).data;
      assert.equal(before.products, 500);
      assert.ok(before.users >= 2, `the admin and the demo customer in ${JSON.stringify(before)}`);
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
      const watched = eventStream(
        await fetch(`${edge.url}/v1/orders/${order.id}/events`, {
          headers: { authorization: customer.authorization },
        }),
        "the order's events",
      );
      assert.equal((await watched.next(() => true, "the first status")).data.status, "pending");
      await watched.next(({ data }) => data.status === "confirmed", "confirmed");
      const confirmedFigures = await dashboard.next(
        ({ data }) => data.orders.confirmed === before.orders.confirmed + 1,
        "the confirmed order in the figures",
      );
      assert.equal(confirmedFigures.event, "figures");
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

      // Shipping: the confirmed order gets a shipment with a public tracking code; the admin records the
      // carrier's scans up to delivered, and the customer's order follows on its event stream.
      const orderNow = async () =>
        await (await fetch(`${edge.url}/v1/orders/${order.id}`, {
          headers: { authorization: customer.authorization },
        }))
          .json();
      await eventually(async () => (await orderNow()).trackingCode !== null, "the shipment's tracking code");
      const { trackingCode } = await orderNow();
      const tracking = await (await fetch(`${edge.url}/v1/shipments/${trackingCode}`)).json();
      assert.equal(tracking.status, "created");
      assert.deepEqual(tracking.destination, { city: "Springfield", country: "US" });
      assert.equal(
        JSON.stringify(tracking).includes("Market Street"),
        false,
        "public tracking hides the street",
      );
      const scan = (status: string) =>
        fetch(`${edge.url}/v1/shipments/${trackingCode}/events`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ status, place: "Springfield hub" }),
        });
      for (const status of ["picked_up", "in_transit", "out_for_delivery", "delivered"]) {
        const recorded = await scan(status);
        assert.equal(recorded.status, 201, status);
        await recorded.body?.cancel();
        if (status === "picked_up") {
          assert.equal(
            (await watched.next(({ data }) => data.status !== "confirmed", "shipped")).data.status,
            "shipped",
          );
        }
      }
      const delivered = await watched.next(({ data }) => data.status === "delivered", "delivered");
      assert.equal(delivered.data.trackingCode, trackingCode);
      assert.equal((await orderNow()).status, "delivered");
      const late = await scan("picked_up");
      assert.equal(late.status, 409, "a delivered shipment takes no more scans");
      await late.body?.cancel();
      const publicTrack = await (await fetch(`${edge.url}/v1/shipments/${trackingCode}`)).json();
      assert.deepEqual(publicTrack.events.map((event: { status: string }) => event.status), [
        "created",
        "picked_up",
        "in_transit",
        "out_for_delivery",
        "delivered",
      ]);

      // Reviews: the customer reviews a product of the order; it shows once an admin approves it.
      const reviewed = picks[1];
      const written = await fetch(`${edge.url}/v1/products/${reviewed.id}/reviews`, {
        method: "POST",
        headers: customer,
        body: JSON.stringify({ rating: 4, title: "Well bound", text: "Reads well <b>and</b> lasts." }),
      });
      assert.equal(written.status, 201);
      const review = await written.json();
      assert.equal(review.status, "pending");
      // The comment service learns of the purchase from order.confirmed on its own queue.
      await eventually(async () => {
        const read = await fetch(`${edge.url}/v1/reviews/${review.id}`, { headers: customer });
        return (await read.json()).verifiedPurchase === true;
      }, "the review to be marked a verified purchase");
      const again = await fetch(`${edge.url}/v1/products/${reviewed.id}/reviews`, {
        method: "POST",
        headers: customer,
        body: JSON.stringify({ rating: 1, title: "Again", text: "A second review" }),
      });
      assert.equal(again.status, 409, "one review per customer and product");
      await again.body?.cancel();
      const listed = async () =>
        (await (await fetch(`${edge.url}/v1/products/${reviewed.id}/reviews`)).json()).items.length;
      assert.equal(await listed(), 0, "pending reviews are not shown");
      const approveAsCustomer = await fetch(`${edge.url}/v1/reviews/${review.id}/approve`, {
        method: "POST",
        headers: customer,
      });
      assert.equal(approveAsCustomer.status, 403);
      await approveAsCustomer.body?.cancel();
      const approved = await fetch(`${edge.url}/v1/reviews/${review.id}/approve`, {
        method: "POST",
        headers: auth,
      });
      assert.equal(approved.status, 200);
      await approved.body?.cancel();
      // A product page in one call: the product with its category and brand, its stock and its reviews.
      const page = await (await fetch(`${edge.url}/v1/storefront/products/${reviewed.id}`)).json();
      assert.equal(page.product.id, reviewed.id);
      assert.equal(page.availability.productId, reviewed.id);
      assert.equal(typeof page.availability.available, "number");
      assert.deepEqual([page.rating.average, page.rating.count, page.rating.distribution["4"]], [4, 1, 1]);
      assert.equal(page.reviews[0].text, "Reads well <b>and</b> lasts.", "text comes back as it was written");
      assert.equal(page.reviews[0].verifiedPurchase, true);
      assert.deepEqual(page.missing, []);

      // Messages: the customer writes to support; the admin's dashboard counts it, the admin answers.
      const unreadBefore = confirmedFigures.data.unreadSupportMessages;
      const asked = await fetch(`${edge.url}/v1/messages`, {
        method: "POST",
        headers: customer,
        body: JSON.stringify({
          receiverId: "support",
          subject: "Gift wrap?",
          body: "Can you wrap the books?",
        }),
      });
      assert.equal(asked.status, 201);
      await asked.body?.cancel();
      await dashboard.next(
        ({ data }) => data.unreadSupportMessages === unreadBefore + 1,
        "the support message in the figures",
      );
      const inbox = await (await fetch(`${edge.url}/v1/messages/inbox`, { headers: auth })).json();
      const question = inbox.items.find((message: { subject: string }) => message.subject === "Gift wrap?");
      assert.ok(question, "the admin's inbox holds the support message");
      const me =
        await (await fetch(`${edge.url}/v1/users/me`, { headers: { authorization: customer.authorization } }))
          .json();
      const answered = await fetch(`${edge.url}/v1/messages`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ receiverId: me.id, subject: "Re: Gift wrap?", body: "Yes, for free." }),
      });
      assert.equal(answered.status, 201);
      const answer = await answered.json();
      const unread = async () =>
        (await (await fetch(`${edge.url}/v1/messages/unread-count`, { headers: customer })).json()).count;
      assert.equal(await unread(), 1);
      const opened = await fetch(`${edge.url}/v1/messages/${answer.id}`, { headers: customer });
      assert.equal((await opened.json()).body, "Yes, for free.");
      assert.equal(await unread(), 0);
      await dashboard.close();
      await watched.close();

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

      // Sign-in is rate limited per connecting address, whatever address a client claims: ten attempts
      // are answered, the eleventh is refused. Each tries another name, so identity's own per-account
      // throttle stays out of it.
      const guesser = Deno.createHttpClient({ localAddress: "127.0.0.7" });
      const attempt = (n: number) =>
        fetch(`${edge.url}/oauth/token`, {
          method: "POST",
          client: guesser,
          headers: { "cf-connecting-ip": `198.51.100.${n}` },
          body: new URLSearchParams({
            grant_type: "password",
            client_id: "storefront",
            username: `nobody-${n}`,
            password: "wrong-guess",
          }),
        });
      for (let n = 1; n <= 10; n++) {
        const answer = await attempt(n);
        assert.equal(answer.status, 400, `attempt ${n} reaches identity`);
        await answer.body?.cancel();
      }
      const eleventh = await attempt(11);
      assert.equal(eleventh.status, 429);
      assert.ok(Number(eleventh.headers.get("retry-after")) >= 1);
      await eleventh.body?.cancel();
      guesser.close();

      // One client's bad input cannot take sign-in away from everyone: a NUL byte in the username made
      // identity answer 500, five of those opened the edge's breaker, and every sign-in answered 503.
      const attacker = Deno.createHttpClient({ localAddress: "127.0.0.8" });
      for (let n = 1; n <= 10; n++) {
        const bad = await fetch(`${edge.url}/oauth/token`, {
          method: "POST",
          client: attacker,
          body: "grant_type=password&client_id=storefront&username=x%00&password=y",
          headers: { "content-type": "application/x-www-form-urlencoded" },
        });
        assert.equal(bad.status, 400, `bad sign-in ${n}`);
        assert.equal((await bad.json()).error, "invalid_request");
      }
      attacker.close();
      const victim = Deno.createHttpClient({ localAddress: "127.0.0.9" });
      const signedIn = await fetch(`${edge.url}/oauth/token`, {
        method: "POST",
        client: victim,
        body: new URLSearchParams({
          grant_type: "password",
          client_id: "storefront",
          username: credentials.customer.username,
          password: credentials.customer.password,
        }),
      });
      assert.equal(signedIn.status, 200, "another client still signs in");
      await signedIn.body?.cancel();
      victim.close();

      // The merged API reference.
      const docs = await fetch(`${edge.url}/docs`);
      assert.equal(docs.status, 200);
      assert.match(await docs.text(), /openapi\.json/);
      const merged = await (await fetch(`${edge.url}/openapi.json`)).json();
      for (
        const path of [
          "/oauth/token",
          "/v1/products",
          "/v1/images",
          "/v1/storefront/home",
          "/v1/shipments/{trackingCode}",
          "/v1/products/{productId}/reviews",
          "/v1/messages",
          "/v1/admin/dashboard/events",
        ]
      ) {
        assert.ok(merged.paths[path], path);
      }
    } finally {
      await edge.close();
      await Promise.all(servers.map((server) => server.shutdown()));
      await services.close();
      await bus.close();
      await opened.cleanUp();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

Deno.test("freePorts: a distinct, bindable port for each *_PORT, below the range port-0 listeners draw from", async () => {
  const ports = Object.values(freePorts()).map(Number);
  assert.equal(ports.length, Object.keys(shopEnv.shape).filter((name) => name.endsWith("_PORT")).length);
  assert.equal(new Set(ports).size, ports.length, `distinct: ${ports}`);
  // A parallel test's port-0 listener takes its port from this range, so none of ours may be in it. Only
  // Linux publishes the range here.
  const ephemeralRange = await Deno.readTextFile("/proc/sys/net/ipv4/ip_local_port_range").catch(() =>
    undefined
  );
  if (ephemeralRange) {
    const firstEphemeral = Number(ephemeralRange.split(/\s+/)[0]);
    for (const port of ports) assert.ok(port < firstEphemeral, `${port} is below ${firstEphemeral}`);
  }
  const listeners = ports.map((port) => Deno.listen({ hostname: "127.0.0.1", port }));
  for (const listener of listeners) listener.close();
});
