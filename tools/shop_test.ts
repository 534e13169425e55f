/**
 * The shop as `deno task start` wires it, end to end through the edge in workerd: an admin signs in,
 * uploads an image, sets it on a seeded product, and a visitor finds the product with its image,
 * category and brand.
 */
import assert from "node:assert/strict";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus } from "@multishop/kit/messaging";
import { serveApp } from "@multishop/kit/serve";
import { encodePng } from "../services/images/placeholder.ts";
import { startServices } from "./services.ts";
import { demoCredentials, shopEnv, withPublicUrl } from "./shop.ts";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("admin uploads an image and sets it on a seeded product; the storefront sees it", async () => {
  const dataDir = await Deno.makeTempDir();
  const config = withPublicUrl(shopEnv.parse({
    DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    EDGE_PORT: String(freePort()),
    IDENTITY_PORT: String(freePort()),
    CATALOG_PORT: String(freePort()),
    IMAGES_PORT: String(freePort()),
  }));
  const credentials = await demoCredentials(config);
  const bus = createInProcessBus({ logger: createLogger("messaging", "silent") });
  // No variables: every store embedded, whatever servers the environment names.
  const services = await startServices(config, bus, credentials, {});
  const servers = [services.identity, services.catalog, services.images].map((service) =>
    serveApp(service.app, { hostname: "127.0.0.1", port: service.port })
  );
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
  } finally {
    await edge.close();
    await Promise.all(servers.map((server) => server.shutdown()));
    await services.close();
    await bus.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
