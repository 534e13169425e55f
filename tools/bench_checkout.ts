/**
 * `deno task bench:checkout`: places orders at rising concurrency against the real servers of
 * `deno task infra:up` (PostgreSQL, Redis, RabbitMQ) and reports orders per second and the latency from
 * `POST /v1/orders` to `confirmed` (p50, p95, p99). The services run in this process, as in
 * tools/shop_test.ts, behind the edge in workerd; every call goes through the edge.
 *
 * Progress goes to stderr, the table to stdout, the numbers to .infra/bench-checkout.json.
 */
import { base64url } from "jose";
import { createLogger } from "@multishop/kit/log";
import { messagingFromConfig } from "@multishop/kit/messaging";
import { percentile } from "./bench/stats.ts";
import { startServices } from "./services.ts";
import { demoCredentials, freePorts, shopEnv, withPublicUrl } from "./shop.ts";

/** Each level is a closed loop: `concurrency` customers each order again as soon as the last one ended. */
const levels = [
  { concurrency: 1, orders: 40 },
  { concurrency: 4, orders: 80 },
  { concurrency: 16, orders: 120 },
  { concurrency: 32, orders: 120 },
];
/** Untimed orders first, so that the first level does not also measure compilation and cold pools. */
const warmUp = { concurrency: 4, orders: 8 };
const pollMs = 20;
/** Longer than the saga's own step timeouts, so that a stuck order shows as cancelled, not as ours. */
const orderDeadlineMs = 60_000;
const basketDeadlineMs = 10_000;
const card = {
  cardNumber: "4242424242424242",
  expMonth: 12,
  expYear: 2030,
  cvc: "123",
  holder: "Bench Customer",
};
const resultFile = new URL("../.infra/bench-checkout.json", import.meta.url);

interface Customer {
  token: string;
  productId: string;
  addressId: string;
}

type Outcome =
  | { status: "confirmed"; latencyMs: number }
  | { status: "cancelled" | "failed"; reason: string };

interface LevelResult {
  concurrency: number;
  orders: number;
  confirmed: number;
  cancelled: Record<string, number>;
  failed: Record<string, number>;
  wallSeconds: number;
  /** Confirmed orders per second of the level's wall time. */
  ordersPerSecond: number;
  /** From sending `POST /v1/orders` to the first `GET /v1/orders/{id}` that says `confirmed`. */
  latencyMs: { p50: number; p95: number; p99: number; max: number };
}

const progress = (line: string) => console.error(line);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function requireInfrastructure() {
  const env = {
    POSTGRES_URL: Deno.env.get("POSTGRES_URL") ?? "",
    REDIS_URL: Deno.env.get("REDIS_URL") ?? "",
    AMQP_URL: Deno.env.get("AMQP_URL") ?? "",
  };
  const missing = Object.entries(env).filter(([, value]) => !value).map(([name]) => name);
  if (missing.length > 0) {
    console.error(`${missing.join(", ")} not set: run eval "$(deno task -q infra:up)" first`);
    Deno.exit(1);
  }
  return env;
}

/** The answer's JSON body, or an error naming the step and the problem document the shop answered. */
async function expectJson<T>(answer: Promise<Response>, what: string): Promise<T> {
  const response = await answer;
  if (!response.ok) throw new Error(`${what}: ${response.status} ${await response.text()}`);
  return await response.json() as T;
}

function jsonRequest(method: string, token: string | undefined, body: unknown, headers = {}): RequestInit {
  return {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  };
}

async function signIn(base: string, username: string, password: string): Promise<string> {
  const grant = new URLSearchParams({ grant_type: "password", client_id: "storefront", username, password });
  const answer = await expectJson<{ access_token: string }>(
    fetch(`${base}/oauth/token`, { method: "POST", body: grant }),
    `sign in ${username}`,
  );
  return answer.access_token;
}

/** A new account with an address; its basket is filled before each order, since a confirmed one empties it. */
async function createCustomer(base: string, username: string, productId: string): Promise<Customer> {
  const password = crypto.randomUUID();
  await expectJson(
    fetch(
      `${base}/v1/auth/register`,
      jsonRequest("POST", undefined, {
        username,
        email: `${username}@bench.multishop.local`,
        name: "Bench",
        surname: "Customer",
        password,
      }),
    ),
    `register ${username}`,
  );
  const token = await signIn(base, username, password);
  const address = await expectJson<{ id: string }>(
    fetch(
      `${base}/v1/addresses`,
      jsonRequest("POST", token, {
        name: "Bench",
        surname: "Customer",
        email: `${username}@bench.multishop.local`,
        phone: "+1 555 0101",
        country: "US",
        city: "Springfield",
        district: "Downtown",
        line1: "1 Market Street",
        zipCode: "12345",
      }),
    ),
    `address for ${username}`,
  );
  return { token, productId, addressId: address.id };
}

