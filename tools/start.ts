/**
 * `deno task start`: the whole shop in one process on a machine with nothing but Deno. Each service
 * still listens on its own port; embedded stores stand in for servers that are not configured.
 */
import { runMain } from "@multishop/kit/config";
import { createLogger } from "@multishop/kit/log";
import { messagingFromConfig } from "@multishop/kit/messaging";
import { shutdownOnSignal } from "@multishop/kit/serve";
import { startServices } from "./services.ts";
import { demoCredentials, loadShopConfig, step } from "./shop.ts";

await runMain(async () => {
  const config = loadShopConfig();
  const credentials = await demoCredentials(config);
  const logger = createLogger("start", config.LOG_LEVEL);
  console.error("Starting MultiShop Edge");

  const bus = await step(
    "messaging",
    () => messagingFromConfig(config, createLogger("messaging", config.LOG_LEVEL)),
  );
  const services = await startServices(config, bus, credentials);
  const seeded = await services.seed();
  const servers = services.serve(config.HOST);
  const {
    identity,
    catalog,
    images,
    basket,
    discount,
    inventory,
    payment,
    order,
    cargo,
    comment,
    message,
    dashboard,
  } = servers;
  const edge = await step("edge (workerd)", services.edge);

  const adminNote = credentials.admin.generated
    ? " (generated; set ADMIN_EMAIL and ADMIN_PASSWORD to choose)"
    : "";
  console.log(`
MultiShop Edge is running (Ctrl+C stops it)

  edge      ${edge.url}   the shop's one address: the API, /docs and /openapi.json
            (workerd; services behind it on their own ports)
  identity  ${identity.url}   ${services.identity.database}
  catalog   ${catalog.url}   ${services.catalog.where}; ${seeded.catalog.products} demo products
  images    ${images.url}   ${services.images.where}
  basket    ${basket.url}   ${services.basket.where}
  discount  ${discount.url}   ${services.discount.database}; coupons WELCOME10, HOME15, SAVE5
  inventory ${inventory.url}   ${services.inventory.database}
  payment   ${payment.url}   ${services.payment.database}; simulated card processor
  order     ${order.url}   ${services.order.database}; checkout saga
  cargo     ${cargo.url}   ${services.cargo.database}; shipments and tracking
  comment   ${comment.url}   ${services.comment.database}; product reviews
  message   ${message.url}   ${services.message.database}; messages and the support inbox
  dashboard ${dashboard.url}   ${services.dashboard.where}
  messaging ${config.AMQP_URL ? "RabbitMQ (AMQP_URL)" : "in process"}

Accounts (kept in ${config.DATA_DIR}/credentials.json)
  admin     ${credentials.admin.email} / ${credentials.admin.password}${adminNote}
  customer  ${credentials.customer.username} / ${credentials.customer.password}

Try:
  curl -s '${edge.url}/v1/products?q=linen&category=women&limit=3'
  curl -s ${edge.url}/oauth/token -d grant_type=password -d client_id=storefront \\
       -d username=${credentials.customer.username} -d password='${credentials.customer.password}'
`);

  await shutdownOnSignal({
    servers: Object.values(servers),
    // The bus before the services: no message is handled once their databases are closing.
    closers: [edge.close, () => bus.close(), services.close],
    logger,
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
});
