/**
 * Test helpers: a service on a free port, and the PostgreSQL targets a suite runs against: the
 * embedded one always, the real server named by POSTGRES_URL when it answers. With
 * MULTISHOP_REQUIRE_INFRA=1 an unreachable real server fails the suite instead of skipping it.
 */
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from "jose";
import net from "node:net";
import { connect } from "amqplib";
import postgres from "postgres";
import type { App } from "./app.ts";
import { type TokenVerifier, tokenVerifier } from "./auth.ts";
import { startEmbeddedPostgres } from "./embedded_postgres.ts";
import type { Logger } from "./log.ts";
import type { z } from "zod";
import {
  connectRabbitMq,
  createInProcessBus,
  type EventPublisher,
  type EventSubscriber,
  type MessageBus,
  MessagingUnavailableError,
  type PublishOptions,
  retryQueueName,
} from "./messaging/mod.ts";
import { dropDatabase, ensureDatabase } from "./postgres.ts";
import { serveApp } from "./serve.ts";

export const infraRequired = Deno.env.get("MULTISHOP_REQUIRE_INFRA") === "1";

export interface TestDatabase {
  url: string;
  maxConnections: number;
  close(): Promise<void>;
}

export interface PostgresTarget {
  name: "embedded" | "real";
  /** Set when the target cannot run here and the suite may skip it. */
  skip?: string;
  open(): Promise<TestDatabase>;
}

export async function postgresTargets(): Promise<PostgresTarget[]> {
  const embedded: PostgresTarget = {
    name: "embedded",
    async open() {
      const pg = await startEmbeddedPostgres();
      return { url: pg.url, maxConnections: pg.maxConnections, close: pg.stop };
    },
  };
  const unreachable = await realPostgresProblem();
  const real: PostgresTarget = {
    name: "real",
    skip: unreachable && !infraRequired ? unreachable : undefined,
    async open() {
      if (unreachable) throw new Error(`real PostgreSQL is required but ${unreachable}`);
      const url = new URL(Deno.env.get("POSTGRES_URL")!);
      url.pathname = `/test_${crypto.randomUUID().replaceAll("-", "")}`;
      await ensureDatabase(url.toString());
      return { url: url.toString(), maxConnections: 5, close: () => dropDatabase(url.toString()) };
    },
  };
  if (real.skip) console.log(`%cskipping real-PostgreSQL tests: ${real.skip}`, "color: yellow");
  return [embedded, real];
}

async function realPostgresProblem(): Promise<string | undefined> {
  const url = Deno.env.get("POSTGRES_URL");
  if (!url) {
    return "POSTGRES_URL is not set (start servers with `deno task infra:up` and export what it prints)";
  }
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return undefined;
  } catch (error) {
    return `POSTGRES_URL does not answer: ${(error as Error).message}`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Serves an app on a free loopback port for a test. */
export function serveForTest(app: App) {
  const server = serveApp(app, { hostname: "127.0.0.1", port: 0 });
  return { url: server.url, close: () => server.shutdown() };
}

/**
 * A stand-in for identity in a service's own tests: it signs tokens with a fresh key, and the
 * service verifies them with the kit's real verifier. Identity's own tests cover identity.
 */
export async function testTokenIssuer() {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: "test-key", alg: "ES256" }] };
  const issuer = "http://identity.test";
  const audience = "multishop";
  const verifyToken: TokenVerifier = tokenVerifier({ keys: createLocalJWKSet(jwks), issuer, audience });
  /** Signs a token; `claims` may override the standard ones (exp, aud, nbf, ...) to make bad tokens. */
  const sign = (subject: string, claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    const standard = {
      iss: issuer,
      aud: audience,
      sub: subject,
      iat: now,
      exp: now + 600,
      jti: crypto.randomUUID(),
    };
    return new SignJWT({ ...standard, ...claims }).setProtectedHeader({ alg: "ES256", kid: "test-key" }).sign(
      privateKey,
    );
  };
  return {
    verifyToken,
    jwks,
    issuer,
    audience,
    sign,
    admin: (id: string = crypto.randomUUID()) => sign(id, { roles: ["customer", "admin"] }),
    customer: (id: string = crypto.randomUUID()) => sign(id, { roles: ["customer"] }),
    client: (id: string, scopes: string[]) => sign(id, { scope: scopes.join(" "), client_id: id }),
  };
}

