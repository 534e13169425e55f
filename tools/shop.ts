/**
 * What `start` and `seed` share: where each service's database is, and the demo accounts' credentials.
 */
import { base64url } from "jose";
import { z } from "zod";
import { statsReadScope, userReadScope } from "@multishop/kit/auth";
import { commonEnv, loadConfig, port, postgresEnv } from "@multishop/kit/config";
import { couponValidationScope } from "@multishop/kit/contracts/discount";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "@multishop/kit/embedded-postgres";
import { messagingEnv } from "@multishop/kit/messaging";
import { ensureDatabase, serviceDatabaseUrl } from "@multishop/kit/postgres";
import { demoCustomer } from "../services/identity/seed.ts";
import { tokenizeScope } from "@multishop/kit/contracts/payment-methods";

export const shopEnv = z.object({
  ...commonEnv,
  ...postgresEnv,
  ...messagingEnv,
  EDGE_PORT: port(8787),
  /** Where clients reach the shop: the edge. Tokens name it as their issuer; image URLs start with it. */
  PUBLIC_URL: z.url().optional(),
  IDENTITY_PORT: port(5001),
  CATALOG_PORT: port(5002),
  IMAGES_PORT: port(5003),
  BASKET_PORT: port(5004),
  DISCOUNT_PORT: port(5005),
  INVENTORY_PORT: port(5006),
  ORDER_PORT: port(5007),
  PAYMENT_PORT: port(5008),
  CARGO_PORT: port(5009),
  COMMENT_PORT: port(5010),
  MESSAGE_PORT: port(5011),
  DASHBOARD_PORT: port(5012),
  /** The services' databases on POSTGRES_URL are `<prefix>_<service>`; tests use a prefix of their own. */
  DATABASE_PREFIX: z.string().regex(/^[a-z][a-z0-9_]{0,40}$/, "lower-case letters, digits and _").default(
    "multishop",
  ),
  ADMIN_EMAIL: z.email().optional(),
  ADMIN_PASSWORD: z.string().optional(),
});

export type ShopConfig = z.output<typeof shopEnv> & { PUBLIC_URL: string };

export const loadShopConfig = (env?: Record<string, string | undefined>): ShopConfig =>
  withPublicUrl(loadConfig(shopEnv, env));

export function withPublicUrl(config: z.output<typeof shopEnv>): ShopConfig {
  return {
    ...config,
    PUBLIC_URL: (config.PUBLIC_URL ?? `http://127.0.0.1:${config.EDGE_PORT}`).replace(/\/$/, ""),
  };
}

/** Where the range of ports the kernel assigns to port-0 listeners and outgoing connections starts. */
function firstEphemeralPort(): number {
  try {
    const [first] = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim().split(/\s+/);
    if (Number.isInteger(Number(first))) return Number(first);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  // Linux's default range is 32768-60999 (macOS and Windows start theirs higher, at 49152).
  return 32768;
}

/** Candidates run from here to just below the ephemeral range, clear of the low ports servers usually take. */
const lowestCandidatePort = 20000;
const handedOutPorts = new Set<number>();

/**
 * A port nothing listens on now, for runs beside a running shop (tests, benchmarks). It lies below the
 * ephemeral range: a port-0 port is only free until the kernel gives it to another listener (parallel tests
 * bind port 0 all the time), while one chosen here stays free until someone asks for it by number. No port is
 * handed out twice in one process, so callers can take several before binding any.
 */
export function freePort(): number {
  const firstEphemeral = firstEphemeralPort();
  const candidates = firstEphemeral - lowestCandidatePort;
  if (candidates <= 0) {
    throw new Error(
      `no ports between ${lowestCandidatePort} and the ephemeral range (from ${firstEphemeral})`,
    );
  }
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = lowestCandidatePort + Math.floor(Math.random() * candidates);
    if (handedOutPorts.has(port) || !isFree(port)) continue;
    handedOutPorts.add(port);
    return port;
  }
  throw new Error(`no free port between ${lowestCandidatePort} and ${firstEphemeral - 1}`);
}

function isFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return false;
    throw error;
  }
}

/** A free port for the edge and every service: each `*_PORT` variable of the shop. */
export function freePorts(): Record<string, string> {
  return Object.fromEntries(
    Object.keys(shopEnv.shape).filter((name) => name.endsWith("_PORT")).map((
      name,
    ) => [name, String(freePort())]),
  );
}

export interface ServiceDatabase {
  url: string;
  maxConnections: number;
  /** Where the data is, for people reading the start-up banner. */
  description: string;
  stop(): Promise<void>;
}

