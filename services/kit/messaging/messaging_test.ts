import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type Channel, connect } from "amqplib";
import { z } from "zod";
import { catalogEvents } from "../contracts/catalog.ts";
import { memoryLogger } from "../log.ts";
import { amqpTarget, startTcpProxy, waitFor } from "../testing.ts";
import { traceIdOf } from "../trace.ts";
import { currentTraceparent, inSpan } from "../trace_context.ts";
import { retryQueueName } from "./rabbitmq.ts";
import {
  connectRabbitMq,
  createEnvelope,
  createInProcessBus,
  type Envelope,
  type Handler,
  InvalidEnvelopeError,
  InvalidPayloadError,
  type MessageBus,
  messagingEnv,
  messagingFromConfig,
  MessagingUnavailableError,
  parseEnvelope,
  topicMatches,
} from "./mod.ts";

const priceChanged = catalogEvents["catalog.product.price_changed"];
/** Not a catalog contract (yet): it stands for an event of another family. */
const brandCreated = z.object({ brandId: z.string().min(1) });
/** Short, still growing, so the retry cases take milliseconds rather than seconds. */
const retryDelaysMs = [10, 20, 40];
/** Quick reconnects, so the outage cases take milliseconds too. */
const reconnectDelayMs = { initial: 20, max: 200 };