export interface CallOptions {
  /** Sent as `Authorization: Bearer …`. */
  token?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is, instead of `body`. */
  raw?: string;
  /** Replaces `application/json` for a `body` or `raw`. */
  contentType?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  /** The answer parsed as JSON; undefined when it is empty. */
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** One request to a server under test, its answer read whole. */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<CallResult> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (body !== undefined) headers["content-type"] ??= options.contentType ?? "application/json";
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: text ? JSON.parse(text) : undefined,
  };
}

export interface AmqpTarget {
  /** Set when the real broker cannot be used here and the suite may skip it. */
  skip?: string;
  /** AMQP_URL; throws when the broker is required (MULTISHOP_REQUIRE_INFRA=1) but unreachable. */
  url(): string;
}

/** The real RabbitMQ named by AMQP_URL, for suites that also run against the in-process bus. */
export async function amqpTarget(): Promise<AmqpTarget> {
  const unreachable = await realAmqpProblem();
  const target: AmqpTarget = {
    skip: unreachable && !infraRequired ? unreachable : undefined,
    url() {
      if (unreachable) throw new Error(`real RabbitMQ is required but ${unreachable}`);
      return Deno.env.get("AMQP_URL")!;
    },
  };
  if (target.skip) console.log(`%cskipping real-RabbitMQ tests: ${target.skip}`, "color: yellow");
  return target;
}

async function realAmqpProblem(): Promise<string | undefined> {
  const url = Deno.env.get("AMQP_URL");
  if (!url) return "AMQP_URL is not set (start servers with `deno task infra:up` and export what it prints)";
  try {
    // A full AMQP handshake, so wrong credentials or vhost count as unreachable too.
    const connection = await connect(url, { timeout: 3000 });
    await connection.close();
    return undefined;
  } catch (error) {
    return `AMQP_URL does not answer: ${(error as Error).message}`;
  }
}

