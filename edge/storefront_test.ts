/** The storefront aggregates in workerd, in front of a fake catalog that answers as the real one does. */
import assert from "node:assert/strict";
import { cacheKey } from "./src/cache.ts";
import { type Seen, startEdgeFixture } from "./test_support.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const createdAt = "2026-03-01T09:00:00.000Z";
const times = { createdAt, updatedAt: createdAt };
const ids = {
  kitchen: "5a1c2f7e-3b8d-4c1a-9e2f-1d7b6a4c8e01",
  cookware: "5a1c2f7e-3b8d-4c1a-9e2f-1d7b6a4c8e02",
  tefal: "7b2d3e8f-4c9e-4d2b-8f3a-2e8c7b5d9f01",
  pan: "9c3e4f90-5daf-4e3c-9a4b-3f9d8c6eaf01",
};

const product = {
  id: ids.pan,
  name: "Frying pan 28 cm",
  slug: "frying-pan-28-cm",
  description: "A non-stick pan for every hob, induction included.",
  info: "Dishwasher safe. Oven safe to 175 °C.",
  images: [{ url: "http://127.0.0.1:5003/v1/images/pan.png", alt: "The pan from above" }],
  price: { amount: 3499, currency: "USD" },
  category: { id: ids.cookware, name: "Cookware", slug: "cookware", parentId: ids.kitchen },
  brand: { id: ids.tefal, name: "Tefal", slug: "tefal" },
  attributes: [{ key: "Diameter", value: "28 cm" }],
  status: "active",
  ...times,
};

const content = (id: string, fields: Record<string, unknown>) => ({
  id,
  ...fields,
  active: true,
  sortOrder: 0,
  ...times,
});

/** What the catalog answers, by path and query, in the shapes of services/catalog/app.ts. */
const catalogAnswers: Record<string, unknown> = {
  "/v1/content/sliders": {
    items: [content("0b6e1c52-0000-4000-8000-000000000001", {
      title: "Spring kitchen week",
      description: "Up to 30% off pans and pots",
      image: "http://127.0.0.1:5003/v1/images/slider.png",
      link: "http://127.0.0.1:8787/v1/products?category=cookware",
    })],
  },
  "/v1/content/special-offers": {
    items: [content("0b6e1c52-0000-4000-8000-000000000002", {
      title: "Two pans, one price",
      subtitle: "This week only",
      image: "http://127.0.0.1:5003/v1/images/offer.png",
    })],
  },
  "/v1/content/features": {
    items: [content("0b6e1c52-0000-4000-8000-000000000003", { title: "Free delivery", icon: "truck" })],
  },
  "/v1/content/offer-discounts": {
    items: [content("0b6e1c52-0000-4000-8000-000000000004", {
      title: "10% off your first order",
      subtitle: "With code WELCOME10",
      image: "http://127.0.0.1:5003/v1/images/discount.png",
      buttonText: "Shop now",
    })],
  },
  "/v1/categories": {
    items: [{
      id: ids.kitchen,
      name: "Kitchen",
      slug: "kitchen",
      image: null,
      parentId: null,
      sortOrder: 0,
      ...times,
      children: [{
        id: ids.cookware,
        name: "Cookware",
        slug: "cookware",
        image: null,
        parentId: ids.kitchen,
        sortOrder: 0,
        ...times,
      }],
    }],
  },
  "/v1/brands": { items: [{ id: ids.tefal, name: "Tefal", slug: "tefal", logo: null, ...times }] },
  "/v1/products?sort=newest&limit=8": { items: [product], nextCursor: null },
  [`/v1/products/${ids.pan}`]: product,
};

const homePaths = [
  "/v1/content/sliders",
  "/v1/content/special-offers",
  "/v1/content/features",
  "/v1/content/offer-discounts",
  "/v1/categories",
  "/v1/brands",
  "/v1/products?sort=newest&limit=8",
];

function fakeCatalog(_request: Request, seen: Seen): Response {
  const body = catalogAnswers[seen.path];
  if (body === undefined) {
    return Response.json(
      { type: "about:blank", title: "Not Found", status: 404, detail: "no such product" },
      { status: 404, headers: { "content-type": "application/problem+json" } },
    );
  }
  return Response.json(body, { headers: { "cache-control": "public, max-age=60, s-maxage=300" } });
}

