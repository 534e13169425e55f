/**
 * `deno task start`: the whole shop in one process on a machine with nothing but Deno. Each service
 * still listens on its own port; embedded stores stand in for servers that are not configured.
 */
import { runMain } from "@multishop/kit/config";
import { createLogger } from "@multishop/kit/log";
import { serveApp, shutdownOnSignal } from "@multishop/kit/serve";
import { loadIdentityConfig } from "../services/identity/config.ts";
import { startIdentity } from "../services/identity/main.ts";
import { seedIdentity } from "../services/identity/seed.ts";
import { demoCredentials, loadShopConfig, serviceDatabase, step } from "./shop.ts";

await runMain(async () => {
  const config = loadShopConfig();
  const credentials = await demoCredentials(config);
  const logger = createLogger("identity", config.LOG_LEVEL);
  console.error("Starting MultiShop Edge");

  const database = await step("identity database", () => serviceDatabase(config, "identity"));
  const identityConfig = loadIdentityConfig({
    ...Deno.env.toObject(),
    PORT: String(config.IDENTITY_PORT),
    ADMIN_EMAIL: credentials.admin.email,
    ADMIN_PASSWORD: credentials.admin.password,
  });
  const identity = await step(
    "identity service",
    () => startIdentity(identityConfig, { postgres: database, logger }),
  );
  await step("demo data", () => seedIdentity(identity.store, credentials.customer.password));
  const server = serveApp(identity.app, { hostname: config.HOST, port: config.IDENTITY_PORT });

  const adminNote = credentials.admin.generated
    ? " (generated; set ADMIN_EMAIL and ADMIN_PASSWORD to choose)"
    : "";
  console.log(`
MultiShop Edge is running (Ctrl+C stops it)

  identity  ${server.url}   ${database.description}
            API document: ${server.url}/openapi.json

Accounts (kept in ${config.DATA_DIR}/credentials.json)
  admin     ${credentials.admin.email} / ${credentials.admin.password}${adminNote}
  customer  ${credentials.customer.username} / ${credentials.customer.password}

Sign in as the customer:
  curl -s ${server.url}/oauth/token -d grant_type=password -d client_id=storefront \\
       -d username=${credentials.customer.username} -d password='${credentials.customer.password}'
`);

  await shutdownOnSignal({
    servers: [server],
    closers: [identity.close, database.stop],
    logger,
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
});
