import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect } from "amqplib";
import { z } from "zod";
import { memoryLogger } from "../log.ts";
import { amqpTarget, waitFor } from "../testing.ts";
import { connectRabbitMq, connectRabbitMqDeadLetters, createInProcessBus, type Envelope } from "./mod.ts";
import { retryQueueName } from "./rabbitmq.ts";

const stepTaken = z.object({ orderId: z.string().min(1), step: z.number().int() });
const retryDelaysMs = [5];

/** A consumer whose handler fails until it is fixed, and a healthy one on the same events. */
function consumers() {
  let broken = true;
  const handled: Envelope[] = [];
  const healthy: Envelope[] = [];
  return {
    handled,
    healthy,
    fix: () => broken = false,
    flaky: (envelope: Envelope) => {
      if (broken) return Promise.reject(new Error("the stock service is down"));
      handled.push(envelope);
      return Promise.resolve();
    },
    steady: (envelope: Envelope) => {
      healthy.push(envelope);
      return Promise.resolve();
    },
  };
}

Deno.test("dead letters, in-process bus: listed, then replayed to their queue only", async () => {
  const bus = createInProcessBus({ logger: memoryLogger(), retryDelaysMs });
  const consumer = consumers();
  try {
    await bus.subscribe("inventory", "test.#", consumer.flaky);
    await bus.subscribe("analytics", "test.#", consumer.steady);
    const published = [
      await bus.publish("test.order.step", stepTaken, { orderId: "order-1", step: 1 }),
      await bus.publish("test.order.step", stepTaken, { orderId: "order-1", step: 2 }),
    ];
    await waitFor("two dead letters", () => bus.deadLetters("inventory").length === 2);
    assert.deepEqual(bus.deadLetters("inventory").map((letter) => letter.envelope), published);

    consumer.fix();
    assert.equal(bus.replayDeadLetters("inventory"), 2);
    await waitFor("the replayed events", () => consumer.handled.length === 2);

    assert.deepEqual(consumer.handled, published);
    assert.deepEqual(bus.deadLetters("inventory"), []);
    assert.equal(consumer.healthy.length, 2, "the healthy queue got each event once");
    assert.equal(bus.replayDeadLetters("no-such-queue"), 0);
  } finally {
    await bus.close();
  }
});

const rabbit = await amqpTarget();