/** Waits until the basket is empty: the basket clears it on `order.confirmed`, after the order says so. */
async function basketEmptied(base: string, customer: Customer): Promise<void> {
  const deadline = performance.now() + basketDeadlineMs;
  while (performance.now() < deadline) {
    const basket = await expectJson<{ lines: unknown[] }>(
      fetch(`${base}/v1/basket`, { headers: { authorization: `Bearer ${customer.token}` } }),
      "basket",
    );
    if (basket.lines.length === 0) return;
    await sleep(pollMs);
  }
  throw new Error(`the basket was not emptied ${basketDeadlineMs} ms after its order was confirmed`);
}

/**
 * One order: fill the basket, place the order, poll it until the checkout has ended. Only the time from
 * the POST to `confirmed` is measured; filling the basket and waiting for it to be emptied again (so
 * that the next fill is not wiped by this order's clearing) count in the level's wall time only.
 */
async function placeOrder(base: string, customer: Customer): Promise<Outcome> {
  const authorization = `Bearer ${customer.token}`;
  await expectJson(
    fetch(
      `${base}/v1/basket/items/${customer.productId}`,
      jsonRequest("PUT", customer.token, { quantity: 1, price: { amount: 1, currency: "USD" } }),
    ),
    "fill the basket",
  );
  const started = performance.now();
  const placed = await fetch(
    `${base}/v1/orders`,
    jsonRequest("POST", customer.token, { addressId: customer.addressId, payment: card }, {
      "idempotency-key": crypto.randomUUID(),
    }),
  );
  if (placed.status !== 202) {
    return { status: "failed", reason: `POST /v1/orders ${placed.status} ${await placed.text()}` };
  }
  const { id } = await placed.json() as { id: string };
  while (performance.now() - started < orderDeadlineMs) {
    const order = await expectJson<{ status: string; cancellationReason: string | null }>(
      fetch(`${base}/v1/orders/${id}`, { headers: { authorization } }),
      "GET /v1/orders/{id}",
    );
    if (order.status === "confirmed") {
      const latencyMs = performance.now() - started;
      await basketEmptied(base, customer);
      return { status: "confirmed", latencyMs };
    }
    if (order.status === "cancelled") {
      return { status: "cancelled", reason: order.cancellationReason ?? "none" };
    }
    await sleep(pollMs);
  }
  return { status: "failed", reason: `still pending after ${orderDeadlineMs / 1000} s` };
}

function count(outcomes: Outcome[], status: "cancelled" | "failed"): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) {
    if (outcome.status === status) counts[outcome.reason] = (counts[outcome.reason] ?? 0) + 1;
  }
  return counts;
}

async function runLevel(
  base: string,
  customers: Customer[],
  level: { concurrency: number; orders: number },
  label: string,
): Promise<LevelResult> {
  const outcomes: Outcome[] = [];
  let claimed = 0;
  const started = performance.now();
  await Promise.all(
    customers.slice(0, level.concurrency).map(async (customer) => {
      while (claimed < level.orders) {
        claimed++;
        outcomes.push(
          await placeOrder(base, customer).catch((error) =>
            ({ status: "failed", reason: String(error) }) as const
          ),
        );
        if (outcomes.length % 10 === 0 || outcomes.length === level.orders) {
          progress(`  ${label}: ${outcomes.length}/${level.orders} orders ended`);
        }
      }
    }),
  );
  const wallSeconds = (performance.now() - started) / 1000;
  const latencies = outcomes.flatMap((outcome) => outcome.status === "confirmed" ? [outcome.latencyMs] : []);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    ...level,
    confirmed: latencies.length,
    cancelled: count(outcomes, "cancelled"),
    failed: count(outcomes, "failed"),
    wallSeconds: round(wallSeconds),
    ordersPerSecond: round(latencies.length / wallSeconds),
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p95: round(percentile(latencies, 95)),
      p99: round(percentile(latencies, 99)),
      max: round(Math.max(0, ...latencies)),
    },
  };
}

