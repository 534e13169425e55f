/**
 * Starts the dashboard for a test: its five sources are small real HTTP servers that answer the
 * stats documents to a bearer of the `stats:read` scope, its client token comes from a stand-in for
 * identity's token endpoint, and its events from the in-process bus or a real RabbitMQ (an exchange
 * and queues of the test's own).
 */
import type { z } from "zod";
import { statsReadScope } from "@multishop/kit/auth";
import { catalogEvents } from "@multishop/kit/contracts/catalog";
import { messageEvents } from "@multishop/kit/contracts/messages";
import { orderEvents } from "@multishop/kit/contracts/orders";
import { reviewEvents } from "@multishop/kit/contracts/reviews";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus } from "@multishop/kit/messaging";
import { call as callService, serveForTest, testRabbitMq, testTokenIssuer } from "@multishop/kit/testing";
import { statsPaths } from "./clients.ts";
import { loadDashboardConfig } from "./config.ts";
import type { Figures, Source } from "./domain.ts";
import { sources } from "./domain.ts";
import { startDashboard } from "./main.ts";

const logger = createLogger("dashboard", "silent");
const client = { id: "dashboard", secret: "dashboard-secret-for-tests" };

type TokenIssuer = Awaited<ReturnType<typeof testTokenIssuer>>;

/** Stands in for identity's token endpoint: the dashboard's client gets a token with `stats:read`. */
function tokenEndpoint(tokens: TokenIssuer) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const form = new URLSearchParams(await request.text());
    if (request.headers.get("authorization") !== `Basic ${btoa(`${client.id}:${client.secret}`)}`) {
      return Response.json({ error: "invalid_client" }, { status: 401 });
    }
    if (form.get("grant_type") !== "client_credentials" || form.get("scope") !== statsReadScope) {
      return Response.json({ error: "invalid_request" }, { status: 400 });
    }
    const token = await tokens.client(client.id, [statsReadScope]);
    return Response.json({ access_token: token, token_type: "Bearer", expires_in: 600 });
  });
  return { url: `http://127.0.0.1:${server.addr.port}/oauth/token`, close: () => server.shutdown() };
}

/** One owning service's stats endpoint; the test sets what it answers, or stops it. */
export interface TestSource {
  url: string;
  /** Answer this document from now on. */
  answer(document: unknown): void;
  /** Answer this status (a problem document) from now on. */
  fail(status: number): void;
  /** How many reads the source has answered (with anything). */
  reads(): number;
  /** Stops the server: connections are refused, as from a service that is down. */
  stop(): Promise<void>;
}

function startSource(tokens: TokenIssuer, path: string, document: unknown): TestSource {
  let answer: { status: number; body: unknown } = { status: 200, body: document };
  let reads = 0;
  let stopped = false;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    await request.body?.cancel();
    if (new URL(request.url).pathname !== path) return Response.json({ status: 404 }, { status: 404 });
    const bearer = /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
    const principal = bearer ? await tokens.verifyToken(bearer).catch(() => undefined) : undefined;
    if (!principal) return Response.json({ status: 401 }, { status: 401 });
    if (!principal.scopes.includes(statsReadScope)) return Response.json({ status: 403 }, { status: 403 });
    reads++;
    return Response.json(answer.body, { status: answer.status });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    answer(body) {
      answer = { status: 200, body };
    },
    fail(status) {
      answer = { status, body: { title: "failing on purpose", status } };
    },
    reads: () => reads,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.shutdown();
    },
  };
}

/** What the sources answer at first, and the figures the dashboard makes of them. */
export const firstAnswers: Record<Source, unknown> = {
  identity: { count: 42 },
  catalog: { products: 30, activeProducts: 27, categories: 6, brands: 5, averagePrice: 4_900 },
  order: { pending: 1, confirmed: 4, shipped: 3, delivered: 10, cancelled: 2 },
  comment: { approved: 12, pending: 3, rejected: 1, total: 16 },
  message: { unreadSupport: 2, total: 9 },
};

export const firstFigures = {
  users: 42,
  products: 30,
  categories: 6,
  brands: 5,
  orders: { pending: 1, confirmed: 4, shipped: 3, delivered: 10, cancelled: 2 },
  pendingReviews: 3,
  unreadSupportMessages: 2,
  unavailable: [],
};

/** The figures without `updatedAt`, which is the only field a test cannot know in advance. */
export function figuresOnly({ updatedAt: _, ...figures }: Figures) {
  return figures;
}

const events = {
  ...catalogEvents,
  ...orderEvents,
  ...reviewEvents,
  ...messageEvents,
};
type EventType = keyof typeof events;