/** Polls until `done` holds; fails after `timeoutMs`, naming what never happened. */
export async function waitFor(
  what: string,
  done: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface TcpProxy {
  /** The server's URL with the proxy's address in place of the server's. */
  url: string;
  /** Drops every connection and refuses new ones until `restore`: the server seems gone. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of the server at `serverUrl` that a test can cut and restore: a network
 * outage or a server restart, without touching a server other suites share.
 */
export async function startTcpProxy(serverUrl: string, defaultPort: number): Promise<TcpProxy> {
  const server = new URL(serverUrl);
  const sockets = new Set<net.Socket>();
  let refusing = false;
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("error", () => {}); // a cut surfaces on the client's side, which is what is under test
    socket.on("close", () => sockets.delete(socket));
  };
  const listener = net.createServer((client) => {
    if (refusing) return client.destroy();
    const upstream = net.connect(Number(server.port || defaultPort), server.hostname);
    // As the clients behind it do: without it, a message written in several pieces waits on delayed ACKs.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    // Either end going takes the other with it, as a server or network going away would.
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const proxied = new URL(serverUrl);
  proxied.host = `127.0.0.1:${(listener.address() as net.AddressInfo).port}`;
  const cutAll = () => sockets.forEach((socket) => socket.destroy());
  return {
    url: proxied.href,
    cut() {
      refusing = true;
      cutAll();
    },
    restore() {
      refusing = false;
    },
    close() {
      cutAll();
      return new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

/**
 * RabbitMQ on an exchange and queue names of the test's own, so that neither another test nor a
 * running shop meets its messages; `close` removes what it declared (queues with their dead-letter and
 * delay queues, exchanges). Short retry delays by default, so a dead letter takes milliseconds.
 */
export async function testRabbitMq(
  url: string,
  { logger, retryDelaysMs = [20, 50, 100] }: { logger: Logger; retryDelaysMs?: readonly number[] },
): Promise<MessageBus> {
  const run = crypto.randomUUID().slice(0, 8);
  const exchange = `multishop.test.${run}`;
  const queuePrefix = `test.${run}.`;
  const bus = await connectRabbitMq(url, { logger, exchange, retryDelaysMs, queuePrefix });
  const queues = new Set<string>();
  return {
    publish: bus.publish.bind(bus),
    ping: bus.ping.bind(bus),
    async subscribe(queue, pattern, handler) {
      await bus.subscribe(queue, pattern, handler);
      queues.add(`${queuePrefix}${queue}`);
    },
    async close() {
      await bus.close();
      const connection = await connect(url);
      const channel = await connection.createChannel();
      for (const queue of queues) {
        for (
          const name of [
            queue,
            `${queue}.dead`,
            ...retryDelaysMs.map((ms) => retryQueueName(queue, ms)),
          ]
        ) {
          await channel.deleteQueue(name);
        }
      }
      await channel.deleteExchange(exchange);
      await channel.deleteExchange(`${exchange}.dead`);
      await connection.close();
    },
  };
}

/** A broker that a test can take away from the publisher, and the consumer's side of it. */
export interface CuttableBus {
  publisher: EventPublisher;
  subscriber: EventSubscriber;
  /** A queue name of this run only. */
  queue(name: string): string;
  /** Takes the broker away from the publisher until `restore`. */
  cut(): void;
  restore(): void;
  cleanUp(): Promise<void>;
}

export interface CuttableBusTarget {
  name: string;
  skip?: string;
  open(): Promise<CuttableBus>;
}

/**
 * The in-process bus behind a publisher that refuses while "the broker is away", and RabbitMQ on an
 * exchange of the run's own, which the publisher reaches through a TCP proxy that `cut` closes (the
 * consumer connects directly). For tests of what survives a broker outage.
 */
export async function cuttableBusTargets(logger: Logger): Promise<CuttableBusTarget[]> {
  const rabbit = await amqpTarget();
  const inProcess: CuttableBusTarget = {
    name: "in-process bus",
    open() {
      const bus = createInProcessBus({ logger });
      let away = false;
      return Promise.resolve({
        publisher: {
          publish<S extends z.ZodType>(
            type: string,
            schema: S,
            payload: z.input<S>,
            options?: PublishOptions,
          ) {
            if (away) return Promise.reject(new MessagingUnavailableError("the broker is away (simulated)"));
            return bus.publish(type, schema, payload, options);
          },
          ping: () => bus.ping(),
          close: () => bus.close(),
        },
        subscriber: bus,
        queue: (name) => name,
        cut: () => away = true,
        restore: () => away = false,
        cleanUp: () => bus.close(),
      });
    },
  };
  const rabbitMq: CuttableBusTarget = {
    name: "RabbitMQ",
    skip: rabbit.skip,
    async open() {
      const url = rabbit.url();
      const run = crypto.randomUUID().slice(0, 8);
      const exchange = `multishop.test.${run}`;
      const proxy = await startTcpProxy(url, 5672);
      const publisher = await connectRabbitMq(proxy.url, {
        logger,
        exchange,
        reconnectDelayMs: { initial: 20, max: 200 },
      });
      // No retries: no delay queues are left to remove.
      const consumer = await connectRabbitMq(url, { logger, exchange, retryDelaysMs: [] });
      const queues = new Set<string>();
      return {
        publisher,
        subscriber: consumer,
        queue(name) {
          const queue = `test.${name}.${run}`;
          queues.add(queue);
          return queue;
        },
        cut: () => proxy.cut(),
        restore: () => proxy.restore(),
        async cleanUp() {
          await publisher.close();
          await consumer.close();
          await proxy.close();
          const connection = await connect(url);
          const channel = await connection.createChannel();
          for (const queue of queues) {
            await channel.deleteQueue(queue);
            await channel.deleteQueue(`${queue}.dead`);
          }
          await channel.deleteExchange(exchange);
          await channel.deleteExchange(`${exchange}.dead`);
          await connection.close();
        },
      };
    },
  };
  return [inProcess, rabbitMq];
}
