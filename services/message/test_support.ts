/**
 * The message service for a test, on one PostgreSQL target: a real identity beside it (on the same
 * target) that checks receivers and signs the users' tokens, reached through a TCP proxy the test can
 * cut; the in-process bus, or real RabbitMQ on an exchange of the test's own; and every event the
 * service publishes, as a subscriber receives it.
 */
import assert from "node:assert/strict";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus, type Envelope } from "@multishop/kit/messaging";
import { type PostgresTarget, serveForTest, startTcpProxy, testRabbitMq } from "@multishop/kit/testing";
import { passwordLogin, register, startTestIdentity, testAdmin } from "../identity/test_support.ts";
import { loadMessageConfig } from "./config.ts";
import { startMessage } from "./main.ts";

const logger = createLogger("test", "silent");
const messageClient = { id: "message", secret: "message-secret-for-tests", scopes: ["users:read"] };

/** A signed-in user of the test's identity: their id and access token. */
export interface TestUser {
  id: string;
  token: string;
}

export async function startTestMessage(target: PostgresTarget, options: { amqpUrl?: string } = {}) {
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    const identity = await startTestIdentity(target, { SERVICE_CLIENTS: JSON.stringify([messageClient]) });
    closers.push(identity.close);
    const identityLink = await startTcpProxy(identity.url, 80);
    closers.push(identityLink.close);

    const bus = options.amqpUrl
      ? await testRabbitMq(options.amqpUrl, { logger })
      : createInProcessBus({ logger, retryDelaysMs: [10, 50, 200] });
    closers.push(() => bus.close());
    const published: Envelope[] = [];
    await bus.subscribe("message-events", ["message.sent", "message.read"], (envelope) => {
      published.push(envelope);
      return Promise.resolve();
    });

    const database = await target.open();
    closers.push(database.close);
    const message = await startMessage(
      loadMessageConfig({
        LOG_LEVEL: "silent",
        AUTH_ISSUER: identity.config.ISSUER,
        AUTH_JWKS_URL: `${identity.url}/.well-known/jwks.json`,
        IDENTITY_URL: identityLink.url,
        SERVICE_TOKEN_URL: new URL("/oauth/token", identityLink.url).href,
        SERVICE_CLIENT_ID: messageClient.id,
        SERVICE_CLIENT_SECRET: messageClient.secret,
      }),
      { postgres: database, bus, logger },
    );
    closers.push(message.close);
    const server = serveForTest(message.app);
    closers.push(server.close);

    const login = async (username: string, password: string): Promise<TestUser> => {
      const { response, body } = await passwordLogin(identity.url, username, password);
      assert.equal(response.status, 200, JSON.stringify(body));
      const me = await fetch(`${identity.url}/v1/users/me`, {
        headers: { authorization: `Bearer ${body.access_token}` },
      });
      assert.equal(me.status, 200);
      return { id: (await me.json()).id, token: body.access_token };
    };
    const bootstrapAdmin = await login(testAdmin.email, testAdmin.password);

    /** A newly registered customer, signed in. */
    const customer = async (): Promise<TestUser> => {
      const { response, account, body } = await register(identity.url);
      assert.equal(response.status, 201, JSON.stringify(body));
      return await login(account.username, account.password);
    };

    return {
      url: server.url,
      identityUrl: identity.url,
      /** The link from the message service to identity: `cut` makes identity unreachable. */
      identityLink,
      /** Every event the service published, as a subscriber received it, oldest first. */
      published,
      /** The service's own pool (embedded PostgreSQL serves one connection, which it holds). */
      sql: message.sql,
      /** Identity's bootstrapped admin. */
      admin: bootstrapAdmin,
      customer,
      /** A customer that the bootstrapped admin made an admin, signed in again to get the role. */
      async promotedAdmin(): Promise<TestUser> {
        const { response, account, body } = await register(identity.url);
        assert.equal(response.status, 201, JSON.stringify(body));
        const promoted = await fetch(`${identity.url}/v1/users/${body.id}/roles`, {
          method: "PUT",
          headers: { authorization: `Bearer ${bootstrapAdmin.token}`, "content-type": "application/json" },
          body: JSON.stringify({ roles: ["customer", "admin"] }),
        });
        assert.equal(promoted.status, 200, await promoted.text());
        return await login(account.username, account.password);
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

export type TestMessage = Awaited<ReturnType<typeof startTestMessage>>;

/** A message body with a subject no other message in the test has; `overrides` set or replace its fields. */
export function messageBody(receiverId: string, overrides: Record<string, unknown> = {}) {
  return {
    receiverId,
    subject: `Question ${crypto.randomUUID().slice(0, 8)}`,
    body: "Hello,\n\tis my order on its way?",
    ...overrides,
  };
}
