/**
 * `deno task seed`: the demo data, into the configured stores (the servers in the environment, or the
 * embedded ones in the data folder while the shop is stopped). `start` does the same on every start;
 * what already exists is left alone.
 */
import { runMain } from "@multishop/kit/config";
import { createLogger } from "@multishop/kit/log";
import { messagingFromConfig } from "@multishop/kit/messaging";
import { startServices } from "./services.ts";
import { demoCredentials, loadShopConfig } from "./shop.ts";

await runMain(async () => {
  const config = { ...loadShopConfig(), LOG_LEVEL: "warn" as const };
  const credentials = await demoCredentials(config);
  console.error("Seeding demo data");
  const bus = await messagingFromConfig(config, createLogger("messaging", "warn"));
  const services = await startServices(config, bus, credentials);
  try {
    const { identityCreated, catalog, coupons } = await services.seed();
    console.log(
      identityCreated
        ? `customer ${credentials.customer.username} / ${credentials.customer.password}`
        : `customer ${credentials.customer.username} already exists; its password is unchanged`,
    );
    console.log(
      `catalog: ${catalog.categories} categories, ${catalog.brands} brands, ${catalog.products} products ` +
        `(${catalog.created} items added)`,
    );
    console.log(coupons.length ? `coupons added: ${coupons.join(", ")}` : "coupons already there");
  } finally {
    await bus.close();
    await services.close();
  }
});