export interface DashboardTestOptions {
  /** A real broker's URL; the in-process bus without it. */
  amqpUrl?: string;
  /** Sources with no server behind them: reading them is refused from the start. */
  down?: Source[];
  /** What sources answer at first instead of `firstAnswers`. */
  answers?: Partial<Record<Source, unknown>>;
  /** Sources that answer this status from the start. */
  failing?: Partial<Record<Source, number>>;
}

export async function startTestDashboard(options: DashboardTestOptions = {}) {
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    const tokens = await testTokenIssuer();
    const bus = options.amqpUrl
      ? await testRabbitMq(options.amqpUrl, { logger, retryDelaysMs: [] })
      : createInProcessBus({ logger, retryDelaysMs: [] });
    closers.push(() => bus.close());
    const identity = tokenEndpoint(tokens);
    closers.push(identity.close);
    const testSources = Object.fromEntries(sources.map((source) => {
      const answer = options.answers && source in options.answers
        ? options.answers[source]
        : firstAnswers[source];
      return [source, startSource(tokens, statsPaths[source], answer)];
    })) as Record<Source, TestSource>;
    for (const source of sources) {
      closers.push(testSources[source].stop);
      const status = options.failing?.[source];
      if (status) testSources[source].fail(status);
    }
    for (const source of options.down ?? []) await testSources[source].stop();

    const started = await startDashboard(
      loadDashboardConfig({
        LOG_LEVEL: "silent",
        IDENTITY_URL: testSources.identity.url,
        CATALOG_URL: testSources.catalog.url,
        ORDER_URL: testSources.order.url,
        COMMENT_URL: testSources.comment.url,
        MESSAGE_URL: testSources.message.url,
        SERVICE_TOKEN_URL: identity.url,
        SERVICE_CLIENT_ID: client.id,
        SERVICE_CLIENT_SECRET: client.secret,
        // Only events and the tests' own calls read the sources again, so every read is the test's doing.
        DASHBOARD_REFRESH_SECONDS: "3600",
      }),
      // Short, so that a test sees the keep-alive comments without waiting 15 s.
      { bus, logger, verifyToken: tokens.verifyToken, heartbeatMs: 200 },
    );
    const server = serveForTest(started.app);
    // The streams end with the dashboard, or the server's shutdown would wait for them.
    closers.push(server.close, started.close);

    const call = (path: string, token?: string) => callService(server.url, "GET", path, { token });

    return {
      url: server.url,
      tokens,
      bus,
      sources: testSources,
      dashboard: started.dashboard,
      /** Ends the streams, then the dashboard's schedule and reads, as shutting down does. */
      closeDashboard: started.close,
      call,
      /** Publishes an event on the bus, as its owning service does. */
      publish: <T extends EventType>(type: T, payload: z.input<(typeof events)[T]>) =>
        bus.publish(type, events[type], payload),
      openStream: (token?: string) => openStream(`${server.url}/v1/admin/dashboard/events`, token),
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

export type TestDashboard = Awaited<ReturnType<typeof startTestDashboard>>;

/** A server-sent event, or a comment line (`comment` set). */
export interface StreamEvent {
  event?: string;
  data?: string;
  id?: string;
  comment?: string;
}

/** An event stream as a client reads it: one event (or comment) at a time, in order. */
export async function openStream(url: string, token?: string) {
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let ended = false;

  /** The next block the stream sends; undefined once it has ended. */
  async function nextBlock(timeoutMs: number): Promise<StreamEvent | undefined> {
    while (!buffer.includes("\n\n")) {
      if (ended) return undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`nothing came on the stream in ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      const { done, value } = await Promise.race([reader.read(), timeout]).finally(() => clearTimeout(timer));
      if (done) ended = true;
      else buffer += value;
    }
    const end = buffer.indexOf("\n\n");
    const block = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    const event: StreamEvent = {};
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) event.comment = line.slice(1).trim();
      const field = /^(event|data|id): ?(.*)$/.exec(line);
      if (field) event[field[1] as "event" | "data" | "id"] = field[2];
    }
    return event;
  }

  return {
    status: response.status,
    headers: response.headers,
    /** The next `figures` event's figures, passing over keep-alive comments. */
    async nextFigures(timeoutMs = 5_000): Promise<Figures> {
      for (;;) {
        const event = await nextBlock(timeoutMs);
        if (!event) throw new Error("the stream ended before a figures event");
        if (event.event === "figures") return JSON.parse(event.data!) as Figures;
      }
    },
    /** The next block, comments included; undefined once the stream has ended. */
    next: (timeoutMs = 5_000) => nextBlock(timeoutMs),
    /** Reads until the server ends the stream, failing if it does not within `timeoutMs`. */
    async ended(timeoutMs = 5_000): Promise<void> {
      while (await nextBlock(timeoutMs));
    },
    /** Hangs up, as a client closing the page does. */
    close: () => reader.cancel(),
  };
}
