/**
 * The checkout's coupon commands through the inbox and the outbox (events.ts), seen from the bus as
 * the order service uses it: each command is handled once, its reply is written with its change and
 * published after the commit, and a publisher that fails loses neither. Afterwards the test reads the
 * outbox and inbox tables themselves. On both PostgreSQL targets with the in-process bus, and on real
 * PostgreSQL with real RabbitMQ.
 */
import assert from "node:assert/strict";
import type { z } from "zod";
import { discountMessages } from "@multishop/kit/contracts/checkout";
import { stableUuid } from "@multishop/kit/digest";
import { memoryLogger } from "@multishop/kit/log";
import { createInProcessBus, type Envelope, type MessageBus } from "@multishop/kit/messaging";
import { connectPostgres } from "@multishop/kit/postgres";
import {
  amqpTarget,
  type PostgresTarget,
  postgresTargets,
  testRabbitMq,
  testTokenIssuer,
  waitFor,
} from "@multishop/kit/testing";
import { loadDiscountConfig } from "./config.ts";
import { discountQueue } from "./events.ts";
import { startDiscount } from "./main.ts";
import { couponBody, usd } from "./test_support.ts";

const targets = await postgresTargets();
const rabbit = await amqpTarget();
const real = targets.find((target) => target.name === "real")!;

const variants: { name: string; target: PostgresTarget; skip?: string; rabbitMq: boolean }[] = [
  ...targets.map((target) => ({
    name: `${target.name} PostgreSQL`,
    target,
    skip: target.skip,
    rabbitMq: false,
  })),
  { name: "real PostgreSQL and RabbitMQ", target: real, skip: real.skip ?? rabbit.skip, rabbitMq: true },
];

/** The bus as the service sees it, with a switch that makes every publish fail as a broker outage would. */
function switchablePublisher(bus: MessageBus) {
  const state = { down: false, failedPublishes: 0 };
  const service: MessageBus = {
    publish(type, schema, payload, options) {
      if (!state.down) return bus.publish(type, schema, payload, options);
      state.failedPublishes++;
      return Promise.reject(new Error("the broker is unreachable"));
    },
    subscribe: bus.subscribe.bind(bus),
    ping: bus.ping.bind(bus),
    close: bus.close.bind(bus),
  };
  return { state, bus: service };
}

const byId = (a: { id: string }, b: { id: string }) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

const replyId = (commandId: string) => stableUuid(`discount:reply:${commandId}`);

