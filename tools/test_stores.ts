/**
 * Where a whole-shop test (tools/shop_test.ts, tools/clients_test.ts) keeps its data: the embedded stores, or
 * the real servers the environment names, with databases, a catalog and an exchange of the run's own that
 * are removed afterwards.
 */
import { MongoClient } from "mongodb";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus, defaultRetryDelaysMs, type MessageBus } from "@multishop/kit/messaging";
import { dropDatabase, serviceDatabaseUrl } from "@multishop/kit/postgres";
import { testRabbitMq } from "@multishop/kit/testing";

export interface ShopStores {
  /** The shop's own variables and the services' variables. */
  shop: Record<string, string>;
  services: Record<string, string>;
  bus: MessageBus;
  /** Removes what the run stored. */
  cleanUp(): Promise<void>;
}

const silent = createLogger("messaging", "silent");

/** The variables that name the real servers (`deno task infra:up` prints them). */
export const serverVariables = [
  "POSTGRES_URL",
  "MONGO_URL",
  "REDIS_URL",
  "AMQP_URL",
  "STORAGE_EMULATOR_HOST",
];

/** The server variables the environment leaves unset. */
export function unsetServerVariables(): string[] {
  return serverVariables.filter((name) => !Deno.env.get(name));
}

const postgresServices = [
  "identity",
  "discount",
  "inventory",
  "payment",
  "order",
  "cargo",
  "comment",
  "message",
];

/** No store variables: every store embedded, whatever servers the environment names. */
export function embeddedStores(): ShopStores {
  return { shop: {}, services: {}, bus: createInProcessBus({ logger: silent }), cleanUp: async () => {} };
}

/** The real servers, for a run named `<prefix>_<random>`; every server variable must be set. */
export async function realServerStores(prefix: string): Promise<ShopStores> {
  const unset = unsetServerVariables();
  if (unset.length > 0) throw new Error(`${unset.join(", ")} not set (\`deno task infra:up\` prints them)`);
  const env = Object.fromEntries(serverVariables.map((name) => [name, Deno.env.get(name)!]));
  const run = `${prefix}_${crypto.randomUUID().slice(0, 8)}`;
  // Closing the bus removes its queues and exchange.
  const bus = await testRabbitMq(env.AMQP_URL, { logger: silent, retryDelaysMs: defaultRetryDelaysMs });
  return {
    shop: { POSTGRES_URL: env.POSTGRES_URL, DATABASE_PREFIX: run, AMQP_URL: env.AMQP_URL },
    services: { ...env, MONGO_DATABASE: `${run}_catalog` },
    bus,
    async cleanUp() {
      for (const service of postgresServices) {
        await dropDatabase(serviceDatabaseUrl(env.POSTGRES_URL, service, run));
      }
      const mongo = await MongoClient.connect(env.MONGO_URL);
      await mongo.db(`${run}_catalog`).dropDatabase();
      await mongo.close();
    },
  };
}