/** Promises 1000 bytes, sends a few and hangs up: the connection drops halfway, with no wait. */
function droppedConnection(): Response {
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"items":['));
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-length": "1000" } });
}

const wholePage = "public, max-age=30, s-maxage=30, stale-while-revalidate=30";

Deno.test("storefront aggregates in workerd", async (t) => {
  // How pages are built, each from its services: the cache (tested below) is off.
  const fixture = await startEdgeFixture({ CACHE_ENABLED: "false" });
  const { edge, catalog } = fixture;
  const call = (path: string, init: RequestInit = {}) => fetch(`${edge.url}${path}`, init);
  catalog.respond = fakeCatalog;

  try {
    await t.step("home: every part, from the catalog in parallel, with the request's trace", async () => {
      // Each answer waits until all seven requests have arrived (or a second has passed): made one
      // after another, the first would be answered alone.
      const arrivedAtAnswer: number[] = [];
      let release!: () => void;
      const allArrived = new Promise<void>((resolve) => release = resolve);
      const fallback = setTimeout(release, 1_000);
      let arrived = 0;
      catalog.respond = async (request, seen) => {
        if (++arrived === homePaths.length) release();
        await allArrived;
        arrivedAtAnswer.push(arrived);
        return fakeCatalog(request, seen);
      };
      const before = catalog.seen.length;
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const response = await call("/v1/storefront/home", {
        headers: { "x-request-id": "home-1", traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      });
      clearTimeout(fallback);
      catalog.respond = fakeCatalog;

      assert.equal(response.status, 200);
      assert.equal(response.headers.get("cache-control"), wholePage);
      assert.deepEqual(await response.json(), {
        sliders: (catalogAnswers["/v1/content/sliders"] as { items: unknown[] }).items,
        specialOffers: (catalogAnswers["/v1/content/special-offers"] as { items: unknown[] }).items,
        features: (catalogAnswers["/v1/content/features"] as { items: unknown[] }).items,
        offerDiscounts: (catalogAnswers["/v1/content/offer-discounts"] as { items: unknown[] }).items,
        categories: (catalogAnswers["/v1/categories"] as { items: unknown[] }).items,
        brands: (catalogAnswers["/v1/brands"] as { items: unknown[] }).items,
        newestProducts: [product],
        missing: [],
      });
      const seen = catalog.seen.slice(before);
      assert.deepEqual(seen.map((s) => s.path).sort(), [...homePaths].sort());
      assert.deepEqual(arrivedAtAnswer, homePaths.map(() => homePaths.length), "all requests were in flight");
      for (const { path, headers } of seen) {
        assert.equal(headers.get("x-request-id"), "home-1", path);
        assert.match(headers.get("traceparent")!, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), path);
      }
    });

    await t.step("product: the product with its availability, rating and newest reviews", async () => {
      fixture.inventory.respond = (_request, seen) =>
        Response.json({ items: [{ productId: ids.pan, available: 7, inStock: true }], asked: seen.path });
      const rating = { average: 4.5, count: 2, distribution: { "1": 0, "2": 0, "3": 0, "4": 1, "5": 1 } };
      const review = {
        id: "r-1",
        rating: 5,
        title: "Great pan",
        text: "Heats evenly.",
        verifiedPurchase: true,
      };
      fixture.comment.respond = (_request, seen) =>
        Response.json(
          seen.path.endsWith("/rating") ? rating : { items: [review], nextCursor: null, total: 1 },
        );
      const before = catalog.seen.length;
      const response = await call(`/v1/storefront/products/${ids.pan}`, {
        headers: { "x-request-id": "pp-1" },
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("cache-control"), wholePage);
      assert.deepEqual(await response.json(), {
        product,
        availability: { productId: ids.pan, available: 7, inStock: true },
        rating,
        reviews: [review],
        missing: [],
      });
      assert.equal(fixture.inventory.seen.at(-1)!.path, `/v1/inventory?productIds=${ids.pan}`);
      assert.deepEqual(fixture.comment.seen.slice(-2).map((s) => s.path).sort(), [
        `/v1/products/${ids.pan}/rating`,
        `/v1/products/${ids.pan}/reviews?sort=newest&limit=3`,
      ]);
      assert.deepEqual(catalog.seen.slice(before).map((s) => s.path), [`/v1/products/${ids.pan}`]);
      assert.equal(catalog.seen.at(-1)!.headers.get("x-request-id"), "pp-1");
    });

    await t.step("product: reviews down, the rest of the page is served and not cached", async () => {
      fixture.comment.respond = () => new Response("down", { status: 503 });
      const response = await call(`/v1/storefront/products/${ids.pan}`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("cache-control"), "no-store");
      const page = await response.json();
      assert.deepEqual(page.product, product);
      assert.deepEqual([page.rating, page.reviews], [null, null]);
      assert.deepEqual(page.missing, ["rating", "reviews"]);
    });

    await t.step("product: an unknown product is the catalog's 404, as the edge's problem", async () => {
      const unknown = "00000000-0000-4000-8000-000000000000";
      const response = await call(`/v1/storefront/products/${unknown}`, {
        headers: { "x-request-id": "pp-2" },
      });
      assert.equal(response.status, 404);
      assert.equal(response.headers.get("content-type"), "application/problem+json");
      assert.deepEqual(await response.json(), {
        type: "about:blank",
        title: "Not Found",
        status: 404,
        detail: "no such product",
        instance: `/v1/storefront/products/${unknown}`,
        requestId: "pp-2",
      });
    });

    await t.step("product: a bad id answers 400 naming path.id, without calling the catalog", async () => {
      const before = catalog.seen.length;
      for (const id of ["not-an-id", "42", "%7B%22%24gt%22%3A%22%22%7D"]) {
        const response = await call(`/v1/storefront/products/${id}`);
        assert.equal(response.status, 400, id);
        const problem = await response.json();
        assert.equal(problem.type, "urn:multishop:problem:validation");
        assert.deepEqual(problem.errors, [{ field: "path.id", reason: "must be an id" }]);
      }
      assert.equal(catalog.seen.length, before);
    });

    await t.step("aggregates are read-only: other methods answer 405 with Allow", async () => {
      const response = await call("/v1/storefront/home", { method: "POST" });
      assert.equal(response.status, 405);
      assert.equal(response.headers.get("allow"), "GET, HEAD");
      await response.body?.cancel();
    });

    await t.step("home: a part that fails is null and named in missing; the rest is served", async () => {
      for (
        const [name, path, failure] of [
          ["sliders", "/v1/content/sliders", () => new Response("Traceback: db.py line 3", { status: 500 })],
          ["brands", "/v1/brands", droppedConnection],
        ] as const
      ) {
        catalog.respond = (request, seen) => seen.path === path ? failure() : fakeCatalog(request, seen);
        const response = await call("/v1/storefront/home");
        catalog.respond = fakeCatalog;
        assert.equal(response.status, 200, name);
        assert.equal(
          response.headers.get("cache-control"),
          "no-store",
          `${name}: a partial page is not kept`,
        );
        const page = await response.json();
        assert.equal(page[name], null, name);
        assert.deepEqual(page.missing, [name]);
        assert.deepEqual(page.newestProducts, [product], name);
        assert.equal(page.categories.length, 1, name);
      }
    });

    await t.step("product: a catalog server error is the edge's 502, without its details", async () => {
      catalog.respond = () => new Response("Traceback: secret at db.py line 3", { status: 500 });
      const response = await call(`/v1/storefront/products/${ids.pan}`);
      catalog.respond = fakeCatalog;
      assert.equal(response.status, 502);
      assert.doesNotMatch(await response.text(), /Traceback|secret/);
    });

    // Last: failing every part opens the catalog's circuit breaker for the rest of this isolate's life.
    await t.step("home: when every part fails, 502", async () => {
      catalog.respond = () => new Response("down", { status: 500 });
      const response = await call("/v1/storefront/home");
      catalog.respond = fakeCatalog;
      assert.equal(response.status, 502);
      assert.equal(response.headers.get("content-type"), "application/problem+json");
      const problem = await response.json();
      assert.equal(problem.type, "urn:multishop:problem:upstream-failure");
      assert.doesNotMatch(JSON.stringify(problem), /down/);
    });
  } finally {
    await fixture.close();
  }
});

Deno.test("storefront aggregates from the edge cache in workerd", async (t) => {
  const fixture = await startEdgeFixture();
  const { edge, catalog } = fixture;
  const call = (path: string, init: RequestInit = {}) => fetch(`${edge.url}${path}`, init);
  /** What the catalog was asked since `from` (an index into its log), sorted. */
  const askedSince = (from: number) => catalog.seen.slice(from).map((seen) => seen.path).sort();
  const purge = async () => {
    const response = await call("/v1/edge/cache/purge", {
      method: "POST",
      headers: { authorization: `Bearer ${await fixture.tokens.admin()}` },
    });
    return (await response.json()).generation as number;
  };

  try {
    await t.step("a burst of 50 home pages asks the catalog for each part once", async () => {
      catalog.respond = async (request, seen) => {
        await delay(100);
        return fakeCatalog(request, seen);
      };
      const answers = await Promise.all(Array.from({ length: 50 }, () => call("/v1/storefront/home")));
      catalog.respond = fakeCatalog;
      const bodies = await Promise.all(answers.map((answer) => answer.text()));
      for (const [index, answer] of answers.entries()) {
        assert.equal(answer.status, 200);
        assert.ok(["MISS", "HIT"].includes(answer.headers.get("x-cache-status")!));
        assert.equal(bodies[index], bodies[0]);
      }
      assert.deepEqual(JSON.parse(bodies[0]).missing, []);
      assert.deepEqual(askedSince(0), [...homePaths].sort());
    });

    await t.step("the page is then a HIT, with its own lifetime", async () => {
      const before = catalog.seen.length;
      const hit = await call("/v1/storefront/home?utm=made-up");
      assert.equal(hit.headers.get("x-cache-status"), "HIT", "a query does not get past the cache");
      assert.equal(hit.headers.get("cache-control"), wholePage);
      await hit.body?.cancel();
      assert.equal(catalog.seen.length, before);
    });

    await t.step("a part already cached for a forwarded route is not fetched again", async () => {
      await purge();
      const brands = await call("/v1/brands");
      assert.equal(brands.headers.get("x-cache-status"), "MISS");
      await brands.body?.cancel();
      const before = catalog.seen.length;
      const home = await call("/v1/storefront/home");
      assert.equal(home.headers.get("x-cache-status"), "MISS");
      assert.deepEqual(
        (await home.json()).brands,
        (catalogAnswers["/v1/brands"] as { items: unknown }).items,
      );
      assert.deepEqual(askedSince(before), homePaths.filter((path) => path !== "/v1/brands").sort());
    });

    await t.step("a signed-in request never touches either cache layer", async () => {
      const generation = await purge();
      const customer = { authorization: `Bearer ${await fixture.tokens.customer()}` };
      const before = catalog.seen.length;
      for (let round = 0; round < 2; round++) {
        const page = await call("/v1/storefront/home", { headers: customer });
        assert.equal(page.headers.get("x-cache-status"), "BYPASS");
        await page.body?.cancel();
      }
      assert.equal(catalog.seen.length - before, 2 * homePaths.length, "every part, every time");
      for (const path of ["/v1/storefront/home", ...homePaths]) {
        assert.equal(await edge.cache.match(cacheKey(`${edge.url}${path}`, generation)), undefined, path);
      }
      const anonymous = await call("/v1/storefront/home");
      assert.equal(anonymous.headers.get("x-cache-status"), "MISS", "nor was anything kept in memory");
      await anonymous.body?.cancel();
    });

    await t.step("a product page is cached whole, and a burst shares one build", async () => {
      fixture.inventory.respond = () =>
        Response.json({ items: [{ productId: ids.pan, available: 7, inStock: true }] });
      fixture.comment.respond = (_request, seen) =>
        Response.json(
          seen.path.endsWith("/rating")
            ? { average: null, count: 0, distribution: { "1": 0, "2": 0, "3": 0, "4": 0, "5": 0 } }
            : { items: [], nextCursor: null, total: 0 },
        );
      catalog.respond = async (request, seen) => {
        await delay(100);
        return fakeCatalog(request, seen);
      };
      const path = `/v1/storefront/products/${ids.pan}`;
      const answers = await Promise.all(Array.from({ length: 20 }, () => call(path)));
      catalog.respond = fakeCatalog;
      for (const answer of answers) {
        assert.equal(answer.status, 200);
        await answer.body?.cancel();
      }
      assert.equal(fixture.inventory.seen.length, 1);
      assert.equal(catalog.seen.filter((seen) => seen.path === `/v1/products/${ids.pan}`).length, 1);
      const hit = await call(path);
      assert.equal(hit.headers.get("x-cache-status"), "HIT");
      await hit.body?.cancel();
    });
  } finally {
    await fixture.close();
  }
});

Deno.test("storefront aggregates in workerd: a stale page stands in for a failing catalog", async (t) => {
  // Pages and parts expire after a second, and no stale page is served while one is rebuilt.
  const fixture = await startEdgeFixture({
    STOREFRONT_MAX_AGE_SECONDS: "1",
    STOREFRONT_STALE_WHILE_REVALIDATE_SECONDS: "0",
  });
  const { edge, catalog } = fixture;
  const home = async () => {
    const response = await fetch(`${edge.url}/v1/storefront/home`);
    return {
      status: response.status,
      cache: response.headers.get("x-cache-status"),
      body: await response.text(),
    };
  };
  catalog.respond = (request, seen) => {
    const response = fakeCatalog(request, seen);
    response.headers.set("cache-control", "public, s-maxage=1");
    return response;
  };

  try {
    const first = await home();
    assert.equal(first.cache, "MISS");
    await delay(1_100);

    await t.step("the catalog answering 503: the stale page, marked STALE", async () => {
      catalog.respond = () => new Response("down", { status: 503 });
      const page = await home();
      assert.equal(page.status, 200);
      assert.equal(page.cache, "STALE");
      assert.equal(page.body, first.body);
    });

    await t.step("the catalog gone (its breaker open by now): still the stale page", async () => {
      await catalog.close();
      const page = await home();
      assert.equal(page.status, 200);
      assert.equal(page.cache, "STALE");
      assert.equal(page.body, first.body);
    });
  } finally {
    await fixture.close();
  }
});