/** The service's own database: embedded PGlite under the data folder, or its own database on POSTGRES_URL. */
export async function serviceDatabase(config: ShopConfig, service: string): Promise<ServiceDatabase> {
  if (config.POSTGRES_URL) {
    const url = serviceDatabaseUrl(config.POSTGRES_URL, service, config.DATABASE_PREFIX);
    await ensureDatabase(url);
    const shown = new URL(url);
    shown.password = shown.password ? "***" : "";
    return {
      url,
      maxConnections: config.POSTGRES_POOL_MAX,
      description: `PostgreSQL ${shown}`,
      stop: async () => {},
    };
  }
  const dataDir = `${config.DATA_DIR}/postgres/${service}`;
  const embedded: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir });
  return { ...embedded, description: `embedded PostgreSQL (PGlite) in ${dataDir}` };
}

/** The services that call others with a client of their own at identity, and the scopes it has. */
export const serviceClientScopes = {
  /** Product snapshots from the catalog, coupon checks at the discount service. */
  basket: ["catalog:read", couponValidationScope],
  /** Tokenising cards at the payment service. */
  order: [tokenizeScope],
  /** Looking up a message's receiver at identity. */
  message: [userReadScope],
  /** Every service's admin figures. */
  dashboard: [statsReadScope],
} as const;
export type ServiceClientName = keyof typeof serviceClientScopes;

export interface DemoCredentials {
  admin: { username: string; email: string; password: string; generated: boolean };
  customer: { username: string; email: string; password: string };
  clientSecrets: Record<ServiceClientName, string>;
  /** Identity's SIGNING_KEY_ENCRYPTION_KEY: without it the signing keys in its database cannot be opened. */
  signingKeyEncryptionKey: string;
}

interface SavedSecrets {
  adminPassword: string;
  customerPassword: string;
  clientSecrets: Record<ServiceClientName, string>;
  signingKeyEncryptionKey: string;
}

/**
 * The demo accounts' passwords, the services' client secrets and identity's signing-key encryption key
 * are made once per data folder and kept there (never in the repository), so that every start uses the
 * same ones. ADMIN_EMAIL and ADMIN_PASSWORD win when set.
 */
export async function demoCredentials(config: ShopConfig): Promise<DemoCredentials> {
  const file = `${config.DATA_DIR}/credentials.json`;
  let stored: Partial<SavedSecrets> = {};
  try {
    stored = JSON.parse(await Deno.readTextFile(file));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw new Error(`${file} cannot be read: ${error}`);
  }
  const saved: SavedSecrets = {
    adminPassword: stored.adminPassword ?? generatePassword(),
    customerPassword: stored.customerPassword ?? generatePassword(),
    clientSecrets: Object.fromEntries(
      (Object.keys(serviceClientScopes) as ServiceClientName[]).map((name) => [
        name,
        stored.clientSecrets?.[name] ?? generatePassword(),
      ]),
    ) as Record<ServiceClientName, string>,
    signingKeyEncryptionKey: stored.signingKeyEncryptionKey ?? base64url.encode(
      crypto.getRandomValues(new Uint8Array(32)),
    ),
  };
  if (JSON.stringify(saved) !== JSON.stringify(stored)) {
    await Deno.mkdir(config.DATA_DIR, { recursive: true });
    await Deno.writeTextFile(file, JSON.stringify(saved, null, 2) + "\n", { mode: 0o600 });
  }
  const configured = config.ADMIN_EMAIL && config.ADMIN_PASSWORD;
  return {
    admin: {
      username: "admin",
      email: configured ? config.ADMIN_EMAIL! : "admin@multishop.local",
      password: configured ? config.ADMIN_PASSWORD! : saved.adminPassword,
      generated: !configured,
    },
    customer: {
      username: demoCustomer.username,
      email: demoCustomer.email,
      password: saved.customerPassword,
    },
    clientSecrets: saved.clientSecrets,
    signingKeyEncryptionKey: saved.signingKeyEncryptionKey,
  };
}

function generatePassword(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(15)));
}

/** A step that may take a while, shown as it starts and when it is done. */
export async function step<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const encoder = new TextEncoder();
  Deno.stderr.writeSync(encoder.encode(`  ${label} ... `));
  try {
    const result = await work();
    Deno.stderr.writeSync(encoder.encode(`done (${((performance.now() - started) / 1000).toFixed(1)} s)\n`));
    return result;
  } catch (error) {
    Deno.stderr.writeSync(encoder.encode("failed\n"));
    throw error;
  }
}