function priceChange(productId = "p-1") {
  return {
    productId,
    oldPrice: { amount: 1000, currency: "EUR" },
    newPrice: { amount: 900, currency: "EUR" },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A handler that keeps what it is given. */
function recorder() {
  const received: Envelope[] = [];
  const handler: Handler = (envelope) => {
    received.push(envelope);
    return Promise.resolve();
  };
  return { received, handler, types: () => received.map((envelope) => envelope.type) };
}

/** A bus under test with what the contract needs to look behind it. */
interface TestBus {
  bus: MessageBus;
  /** A queue name of this run only, so concurrent runs never share messages. */
  queue(name: string): string;
  /** The dead letters of `queue` seen so far. */
  deadLetters(queue: string): Promise<Envelope[]>;
  /** RabbitMQ only: messages ready in `queue`, counted after `bus.close()` handed back unacknowledged ones. */
  readyMessages?(queue: string): Promise<number>;
  /** Closes the bus and removes what the run declared. */
  cleanUp(): Promise<void>;
}

interface BusTarget {
  name: string;
  skip?: string;
  open(): Promise<TestBus>;
}

const inProcessTarget: BusTarget = {
  name: "in-process bus",
  open() {
    const bus = createInProcessBus({ logger: memoryLogger(), retryDelaysMs });
    return Promise.resolve({
      bus,
      queue: (name) => name,
      deadLetters: (queue) => Promise.resolve(bus.deadLetters(queue).map((letter) => letter.envelope)),
      cleanUp: () => bus.close(),
    });
  },
};

const rabbit = await amqpTarget();

/** A connection of the test's own, to look at queues and clean up behind the bus. */
async function openInspector(url: string) {
  const connection = await connect(url);
  const channel = await connection.createChannel();
  return { connection, channel };
}

const rabbitTarget: BusTarget = {
  name: "RabbitMQ",
  skip: rabbit.skip,
  async open() {
    const url = rabbit.url();
    const run = crypto.randomUUID().slice(0, 8);
    const exchange = `multishop.test.${run}`;
    const bus = await connectRabbitMq(url, { logger: memoryLogger(), exchange, retryDelaysMs });
    const inspector = await openInspector(url);
    const queues = new Set<string>();
    const deadLetters = new Map<string, Envelope[]>();
    return {
      bus,
      queue(name) {
        const queue = `test.${name}.${run}`;
        queues.add(queue);
        return queue;
      },
      async deadLetters(queue) {
        const seen = deadLetters.get(queue) ?? [];
        deadLetters.set(queue, seen);
        for (let message; (message = await inspector.channel.get(`${queue}.dead`, { noAck: true }));) {
          seen.push(parseEnvelope(message.content));
        }
        return seen;
      },
      readyMessages: async (queue) => (await inspector.channel.checkQueue(queue)).messageCount,
      async cleanUp() {
        await bus.close();
        await removeTopology(inspector.channel, exchange, queues);
        await inspector.connection.close();
      },
    };
  },
};

async function removeTopology(
  channel: Channel,
  exchange: string,
  queues: Iterable<string>,
  delaysMs: readonly number[] = retryDelaysMs,
) {
  for (const queue of queues) {
    await channel.deleteQueue(queue);
    await channel.deleteQueue(`${queue}.dead`);
    for (const delayMs of delaysMs) await channel.deleteQueue(retryQueueName(queue, delayMs));
  }
  await channel.deleteExchange(exchange);
  await channel.deleteExchange(`${exchange}.dead`);
}

for (const target of [inProcessTarget, rabbitTarget]) {
  Deno.test({ name: `messaging contract: ${target.name}`, ignore: Boolean(target.skip) }, async (t) => {
    /** Each case gets its own bus (and exchange), so no case sees another's messages. */
    const withBus = (name: string, run: (testBus: TestBus) => Promise<void>) =>
      t.step(name, async () => {
        const testBus = await target.open();
        try {
          await run(testBus);
        } finally {
          await testBus.cleanUp();
        }
      });

    await withBus("a subscriber gets the published event with its payload and envelope", async (testBus) => {
      const { bus } = testBus;
      const pricing = recorder();
      await bus.subscribe(testBus.queue("pricing"), "catalog.product.price_changed", pricing.handler);

      const caused = await bus.publish("catalog.product.price_changed", priceChanged, priceChange("p-1"), {
        correlationId: "order-42",
        causationId: "command-7",
      });
      const started = await bus.publish("catalog.product.price_changed", priceChanged, priceChange("p-2"));
      await waitFor("both events", () => pricing.received.length === 2);

      assert.deepEqual(pricing.received, [caused, started]);
      assert.deepEqual(caused.payload, priceChange("p-1"));
      assert.match(caused.id, /^[0-9a-f-]{36}$/);
      assert.equal(caused.type, "catalog.product.price_changed");
      assert.ok(Math.abs(Date.parse(caused.occurredAt) - Date.now()) < 60_000, "occurredAt is now");
      assert.equal(caused.correlationId, "order-42");
      assert.equal(caused.causationId, "command-7");
      assert.equal(started.correlationId, started.id, "a first event correlates with itself");
      assert.equal("causationId" in started, false);
    });

    await withBus("routing follows the topic patterns", async (testBus) => {
      const { bus } = testBus;
      const products = recorder();
      const everything = recorder();
      await bus.subscribe(testBus.queue("products"), "catalog.product.*", products.handler);
      await bus.subscribe(testBus.queue("everything"), "#", everything.handler);

      await bus.publish("catalog.brand.created", brandCreated, { brandId: "b-1" });
      await bus.publish("catalog.product.price_changed", priceChanged, priceChange());
      // Delivery keeps a queue's order, so once the later event is in, the earlier one would be too.
      await waitFor("the price change", () => products.received.length === 1);
      await waitFor("both events on #", () => everything.received.length === 2);

      assert.deepEqual(products.types(), ["catalog.product.price_changed"]);
      assert.deepEqual(everything.types(), ["catalog.brand.created", "catalog.product.price_changed"]);
    });

    await withBus("every queue gets every event; a queue's consumers share them", async (testBus) => {
      const { bus } = testBus;
      const basket = recorder();
      const search = recorder();
      const [orderA, orderB] = [recorder(), recorder()];
      await bus.subscribe(testBus.queue("basket"), "catalog.#", basket.handler);
      await bus.subscribe(testBus.queue("search"), "catalog.#", search.handler);
      await bus.subscribe(testBus.queue("order"), "catalog.#", orderA.handler);
      await bus.subscribe(testBus.queue("order"), "catalog.#", orderB.handler);

      const published = [];
      for (let i = 0; i < 6; i++) {
        published.push(
          await bus.publish("catalog.product.price_changed", priceChanged, priceChange(`p-${i}`)),
        );
      }
      const ids = published.map((envelope) => envelope.id);
      const shared = () => [...orderA.received, ...orderB.received];
      await waitFor(
        "six events in each queue",
        () => basket.received.length === 6 && search.received.length === 6 && shared().length === 6,
      );

      assert.deepEqual(basket.received.map((envelope) => envelope.id), ids);
      assert.deepEqual(search.received.map((envelope) => envelope.id), ids);
      assert.deepEqual(shared().map((envelope) => envelope.id).sort(), [...ids].sort(), "each once");
      assert.ok(orderA.received.length > 0 && orderB.received.length > 0, "both consumers got some");
    });

    await withBus("an invalid payload is refused at publish and nothing is delivered", async (testBus) => {
      const { bus } = testBus;
      const pricing = recorder();
      await bus.subscribe(testBus.queue("pricing"), "catalog.product.*", pricing.handler);

      const invalid = { ...priceChange(), newPrice: { amount: -1, currency: "euro" } };
      await assert.rejects(
        bus.publish("catalog.product.price_changed", priceChanged, invalid),
        (error: Error) => error instanceof InvalidPayloadError && /newPrice/.test(error.message),
      );
      const valid = await bus.publish("catalog.product.price_changed", priceChanged, priceChange());
      await waitFor("the valid event", () => pricing.received.length === 1);

      assert.deepEqual(pricing.received.map((envelope) => envelope.id), [valid.id]);
    });

    await withBus(
      "a message carries its publisher's trace on, and so does what its handler publishes",
      async (testBus) => {
        const { bus } = testBus;
        const pricing = testBus.queue("traced-pricing");
        const audit = testBus.queue("traced-audit");
        const seen: { type: string; traceparent?: string; inHandler?: string }[] = [];
        const done = Promise.withResolvers<void>();
        await bus.subscribe(pricing, "catalog.product.price_changed", async (envelope) => {
          seen.push({
            type: envelope.type,
            traceparent: envelope.traceparent,
            inHandler: currentTraceparent(),
          });
          await bus.publish("catalog.brand.created", brandCreated, { brandId: "b-1" });
        });
        await bus.subscribe(audit, "catalog.brand.created", (envelope) => {
          seen.push({ type: envelope.type, traceparent: envelope.traceparent });
          done.resolve();
          return Promise.resolve();
        });
        const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        await inSpan(
          `00-${traceId}-00f067aa0ba902b7-01`,
          () => bus.publish("catalog.product.price_changed", priceChanged, priceChange()),
        );
        await done.promise;

        assert.deepEqual(
          seen.map(({ type }) => type),
          ["catalog.product.price_changed", "catalog.brand.created"],
        );
        for (const { traceparent, inHandler } of seen) {
          assert.equal(traceIdOf(traceparent!), traceId);
          if (inHandler) {
            assert.equal(traceIdOf(inHandler), traceId, "the handler runs in the trace");
          }
        }
        assert.notEqual(seen[0].traceparent, seen[1].traceparent, "each hop is a span of its own");
      },
    );

    await withBus("a handler that fails twice is retried and succeeds once", async (testBus) => {
      const { bus } = testBus;
      const queue = testBus.queue("flaky");
      let attempts = 0;
      let successes = 0;
      await bus.subscribe(queue, "catalog.product.price_changed", () => {
        attempts++;
        if (attempts <= 2) return Promise.reject(new Error(`transient failure ${attempts}`));
        successes++;
        return Promise.resolve();
      });

      await bus.publish("catalog.product.price_changed", priceChanged, priceChange());
      await waitFor("the third try", () => successes === 1);
      await bus.close();

      assert.equal(attempts, 3);
      assert.equal(successes, 1);
      assert.deepEqual(await testBus.deadLetters(queue), []);
      if (testBus.readyMessages) assert.equal(await testBus.readyMessages(queue), 0, "acknowledged");
    });

    await withBus("a handler that always fails parks the event in the dead letters", async (testBus) => {
      const { bus } = testBus;
      const queue = testBus.queue("poisoned");
      let attempts = 0;
      await bus.subscribe(queue, "catalog.product.price_changed", () => {
        attempts++;
        return Promise.reject(new Error("this event can never be handled"));
      });

      const poison = await bus.publish("catalog.product.price_changed", priceChanged, priceChange());
      await waitFor("a dead letter", async () => (await testBus.deadLetters(queue)).length === 1);

      assert.deepEqual(await testBus.deadLetters(queue), [poison]);
      assert.equal(attempts, 1 + retryDelaysMs.length);
    });
  });
}

Deno.test({ name: "RabbitMQ specifics", ignore: Boolean(rabbit.skip) }, async (t) => {
  const url = rabbit.url();
  const run = crypto.randomUUID().slice(0, 8);
  const exchange = `multishop.test.${run}`;
  const logger = memoryLogger();
  const bus = await connectRabbitMq(url, { logger, exchange, retryDelaysMs, reconnectDelayMs });
  const inspector = await openInspector(url);
  const queues = [`test.unconsumed.${run}`, `test.unreadable.${run}`, `test.survivor.${run}`];
  const [unconsumed, unreadable, survivor] = queues;
  try {
    await inspector.channel.assertQueue(unconsumed, { durable: true });
    await inspector.channel.bindQueue(unconsumed, exchange, "catalog.product.*");

    await t.step("publish resolves after the broker's confirm, with a persistent JSON message", async () => {
      const envelope = await bus.publish("catalog.product.price_changed", priceChanged, priceChange(), {
        causationId: "command-7",
      });
      assert.equal((await inspector.channel.checkQueue(unconsumed)).messageCount, 1, "queued on confirm");

      const message = await inspector.channel.get(unconsumed, { noAck: true });
      assert.ok(message);
      assert.deepEqual(parseEnvelope(message.content), envelope);
      assert.equal(message.fields.routingKey, "catalog.product.price_changed");
      const { properties } = message;
      assert.equal(properties.deliveryMode, 2, "persistent");
      assert.equal(properties.contentType, "application/json");
      assert.equal(properties.messageId, envelope.id);
      assert.equal(properties.type, envelope.type);
      assert.equal(properties.correlationId, envelope.correlationId);
      assert.equal(properties.timestamp, Math.floor(Date.parse(envelope.occurredAt) / 1000));
      assert.deepEqual(properties.headers, { occurredAt: envelope.occurredAt, causationId: "command-7" });
    });

    await t.step("a body that is no envelope goes straight to the dead letters", async () => {
      const pricing = recorder();
      await bus.subscribe(unreadable, "catalog.product.*", pricing.handler);
      inspector.channel.publish(exchange, "catalog.product.price_changed", Buffer.from("not json"));
      inspector.channel.publish(exchange, "catalog.product.price_changed", Buffer.from('{"id":"x"}'));
      let dead = 0;
      await waitFor("two dead letters", async () => {
        while (await inspector.channel.get(`${unreadable}.dead`, { noAck: true })) dead++;
        return dead === 2;
      });
      assert.equal(pricing.received.length, 0);
    });

    await t.step("ping answers while connected", () => bus.ping());

    // The two cases below make the broker close a channel; the bus rebuilds its connection.
    const connections = () => logger.lines.filter((line) => line.message === "RabbitMQ connected").length;

    await t.step("a consumer whose queue is deleted is restored", async () => {
      const pricing = recorder();
      const before = connections();
      await bus.subscribe(survivor, "catalog.product.*", pricing.handler);
      await inspector.channel.deleteQueue(survivor);
      await waitFor("the rebuilt connection", () => connections() > before);

      await bus.publish("catalog.product.price_changed", priceChanged, priceChange());
      await waitFor("the event in the re-declared queue", () => pricing.received.length === 1);
    });

    await t.step("a publish the broker refuses rejects; the next one works again", async () => {
      const before = connections();
      await inspector.channel.deleteExchange(exchange);
      await assert.rejects(
        bus.publish("catalog.product.price_changed", priceChanged, priceChange()),
        MessagingUnavailableError,
      );
      await waitFor("the rebuilt connection", () => connections() > before);
      await bus.publish("catalog.product.price_changed", priceChanged, priceChange());
    });
  } finally {
    await bus.close();
    await removeTopology(inspector.channel, exchange, queues);
    await inspector.connection.close();
  }
  await assert.rejects(bus.ping(), MessagingUnavailableError, "a closed bus is not ready");
  assert.ok(logger.lines.some((line) => line.message === "unreadable message dead-lettered"));
});

Deno.test({
  name: "RabbitMQ: a failed message waits in a delay queue while the consumer goes on",
  ignore: Boolean(rabbit.skip),
}, async () => {
  const url = rabbit.url();
  const run = crypto.randomUUID().slice(0, 8);
  const exchange = `multishop.test.${run}`;
  const queue = `test.delayed.${run}`;
  // Long enough for the second message to be handled and the delay queue inspected on a busy machine.
  const delaysMs = [5000];
  // One message at a time: a retry waiting in the consumer would hold up the next message.
  const bus = await connectRabbitMq(url, {
    logger: memoryLogger(),
    exchange,
    retryDelaysMs: delaysMs,
    prefetch: 1,
  });
  const inspector = await openInspector(url);
  try {
    const handled: string[] = [];
    let failures = 0;
    await bus.subscribe(queue, "catalog.product.price_changed", (envelope) => {
      const { productId } = priceChanged.parse(envelope.payload);
      if (productId === "p-first" && failures++ === 0) return Promise.reject(new Error("transient failure"));
      handled.push(productId);
      return Promise.resolve();
    });
    await bus.publish("catalog.product.price_changed", priceChanged, priceChange("p-first"));
    await bus.publish("catalog.product.price_changed", priceChanged, priceChange("p-second"));

    await waitFor("the second event", () => handled.length === 1);
    assert.deepEqual(handled, ["p-second"]);
    assert.equal(
      (await inspector.channel.checkQueue(retryQueueName(queue, delaysMs[0]))).messageCount,
      1,
      "the first event waits in the delay queue",
    );
    await waitFor("the first event's retry", () => handled.length === 2, 15_000);
    assert.deepEqual(handled, ["p-second", "p-first"]);
    assert.equal(failures, 2, "one failure, then one successful try");
  } finally {
    await bus.close();
    await removeTopology(inspector.channel, exchange, [queue], delaysMs);
    await inspector.connection.close();
  }
});

Deno.test({ name: "RabbitMQ: a lost connection is rebuilt", ignore: Boolean(rabbit.skip) }, async () => {
  const url = rabbit.url();
  const run = crypto.randomUUID().slice(0, 8);
  const exchange = `multishop.test.${run}`;
  const queue = `test.survivor.${run}`;
  const relay = await startTcpProxy(url, 5672);
  const logger = memoryLogger();
  const bus = await connectRabbitMq(relay.url, { logger, exchange, retryDelaysMs, reconnectDelayMs });
  const pricing = recorder();
  try {
    await bus.subscribe(queue, "catalog.product.*", pricing.handler);
    await bus.publish("catalog.product.price_changed", priceChanged, priceChange("before"));
    await waitFor("the first event", () => pricing.received.length === 1);

    relay.cut();
    await waitFor("the bus to notice", () => bus.ping().then(() => false, () => true));
    await assert.rejects(
      bus.publish("catalog.product.price_changed", priceChanged, priceChange("during")),
      (error: Error) => error instanceof MessagingUnavailableError && /not connected/.test(error.message),
    );

    relay.restore();
    await waitFor("the reconnection", () => bus.ping().then(() => true, () => false));
    await bus.publish("catalog.product.price_changed", priceChanged, priceChange("after"));
    const productIds = () =>
      pricing.received.map((envelope) => (envelope.payload as { productId: string }).productId);
    await waitFor("the event after the outage", () => productIds().includes("after"));

    // "before" may arrive twice: when the cut beats its ack to the broker, the broker redelivers it.
    assert.deepEqual([...new Set(productIds())], ["before", "after"]);
    const messages = logger.lines.map((line) => line.message);
    assert.ok(messages.includes("RabbitMQ connection lost"));
    assert.equal(messages.filter((message) => message === "RabbitMQ connected").length, 2);
  } finally {
    await bus.close();
    await relay.close();
    const inspector = await openInspector(url);
    await removeTopology(inspector.channel, exchange, [queue]);
    await inspector.connection.close();
  }
});

Deno.test("RabbitMQ: an unreachable broker fails the start with a clear error, in bounded time", async () => {
  const closedPort = await freePort();
  await assert.rejects(
    connectRabbitMq(`amqp://guest:secret@127.0.0.1:${closedPort}`, {
      logger: memoryLogger(),
      connectAttempts: 2,
      reconnectDelayMs: { initial: 10, max: 10 },
    }),
    (error: Error) =>
      error instanceof MessagingUnavailableError &&
      error.message.includes(
        `cannot connect to RabbitMQ at amqp://127.0.0.1:${closedPort} after 2 attempts`,
      ) &&
      !error.message.includes("secret"),
  );
});

/** A port nothing listens on: taken from the OS, then released. */
async function freePort() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  await sleep(0);
  return port;
}

Deno.test("messagingFromConfig: in process without AMQP_URL, RabbitMQ with it", async (t) => {
  await t.step("in process", async () => {
    const bus = await messagingFromConfig({}, memoryLogger());
    assert.ok("deadLetters" in bus);
    await bus.close();
  });
  await t.step({
    name: "RabbitMQ",
    ignore: Boolean(rabbit.skip),
    async fn() {
      const bus = await messagingFromConfig({ AMQP_URL: rabbit.url() }, memoryLogger());
      assert.equal("deadLetters" in bus, false);
      await bus.ping();
      await bus.close();
    },
  });
  await t.step("AMQP_URL must be an amqp URL", () => {
    const env = z.object(messagingEnv);
    assert.equal(env.safeParse({ AMQP_URL: "amqps://user:pw@broker:5671/shop" }).success, true);
    assert.equal(env.safeParse({ AMQP_URL: "http://broker:5672" }).success, false);
    assert.deepEqual(env.parse({}), {});
  });
});

Deno.test("in-process bus: delivery is asynchronous and handlers get their own copy", async () => {
  const bus = createInProcessBus({ logger: memoryLogger() });
  const seen: string[] = [];
  await bus.subscribe("pricing", "catalog.product.price_changed", (envelope) => {
    seen.push("handled");
    (envelope.payload as { productId: string }).productId = "mutated by the handler";
    return Promise.resolve();
  });
  const payload = priceChange("p-1");
  const published = bus.publish("catalog.product.price_changed", priceChanged, payload);
  seen.push("published");
  await published;
  await waitFor("the delivery", () => seen.length === 2);
  await bus.close();

  assert.deepEqual(seen, ["published", "handled"]);
  assert.equal(payload.productId, "p-1");
  await assert.rejects(bus.publish("catalog.product.price_changed", priceChanged, payload), /bus is closed/);
});

Deno.test("in-process bus: a dead letter keeps why it died", async () => {
  const bus = createInProcessBus({ logger: memoryLogger(), retryDelaysMs: [] });
  await bus.subscribe("poisoned", "#", () => Promise.reject(new Error("no such product")));
  const poison = await bus.publish("catalog.product.deleted", catalogEvents["catalog.product.deleted"], {
    productId: "p-1",
  });
  await waitFor("a dead letter", () => bus.deadLetters("poisoned").length === 1);
  await bus.close();
  assert.deepEqual(bus.deadLetters("poisoned"), [{ envelope: poison, error: "no such product" }]);
});

Deno.test("envelopes: defaults, and a clear error for anything else", () => {
  const envelope = createEnvelope("catalog.product.deleted", { productId: "p-1" }, { id: "event-1" });
  assert.equal(envelope.id, "event-1");
  assert.equal(envelope.correlationId, "event-1");
  assert.deepEqual(parseEnvelope(JSON.stringify(envelope)), envelope);
  assert.deepEqual(parseEnvelope(new TextEncoder().encode(JSON.stringify(envelope))), envelope);

  assert.throws(() => parseEnvelope("not json"), InvalidEnvelopeError);
  assert.throws(() => parseEnvelope("[]"), InvalidEnvelopeError);
  assert.throws(
    () => parseEnvelope(JSON.stringify({ ...envelope, occurredAt: "yesterday" })),
    /not a message envelope:[\s\S]*occurredAt/,
  );
  const { payload: _, ...withoutPayload } = envelope;
  assert.throws(() => parseEnvelope(JSON.stringify(withoutPayload)), /payload/);
});

Deno.test("topicMatches: `*` is one word, `#` zero or more", () => {
  const cases: [pattern: string, key: string, matches: boolean][] = [
    ["catalog.product.price_changed", "catalog.product.price_changed", true],
    ["catalog.product.price_changed", "catalog.product.created", false],
    ["catalog.product.*", "catalog.product.price_changed", true],
    ["catalog.product.*", "catalog.brand.created", false],
    ["catalog.product.*", "catalog.product", false],
    ["catalog.product.*", "catalog.product.image.added", false],
    ["*.product.*", "catalog.product.created", true],
    ["catalog.#", "catalog.product.price_changed", true],
    ["catalog.#", "catalog", true],
    ["catalog.#", "catalogue.product", false],
    ["#", "order.placed", true],
    ["#", "", true],
    ["#.placed", "order.placed", true],
    ["#.placed", "placed", true],
    ["#.placed", "order.placed.late", false],
    ["order.#.failed", "order.failed", true],
    ["order.#.failed", "order.payment.card.failed", true],
    ["#.#", "a.b.c", true],
    ["*", "order.placed", false],
    ["*.*", "order.placed", true],
  ];
  for (const [pattern, key, matches] of cases) {
    assert.equal(topicMatches(pattern, key), matches, `${pattern} vs ${key}`);
  }
});