Deno.test(
  { name: "dead letters, RabbitMQ: list, replay and the CLI", ignore: Boolean(rabbit.skip) },
  async (t) => {
    const url = rabbit.url();
    const run = crypto.randomUUID().slice(0, 8);
    const exchange = `multishop.test.${run}`;
    const [inventory, analytics] = [`test.inventory.${run}`, `test.analytics.${run}`];
    const bus = await connectRabbitMq(url, { logger: memoryLogger(), exchange, retryDelaysMs });
    const admin = await connectRabbitMqDeadLetters(url);
    const consumer = consumers();
    const inspector = await connect(url);
    const channel = await inspector.createChannel();
    try {
      await bus.subscribe(inventory, "test.#", consumer.flaky);
      await bus.subscribe(analytics, "test.#", consumer.steady);
      const published = [
        await bus.publish("test.order.step", stepTaken, { orderId: "order-1", step: 1 }),
        await bus.publish("test.order.step", stepTaken, { orderId: "order-1", step: 2 }),
      ];
      const parked = async () => (await channel.checkQueue(`${inventory}.dead`)).messageCount;
      await waitFor("two dead letters", async () => await parked() === 2);
      // An unreadable message parks too, at once: sent once the others are parked, it is third.
      channel.publish(exchange, "test.order.step", Buffer.from("not json"));
      await waitFor("three dead letters", async () => await parked() === 3);

      await t.step("listing shows the parked messages and leaves them parked", async () => {
        const listed = await admin.deadLetters(inventory);
        assert.deepEqual(listed.map((message) => message.envelope), [...published, undefined]);
        assert.equal(listed[2].body, "not json");
        assert.ok(listed.every((message) => message.deaths === 1 && message.reason === "rejected"));
        assert.ok(listed.every((message) => Math.abs(Date.parse(message.diedAt!) - Date.now()) < 60_000));
        assert.equal((await admin.deadLetters(inventory, { limit: 1 })).length, 1);
        assert.equal(await parked(), 3, "still parked");
      });

      await t.step("a replay the handler still fails parks the messages again, counted", async () => {
        assert.equal(await admin.replayDeadLetters(inventory), 3);
        await waitFor("the messages back in the dead letters", async () => await parked() === 3);
        const listed = await admin.deadLetters(inventory);
        assert.deepEqual(listed.map((message) => message.deaths), [2, 2, 2]);
      });

      await t.step("the CLI lists and replays", async () => {
        const cli = async (...args: string[]) => {
          const output = await new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", new URL("./dead_letters.ts", import.meta.url).pathname, ...args],
            env: { AMQP_URL: url, NO_COLOR: "1" },
          }).output();
          const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
          return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
        };

        const listed = await cli("list", inventory);
        assert.equal(listed.code, 0, listed.stderr);
        assert.match(listed.stdout, new RegExp(`^3 dead letter\\(s\\) in ${inventory}\\.dead`));
        for (const envelope of published) assert.ok(listed.stdout.includes(envelope.id), envelope.id);
        assert.match(listed.stdout, /not an envelope, dead 2x \(rejected\)[\s\S]*body: not json/);

        consumer.fix();
        const replayed = await cli("replay", inventory);
        assert.equal(replayed.code, 0, replayed.stderr);
        assert.match(replayed.stdout, new RegExp(`3 dead letter\\(s\\) moved back to ${inventory}`));
        await waitFor("the replayed events", () => consumer.handled.length === 2);
        // The unreadable message can never be handled: it parks once more.
        await waitFor("the unreadable message parked again", async () => await parked() === 1);

        assert.deepEqual(consumer.handled, published);
        assert.equal(consumer.healthy.length, 2, "the other queue got each event once, replays or not");

        const usage = await cli("replay");
        assert.equal(usage.code, 2);
        assert.match(usage.stderr, /usage: dead_letters.ts list <queue>/);
        const missing = await cli("list", `test.missing.${run}`);
        assert.equal(missing.code, 1);
        assert.match(
          missing.stderr,
          /RabbitMQ has no queue test\.missing\.\w+: name a queue a service subscribes with/,
        );
      });

      await t.step("an unknown queue is refused with a clear error", async () => {
        await assert.rejects(admin.deadLetters(`test.missing.${run}`), /RabbitMQ has no queue test\.missing/);
        await assert.rejects(admin.replayDeadLetters(`test.missing.${run}`), /RabbitMQ has no queue/);
      });
    } finally {
      await bus.close();
      await admin.close();
      for (const queue of [inventory, analytics]) {
        await channel.deleteQueue(queue);
        await channel.deleteQueue(`${queue}.dead`);
        for (const delayMs of retryDelaysMs) await channel.deleteQueue(retryQueueName(queue, delayMs));
      }
      await channel.deleteExchange(exchange);
      await channel.deleteExchange(`${exchange}.dead`);
      await inspector.close();
    }
  },
);

Deno.test("dead letters CLI: usage errors name what is missing", async () => {
  const cli = async (args: string[], env: Record<string, string>) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./dead_letters.ts", import.meta.url).pathname, ...args],
      // This process's environment without AMQP_URL (Deno needs the rest, HOME for its cache).
      env: { ...withoutAmqpUrl(), NO_COLOR: "1", ...env },
      clearEnv: true,
    }).output();
    return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
  };
  const noUrl = await cli(["list", "inventory"], {});
  assert.equal(noUrl.code, 2);
  assert.match(noUrl.stderr, /AMQP_URL is not set/);
  const badLimit = await cli(["list", "inventory", "--limit", "0"], { AMQP_URL: "amqp://127.0.0.1:1" });
  assert.equal(badLimit.code, 2);
  assert.match(badLimit.stderr, /--limit must be a positive integer; got 0/);
  const unknown = await cli(["purge", "inventory"], {});
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /usage:/);
});

function withoutAmqpUrl() {
  const { AMQP_URL: _, ...rest } = Deno.env.toObject();
  return rest;
}