function table(results: LevelResult[]): string {
  const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  const rows = [
    [
      "concurrency",
      "orders",
      "confirmed",
      "cancelled",
      "failed",
      "wall s",
      "orders/s",
      "p50 ms",
      "p95 ms",
      "p99 ms",
    ],
    ...results.map((r) =>
      [
        r.concurrency,
        r.orders,
        r.confirmed,
        sum(r.cancelled),
        sum(r.failed),
        r.wallSeconds,
        r.ordersPerSecond,
        r.latencyMs.p50,
        r.latencyMs.p95,
        r.latencyMs.p99,
      ].map(String)
    ),
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const lines = rows.map((row) => row.map((cell, column) => cell.padStart(widths[column])).join("  "));
  for (const r of results) {
    for (const [kind, counts] of [["cancelled", r.cancelled], ["failed", r.failed]] as const) {
      for (const [reason, n] of Object.entries(counts)) {
        lines.push(`  concurrency ${r.concurrency}: ${n} ${kind}: ${reason}`);
      }
    }
  }
  return lines.join("\n");
}

/** The key that seals identity's signing keys in the benchmark's shared database, made on the first run. */
async function benchSigningKey(): Promise<string> {
  const file = new URL("../.tools/bench-checkout-signing-key", import.meta.url);
  try {
    return (await Deno.readTextFile(file)).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const key = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
  await Deno.mkdir(new URL("../.tools/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(file, `${key}\n`, { mode: 0o600 });
  return key;
}

const infrastructure = requireInfrastructure();
const runStarted = performance.now();
const dataDir = await Deno.makeTempDir({ prefix: "bench-checkout-" });
// Undone newest first in `finally`, whatever step failed.
const cleanups: (() => Promise<unknown>)[] = [() => Deno.remove(dataDir, { recursive: true })];
// Names this run's accounts, which stay in the shared identity database afterwards.
const run = crypto.randomUUID().slice(0, 8);
try {
  const env = {
    ...infrastructure,
    DATA_DIR: dataDir,
    LOG_LEVEL: "error",
    // The shared database may already hold an "admin" with another run's password: this run makes
    // its own admin (with a password nobody keeps) to stock the products.
    ADMIN_USERNAME: `bench-admin-${run}`,
    ADMIN_EMAIL: `bench-admin-${run}@bench.multishop.local`,
    ADMIN_PASSWORD: crypto.randomUUID(),
    // Identity's keys in the shared database are sealed under this key, so every run must bring the same one.
    SIGNING_KEY_ENCRYPTION_KEY: await benchSigningKey(),
    // The edge limits every caller by address, and all of ours are 127.0.0.1: no limit may bind.
    RATE_LIMITS: JSON.stringify(Object.fromEntries(
      ["default", "authenticated", "login", "contact"].map((name) => [
        name,
        { capacity: 1_000_000, refillPerSecond: 1_000_000 },
      ]),
    )),
  };
  const config = withPublicUrl(shopEnv.parse({
    ...env,
    ...freePorts(),
  }));
  progress(`Starting the services (data in ${dataDir}; PostgreSQL, Redis and RabbitMQ from the environment)`);
  const credentials = await demoCredentials(config);
  const bus = await messagingFromConfig(
    { AMQP_URL: infrastructure.AMQP_URL },
    createLogger("messaging", config.LOG_LEVEL),
  );
  cleanups.push(() => bus.close());
  const services = await startServices(config, bus, credentials, env);
  cleanups.push(() => services.close());
  const servers = Object.values(services.serve("127.0.0.1"));
  cleanups.push(() => Promise.all(servers.map((server) => server.shutdown())));
  const edge = await services.edge();
  cleanups.push(() => edge.close());
  await services.seed();
  const base = edge.url;

  const customerCount = Math.max(...levels.map((level) => level.concurrency));
  progress(`Stocking ${customerCount} products and creating ${customerCount} customers through ${base}`);
  const admin = await signIn(base, credentials.admin.email, credentials.admin.password);
  // One product per customer, so that reservations do not all queue on one stock row.
  const { items: products } = await expectJson<{ items: { id: string }[] }>(
    fetch(`${base}/v1/products?sort=price_asc&limit=${customerCount}`),
    "products",
  );
  if (products.length < customerCount) throw new Error(`only ${products.length} products in the catalog`);
  for (const product of products) {
    await expectJson(
      fetch(`${base}/v1/inventory/${product.id}`, jsonRequest("PUT", admin, { onHand: 100_000 })),
      `stock ${product.id}`,
    );
  }
  const customers: Customer[] = [];
  // Registration hashes a password (Argon2): a few at a time keeps both cores busy without a queue.
  for (let first = 0; first < customerCount; first += 4) {
    customers.push(
      ...await Promise.all(
        products.slice(first, first + 4).map((product, offset) =>
          createCustomer(base, `bench-${run}-${first + offset}`, product.id)
        ),
      ),
    );
  }

  progress(`Warming up with ${warmUp.orders} untimed orders`);
  await runLevel(base, customers, warmUp, "warm-up");
  const results: LevelResult[] = [];
  for (const level of levels) {
    progress(`Concurrency ${level.concurrency}: ${level.orders} orders`);
    results.push(await runLevel(base, customers, level, `concurrency ${level.concurrency}`));
  }

  const runtimeSeconds = Math.round((performance.now() - runStarted) / 100) / 10;
  console.log(
    `\nCheckout through the edge (${base}): POST /v1/orders to confirmed, polled every ${pollMs} ms\n`,
  );
  console.log(table(results));
  console.log(`\nwhole run ${runtimeSeconds} s; written to ${resultFile.pathname}`);
  await Deno.mkdir(new URL(".", resultFile), { recursive: true });
  await Deno.writeTextFile(
    resultFile,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        via: "edge",
        infrastructure: ["PostgreSQL", "Redis", "RabbitMQ"],
        pollMs,
        runtimeSeconds,
        levels: results,
      },
      null,
      2,
    ) + "\n",
  );
} finally {
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch((error) => progress(`cleanup: ${error}`));
  }
}
