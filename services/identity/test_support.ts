/** Starts identity for a test against one PostgreSQL target, with a clock the test can move. */
import { base64url } from "jose";
import { createLogger } from "@multishop/kit/log";
import { type PostgresTarget, serveForTest, type TestDatabase } from "@multishop/kit/testing";
import { loadIdentityConfig } from "./config.ts";
import { startIdentity } from "./main.ts";

export const testAdmin = { email: "admin@multishop.test", password: "Boss-Pass-for-tests-9" };
export const testServiceClient = {
  id: "basket",
  secret: "basket-secret-for-tests",
  scopes: ["catalog:read", "discount:validate"],
};
export const testIssuer = "http://identity.test";

/** A fresh SIGNING_KEY_ENCRYPTION_KEY, as an operator would make one. */
export function newEncryptionKey(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
}

export async function startTestIdentity(target: PostgresTarget, env: Record<string, string> = {}) {
  const database = await target.open();
  try {
    const identity = await startTestIdentityOn(database, env);
    return {
      ...identity,
      async close() {
        await identity.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

/**
 * Identity on a database the caller opened and closes, for tests that restart it on the same data.
 * It gets an encryption key of its own unless `env` names one.
 */
export async function startTestIdentityOn(database: TestDatabase, env: Record<string, string> = {}) {
  let offsetMs = 0;
  const config = loadIdentityConfig({
    LOG_LEVEL: "silent",
    ISSUER: testIssuer,
    ADMIN_EMAIL: testAdmin.email,
    ADMIN_PASSWORD: testAdmin.password,
    SERVICE_CLIENTS: JSON.stringify([testServiceClient]),
    SIGNING_KEY_ENCRYPTION_KEY: newEncryptionKey(),
    ...env,
  });
  const identity = await startIdentity(config, {
    postgres: database,
    logger: createLogger("identity", "silent"),
    clock: () => new Date(Date.now() + offsetMs),
  });
  const server = serveForTest(identity.app);
  return {
    url: server.url,
    config,
    identity,
    /** Moves identity's clock; tokens it signs then carry that time. */
    shiftClock(ms: number) {
      offsetMs = ms;
    },
    async close() {
      await server.close();
      await identity.close();
    },
  };
}

export type TestIdentity = Awaited<ReturnType<typeof startTestIdentity>>;

export function uniqueName(prefix = "user"): string {
  return `${prefix}${crypto.randomUUID().slice(0, 8)}`;
}

export async function register(base: string, overrides: Record<string, unknown> = {}) {
  const username = uniqueName();
  const account = {
    username,
    email: `${username}@example.com`,
    name: "Test",
    surname: "User",
    password: "correct-horse-battery",
    ...overrides,
  };
  const response = await fetch(`${base}/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(account),
  });
  return { response, account, body: await response.json() };
}

export async function token(
  base: string,
  parameters: Record<string, string>,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${base}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(parameters),
  });
  return { response, body: await response.json() };
}

export function passwordLogin(
  base: string,
  username: string,
  password: string,
  headers: Record<string, string> = {},
) {
  return token(base, { grant_type: "password", client_id: "storefront", username, password }, headers);
}
