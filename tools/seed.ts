/**
 * `deno task seed`: the demo data, into the configured stores (POSTGRES_URL, or the embedded ones in
 * the data folder while the shop is stopped). `start` does the same on an empty store.
 */
import { runMain } from "@multishop/kit/config";
import { createLogger } from "@multishop/kit/log";
import { loadIdentityConfig } from "../services/identity/config.ts";
import { startIdentity } from "../services/identity/main.ts";
import { seedIdentity } from "../services/identity/seed.ts";
import { demoCredentials, loadShopConfig, serviceDatabase, step } from "./shop.ts";

await runMain(async () => {
  const config = loadShopConfig();
  const credentials = await demoCredentials(config);
  const logger = createLogger("seed", "warn");
  console.error("Seeding demo data");
  const database = await step("identity database", () => serviceDatabase(config, "identity"));
  try {
    const identity = await startIdentity(loadIdentityConfig({ ...Deno.env.toObject(), LOG_LEVEL: "warn" }), {
      postgres: database,
      logger,
    });
    const created = await step(
      "demo customer",
      () => seedIdentity(identity.store, credentials.customer.password),
    );
    await identity.close();
    console.log(
      created
        ? `customer ${credentials.customer.username} / ${credentials.customer.password}`
        : `customer ${credentials.customer.username} already exists; its password is unchanged`,
    );
  } finally {
    await database.stop();
  }
});