for (const variant of variants) {
  Deno.test({ name: `checkout commands on ${variant.name}`, ignore: Boolean(variant.skip) }, async (t) => {
    const logger = memoryLogger("discount");
    const database = await variant.target.open();
    const bus = variant.rabbitMq
      ? await testRabbitMq(rabbit.url(), { logger })
      : createInProcessBus({ logger, retryDelaysMs: [5] });
    const broker = switchablePublisher(bus);
    const service = await startDiscount(loadDiscountConfig({ LOG_LEVEL: "silent" }), {
      postgres: { url: database.url, maxConnections: database.maxConnections },
      bus: broker.bus,
      logger,
      verifyToken: (await testTokenIssuer()).verifyToken,
    });
    let serviceRunning = true;
    const replies: Envelope[] = [];
    await bus.subscribe("test-replies", ["discount.reserved", "discount.rejected"], (envelope) => {
      replies.push(envelope);
      return Promise.resolve();
    });
    const { discount } = service;

    const send = <T extends keyof typeof discountMessages>(
      type: T,
      payload: z.input<(typeof discountMessages)[T]>,
      id?: string,
    ) => bus.publish(type, discountMessages[type], payload, { id, correlationId: payload.orderId });
    const reserve = (orderId: string, code: string, id?: string) =>
      send("discount.reserve", { orderId, code, userId: "user-1", subtotal: usd(10_000) }, id);
    const logged = (message: string, messageId: string) =>
      logger.lines.filter((line) => line.message === message && line.messageId === messageId).length;
    /** The times the service took the command: handled, or skipped as handled before. */
    const taken = (messageId: string) =>
      logged("message handled", messageId) + logged("message handled before; skipped", messageId);
    const repliesTo = (command: Envelope) => replies.filter((reply) => reply.causationId === command.id);
    const replyTo = async (command: Envelope) => {
      await waitFor(
        `the reply to ${command.type} ${command.id}`,
        () => repliesTo(command).length > 0,
        10_000,
      );
      return repliesTo(command)[0];
    };
    const used = async (couponId: string) => (await discount.coupon(couponId)).used;

    const coupon = await discount.createCoupon(couponBody({ usageLimit: 1 }));
    const handledCommands: string[] = [];
    const refusedCommands: string[] = [];
    const expectedReplies: { id: string; type: string; causationId: string }[] = [];

    try {
      const first = await reserve("order-1", coupon.code);
      await t.step("reserve answers with the reply id derived from the command's", async () => {
        const reply = await replyTo(first);
        assert.equal(reply.type, "discount.reserved");
        assert.deepEqual(reply.payload, { orderId: "order-1", discount: usd(1_000) });
        assert.equal(reply.id, await replyId(first.id));
        assert.equal(reply.correlationId, "order-1");
        assert.equal(await used(coupon.id), 1);
        handledCommands.push(first.id);
        expectedReplies.push({ id: reply.id, type: reply.type, causationId: first.id });
      });

      await t.step("a redelivered command is skipped: it changes and writes nothing", async () => {
        await reserve("order-1", coupon.code, first.id);
        await waitFor("the redelivery to be taken", () => taken(first.id) === 2);
        assert.equal(logged("message handled before; skipped", first.id), 1);
        assert.equal(await used(coupon.id), 1);
      });

      await t.step(
        "a new command for the order gets the first one's reply under an id of its own",
        async () => {
          const again = await reserve("order-1", coupon.code);
          const reply = await replyTo(again);
          const firstReply = repliesTo(first)[0];
          assert.equal(reply.type, firstReply.type);
          assert.deepEqual(reply.payload, firstReply.payload);
          assert.equal(reply.correlationId, "order-1");
          assert.equal(reply.id, await replyId(again.id));
          assert.notEqual(reply.id, firstReply.id);
          assert.equal(await used(coupon.id), 1, "and takes no other use");
          handledCommands.push(again.id);
          expectedReplies.push({ id: reply.id, type: reply.type, causationId: again.id });
        },
      );

      await t.step("another order finds the coupon used up: rejected", async () => {
        const late = await reserve("order-2", coupon.code);
        const reply = await replyTo(late);
        assert.equal(reply.type, "discount.rejected");
        assert.equal((reply.payload as { reason: string }).reason, "exhausted");
        handledCommands.push(late.id);
        expectedReplies.push({ id: reply.id, type: reply.type, causationId: late.id });
      });

      await t.step("commit and return are handled once and answer nothing", async () => {
        const commit = await send("discount.commit", { orderId: "order-1" });
        await waitFor("the commit to be handled", () => taken(commit.id) === 1);
        assert.equal(await used(coupon.id), 1);
        const giveBack = await send("discount.return", { orderId: "order-1" });
        await waitFor("the return to be handled", () => taken(giveBack.id) === 1);
        assert.equal(await used(coupon.id), 0, "the returned use counts no more");
        // Judged again, a commit of a returned use would be refused; handled before, it is skipped.
        await send("discount.commit", { orderId: "order-1" }, commit.id);
        await waitFor("the redelivered commit to be taken", () => taken(commit.id) === 2);
        assert.equal(logged("checkout command refused", commit.id), 0);
        assert.equal(await used(coupon.id), 0);
        handledCommands.push(commit.id, giveBack.id);
      });

      await t.step("a refused command is logged, not retried, and leaves no inbox record", async () => {
        const stray = await send("discount.commit", { orderId: "order-never-reserved" });
        await waitFor("the refusal", () => logged("checkout command refused", stray.id) === 1);
        const [line] = logger.lines.filter((each) => each.messageId === stray.id);
        assert.equal(line.kind, "not_found");
        assert.equal(taken(stray.id), 0);
        refusedCommands.push(stray.id);
      });

      await t.step(
        "30 reserves racing through the inbox for a coupon with usageLimit 5: 5 get it; a release frees one",
        async () => {
          const scarce = await discount.createCoupon(couponBody({ usageLimit: 5 }));
          const commands = await Promise.all(
            Array.from({ length: 30 }, (_, i) => reserve(`race-${i}`, scarce.code)),
          );
          const answers = await Promise.all(commands.map(replyTo));
          assert.equal(answers.filter((reply) => reply.type === "discount.reserved").length, 5);
          assert.equal(await used(scarce.id), 5);
          commands.forEach((command, i) => {
            handledCommands.push(command.id);
            expectedReplies.push({ id: answers[i].id, type: answers[i].type, causationId: command.id });
          });
          const winner = answers.find((reply) => reply.type === "discount.reserved")!;
          const release = await send("discount.release", { orderId: winner.correlationId });
          await waitFor("the release to be handled", () => taken(release.id) === 1);
          assert.equal(await used(scarce.id), 4, "the released use is free again");
          handledCommands.push(release.id);
        },
      );

      await t.step(
        "with the broker down, the reservation and its reply are kept; the reply goes out once it is back",
        async () => {
          const other = await discount.createCoupon(couponBody({ usageLimit: 1 }));
          broker.state.down = true;
          const command = await reserve("order-3", other.code);
          await waitFor("the relay to try the reply", () => broker.state.failedPublishes > 0);
          assert.equal(await used(other.id), 1, "the reservation is committed");
          assert.equal(taken(command.id), 1, "and the command is not redelivered");
          assert.equal(repliesTo(command).length, 0);

          broker.state.down = false;
          const reply = await replyTo(command);
          assert.equal(reply.type, "discount.reserved");
          assert.equal(reply.id, await replyId(command.id));
          assert.deepEqual(reply.payload, { orderId: "order-3", discount: usd(1_000) });
          assert.equal(taken(command.id), 1);
          handledCommands.push(command.id);
          expectedReplies.push({ id: reply.id, type: reply.type, causationId: command.id });
        },
      );

      await t.step(
        "the tables hold one reply per reserve and one inbox record per handled command",
        async () => {
          await service.close();
          serviceRunning = false;
          const sql = connectPostgres(database.url, { max: 1, applicationName: "test" });
          try {
            const outbox = await sql<
              { id: string; type: string; causation_id: string; published: boolean }[]
            >`select id, type, causation_id, published_at is not null as published from outbox order by id`;
            assert.deepEqual(
              outbox.map(({ id, type, causation_id }) => ({ id, type, causationId: causation_id })),
              expectedReplies.toSorted(byId),
            );
            assert.ok(outbox.every((row) => row.published), "every reply was published");
            const inbox = await sql<{ message_id: string }[]>`
              select message_id from inbox where queue = ${discountQueue}`;
            assert.deepEqual(inbox.map((row) => row.message_id).sort(), handledCommands.toSorted());
          } finally {
            await sql.end();
          }
          for (const id of refusedCommands) {
            assert.equal(logged("checkout command refused", id), 1, "a refused command was not retried");
          }
          const published = replies.map(({ id, type, causationId }) => ({ id, type, causationId }));
          assert.deepEqual(
            published.toSorted(byId),
            expectedReplies.toSorted(byId),
            "each reply went out once",
          );
        },
      );
    } finally {
      await bus.close();
      if (serviceRunning) await service.close();
      await database.close();
    }
  });
}
