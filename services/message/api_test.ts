/**
 * The message service through HTTP, as customers and admins use it, with a real identity checking
 * receivers and signing tokens: on embedded PostgreSQL with the in-process bus, and on real
 * PostgreSQL with real RabbitMQ.
 */
import assert from "node:assert/strict";
import {
  amqpTarget,
  call as callService,
  type CallOptions,
  postgresTargets,
  waitFor,
} from "@multishop/kit/testing";
import { messageBody, startTestMessage, type TestUser } from "./test_support.ts";

const targets = await postgresTargets();
const rabbit = await amqpTarget();
const realBroker = (targetName: string) => (targetName === "real" && !rabbit.skip ? rabbit.url() : undefined);

const missingId = "00000000-0000-4000-8000-000000000000";

for (const target of targets) {
  const broker = realBroker(target.name);
  Deno.test({
    name: `message API on ${target.name} PostgreSQL${broker ? " and RabbitMQ" : ""}`,
    ignore: Boolean(target.skip),
  }, async (t) => {
    const service = await startTestMessage(target, { amqpUrl: broker });
    const call = (
      who: TestUser | string | undefined,
      method: string,
      path: string,
      options: CallOptions = {},
    ) =>
      callService(service.url, method, path, {
        ...options,
        token: typeof who === "string" ? who : who?.token,
      });
    const send = async (from: TestUser, receiverId: string, overrides: Record<string, unknown> = {}) => {
      const response = await call(from, "POST", "/v1/messages", { body: messageBody(receiverId, overrides) });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body;
    };
    const ids = (page: { items: { id: string }[] }) => page.items.map((message) => message.id);
    const inbox = async (who: TestUser) => (await call(who, "GET", "/v1/messages/inbox?limit=100")).body;
    const sent = async (who: TestUser) => (await call(who, "GET", "/v1/messages/sent?limit=100")).body;
    const unread = async (who: TestUser) => (await call(who, "GET", "/v1/messages/unread-count")).body;
    const stats = async () => (await call(service.admin, "GET", "/v1/messages/stats")).body;

    const { admin } = service;
    const alice = await service.customer();
    const bob = await service.customer();
    const carol = await service.customer();
    const helper = await service.promotedAdmin();

    try {
      await t.step("readiness checks PostgreSQL and the broker", async () => {
        const ready = await call(undefined, "GET", "/health/ready");
        assert.equal(ready.status, 200);
        assert.deepEqual(ready.body.checks, { postgres: "ok", messaging: "ok" });
      });

      await t.step(
        "every route: 401 without a token, 403 for a service's token; stats are admins'",
        async () => {
          const clientToken = await fetch(`${service.identityUrl}/oauth/token`, {
            method: "POST",
            headers: { authorization: `Basic ${btoa("message:message-secret-for-tests")}` },
            body: new URLSearchParams({ grant_type: "client_credentials", scope: "users:read" }),
          }).then((response) => response.json());
          const routes: [string, string, unknown?][] = [
            ["POST", "/v1/messages", messageBody(admin.id)],
            ["GET", "/v1/messages/inbox"],
            ["GET", "/v1/messages/sent"],
            ["GET", "/v1/messages/unread-count"],
            ["GET", "/v1/messages/stats"],
            ["GET", `/v1/messages/${missingId}`],
            ["DELETE", `/v1/messages/${missingId}`],
          ];
          for (const [method, path, body] of routes) {
            const anonymous = await call(undefined, method, path, { body });
            assert.equal(anonymous.status, 401, `${method} ${path}`);
            assert.equal(anonymous.headers.get("content-type"), "application/problem+json");
            assert.equal((await call(clientToken.access_token, method, path, { body })).status, 403);
          }
          assert.equal((await call(alice, "GET", "/v1/messages/stats")).status, 403);
          assert.deepEqual(await stats(), { unreadSupport: 0, total: 0 }, "nothing was sent");
        },
      );

      let toSupport: { id: string; body: string };
      let toAdmin: { id: string; body: string };
      let answer: { id: string; body: string };

      await t.step("a customer messages support and an admin; the sender is the token's user", async () => {
        const created = await call(alice, "POST", "/v1/messages", {
          body: {
            receiverId: "support",
            subject: "  Where is my order?  ",
            body: "\n It has not arrived.\r\n",
          },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.equal(created.headers.get("content-type"), "application/json");
        assert.equal(created.headers.get("location"), `/v1/messages/${created.body.id}`);
        const { id, createdAt, ...rest } = created.body;
        assert.match(id, /^[0-9a-f-]{36}$/);
        assert.ok(Date.parse(createdAt));
        assert.deepEqual(rest, {
          senderId: alice.id,
          receiverId: "support",
          subject: "Where is my order?",
          body: "It has not arrived.",
          unread: true,
          readAt: null,
        });
        toSupport = created.body;
        toAdmin = await send(alice, admin.id, { subject: "For the boss", body: "line one\r\nline two\tend" });
        assert.equal(toAdmin.body, "line one\nline two\tend");

        assert.deepEqual(ids(await sent(alice)), [toAdmin.id, toSupport.id], "newest first");
        assert.deepEqual(ids(await inbox(admin)), [toAdmin.id, toSupport.id], "own and support's");
        assert.deepEqual(ids(await inbox(helper)), [toSupport.id], "support's, not another admin's");
        assert.deepEqual(ids(await inbox(alice)), []);
        assert.equal((await inbox(admin)).total, 2);
      });

      await t.step("unread counts: the receiver's own, and support's for admins", async () => {
        assert.deepEqual(await unread(admin), { count: 1, support: 1 });
        assert.deepEqual(await unread(helper), { count: 0, support: 1 });
        assert.deepEqual(await unread(alice), { count: 0 });
        assert.deepEqual(await stats(), { unreadSupport: 1, total: 2 });
      });

      await t.step("the sender's reads change nothing; an admin reads, and the counts go down", async () => {
        const bySender = await call(alice, "GET", `/v1/messages/${toSupport.id}`);
        assert.equal(bySender.status, 200);
        assert.equal(bySender.body.unread, true, "the sender is not its reader");

        const read = await call(helper, "GET", `/v1/messages/${toSupport.id}`);
        assert.equal(read.status, 200);
        assert.equal(read.body.unread, false);
        assert.ok(Date.parse(read.body.readAt));
        assert.deepEqual(await unread(admin), { count: 1, support: 0 }, "support's are read for every admin");
        assert.deepEqual(await stats(), { unreadSupport: 0, total: 2 });
        const again = await call(admin, "GET", `/v1/messages/${toSupport.id}`);
        assert.equal(again.body.readAt, read.body.readAt, "the first read counts");
        assert.equal((await call(alice, "GET", `/v1/messages/${toSupport.id}`)).body.unread, false);

        assert.equal((await call(admin, "GET", `/v1/messages/${toAdmin.id}`)).body.unread, false);
        assert.deepEqual(await unread(admin), { count: 0, support: 0 });
      });

      await t.step("an admin answers the customer, who reads the answer", async () => {
        answer = await send(admin, alice.id, { subject: "Re: Where is my order?", body: "It ships today." });
        assert.deepEqual(await unread(alice), { count: 1 });
        assert.deepEqual(ids(await inbox(alice)), [answer.id]);
        assert.equal((await inbox(alice)).items[0].unread, true);
        const read = await call(alice, "GET", `/v1/messages/${answer.id}`);
        assert.equal(read.status, 200);
        assert.equal(read.body.senderId, admin.id);
        assert.deepEqual(await unread(alice), { count: 0 });
        assert.equal((await sent(admin)).items[0].unread, false, "the sender sees it was read");
      });

      await t.step("anyone else gets 404 for a message between two others, like a missing one", async () => {
        for (const id of [toSupport.id, toAdmin.id, answer.id]) {
          for (const method of ["GET", "DELETE"]) {
            const response = await call(carol, method, `/v1/messages/${id}`);
            assert.equal(response.status, 404, `${method} ${id}`);
            assert.equal(response.headers.get("content-type"), "application/problem+json");
          }
        }
        assert.equal(
          (await call(helper, "GET", `/v1/messages/${toAdmin.id}`)).status,
          404,
          "another admin's",
        );
        assert.equal((await call(carol, "GET", `/v1/messages/${missingId}`)).status, 404);
        assert.deepEqual(ids(await inbox(carol)), []);
        assert.deepEqual(ids(await sent(carol)), []);
        const malformed = await call(carol, "GET", "/v1/messages/not-an-id");
        assert.equal(malformed.status, 400);
        assert.deepEqual(malformed.body.errors, [{ field: "path.id", reason: "must be a message id" }]);
      });

      await t.step("delete hides a message for the caller only", async () => {
        const deleted = await call(alice, "DELETE", `/v1/messages/${answer.id}`);
        assert.equal(deleted.status, 204);
        assert.equal(deleted.body, undefined);
        assert.equal((await call(alice, "GET", `/v1/messages/${answer.id}`)).status, 404);
        assert.equal((await call(alice, "DELETE", `/v1/messages/${answer.id}`)).status, 404);
        assert.deepEqual(ids(await inbox(alice)), []);
        assert.equal(
          (await call(admin, "GET", `/v1/messages/${answer.id}`)).status,
          200,
          "the sender keeps it",
        );
        assert.ok(ids(await sent(admin)).includes(answer.id));

        assert.equal((await call(admin, "DELETE", `/v1/messages/${toSupport.id}`)).status, 204);
        assert.ok(!ids(await inbox(admin)).includes(toSupport.id));
        assert.ok(ids(await inbox(helper)).includes(toSupport.id), "other admins keep support's message");
        assert.ok(ids(await sent(alice)).includes(toSupport.id), "and so does its sender");

        assert.equal((await call(alice, "DELETE", `/v1/messages/${toAdmin.id}`)).status, 204);
        assert.ok(!ids(await sent(alice)).includes(toAdmin.id));
        assert.ok(ids(await inbox(admin)).includes(toAdmin.id));
        assert.equal((await stats()).total, 3, "hiding deletes nothing");
      });

      await t.step("a hidden unread message leaves the hider's count, not the others'", async () => {
        const question = await send(bob, "support");
        assert.deepEqual(await unread(helper), { count: 0, support: 1 });
        assert.equal((await call(helper, "DELETE", `/v1/messages/${question.id}`)).status, 204);
        assert.deepEqual(await unread(helper), { count: 0, support: 0 });
        assert.deepEqual(await unread(admin), { count: 0, support: 1 });
        assert.deepEqual(await stats(), { unreadSupport: 1, total: 4 });
      });

      await t.step("receivers the sender may not write to answer 422 naming receiverId", async () => {
        const before = (await stats()).total;
        const cases: [string, TestUser, string][] = [
          ["a customer to a customer", alice, bob.id],
          ["a customer to themself", alice, alice.id],
          ["an admin to themself", admin, admin.id],
          ["an admin to support", admin, "support"],
          ["an unknown user", alice, crypto.randomUUID()],
          ["not a user id at all", admin, "nobody"],
          ["support in another case", alice, "Support"],
        ];
        for (const [name, from, receiverId] of cases) {
          const response = await call(from, "POST", "/v1/messages", { body: messageBody(receiverId) });
          assert.equal(response.status, 422, `${name}: ${JSON.stringify(response.body)}`);
          assert.equal(response.headers.get("content-type"), "application/problem+json");
          assert.deepEqual(response.body.errors.map((e: { field: string }) => e.field), ["receiverId"], name);
        }
        assert.equal((await stats()).total, before, "nothing was sent");
        await send(admin, bob.id);
        await send(bob, helper.id);
      });

      await t.step("bad bodies answer 400 naming the field, and store nothing", async () => {
        const before = (await stats()).total;
        const long = (length: number) => "x".repeat(length);
        const cases: [string, unknown, string][] = [
          ["no receiverId", { subject: "s", body: "b" }, "receiverId"],
          ["receiverId a number", messageBody(admin.id, { receiverId: 7 }), "receiverId"],
          ["receiverId an operator", messageBody(admin.id, { receiverId: { $ne: "" } }), "receiverId"],
          ["blank receiverId", messageBody(admin.id, { receiverId: "  " }), "receiverId"],
          ["no subject", { receiverId: admin.id, body: "b" }, "subject"],
          ["blank subject", messageBody(admin.id, { subject: " \t " }), "subject"],
          ["subject over 200", messageBody(admin.id, { subject: long(201) }), "subject"],
          ["subject over two lines", messageBody(admin.id, { subject: "one\ntwo" }), "subject"],
          ["no body", { receiverId: admin.id, subject: "s" }, "body"],
          ["blank body", messageBody(admin.id, { body: "\n \n" }), "body"],
          ["body over 5000", messageBody(admin.id, { body: long(5001) }), "body"],
          ["body with NUL", messageBody(admin.id, { body: "a\u0000b" }), "body"],
          ["body with an escape sequence", messageBody(admin.id, { body: "\u001b[2Jgone" }), "body"],
          ["body with a lone carriage return", messageBody(admin.id, { body: "over\rwritten" }), "body"],
          ["body with a C1 control", messageBody(admin.id, { body: "a\u009bb" }), "body"],
          ["the sender in the body", { ...messageBody(admin.id), senderId: bob.id }, "senderId"],
          ["an unknown field", { ...messageBody(admin.id), read: true }, "read"],
          ["an array", [messageBody(admin.id)], "body"],
        ];
        for (const [name, body, field] of cases) {
          const response = await call(alice, "POST", "/v1/messages", { body });
          assert.equal(response.status, 400, `${name}: answered ${response.status}`);
          assert.equal(response.headers.get("content-type"), "application/problem+json");
          const fields = response.body.errors.map((e: { field: string }) => e.field);
          assert.ok(fields.includes(field), `${name}: ${JSON.stringify(response.body.errors)}`);
        }
        const atLimits = await send(alice, admin.id, { subject: long(200), body: `  ${long(5000)}  ` });
        assert.equal(atLimits.body.length, 5000, "trimmed before it is measured");
        const malformed = await call(alice, "POST", "/v1/messages", { raw: '{"receiverId": "support",' });
        assert.equal(malformed.status, 400);
        const text = await call(alice, "POST", "/v1/messages", {
          raw: JSON.stringify(messageBody("support")),
          contentType: "text/plain",
        });
        assert.equal(text.status, 415);
        assert.equal((await stats()).total, before + 1, "only the message at the limits was stored");
      });

      await t.step("lists page newest first with limit and cursor, and count", async () => {
        const dave = await service.customer();
        const made = [];
        for (let i = 0; i < 5; i++) made.push((await send(dave, helper.id, { subject: `page ${i}` })).id);
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const query: string = `?limit=2${cursor ? `&cursor=${cursor}` : ""}`;
          const page = await call(dave, "GET", `/v1/messages/sent${query}`);
          assert.equal(page.status, 200);
          assert.equal(page.body.total, 5);
          assert.ok(page.body.items.length <= 2);
          seen.push(...ids(page.body));
          cursor = page.body.nextCursor;
          pages++;
        } while (cursor);
        assert.equal(pages, 3);
        assert.deepEqual(seen, made.toReversed(), "newest first, none repeated or missed");
        const badCursor = await call(dave, "GET", "/v1/messages/sent?cursor=nonsense");
        assert.equal(badCursor.status, 400);
        assert.deepEqual(badCursor.body.errors.map((e: { field: string }) => e.field), ["query.cursor"]);
        assert.equal((await call(dave, "GET", "/v1/messages/inbox?limit=0")).status, 400);
      });

      await t.step("concurrent first reads of a support message: it is read once", async () => {
        const question = await send(carol, "support");
        const reads = await Promise.all(
          [admin, helper, admin, helper].map((who) => call(who, "GET", `/v1/messages/${question.id}`)),
        );
        assert.ok(reads.every((read) => read.status === 200 && read.body.unread === false));
        assert.equal(new Set(reads.map((read) => read.body.readAt)).size, 1, "one first read");
      });

      await t.step("identity unreachable: sending to a user answers 503 with Retry-After", async () => {
        const before = (await stats()).total;
        service.identityLink.cut();
        try {
          const refused = await call(alice, "POST", "/v1/messages", { body: messageBody(admin.id) });
          assert.equal(refused.status, 503);
          assert.equal(refused.headers.get("retry-after"), "5");
          assert.equal(refused.headers.get("content-type"), "application/problem+json");
          assert.match(refused.body.detail, /identity/);
          assert.equal((await stats()).total, before, "nothing was sent");
          await send(alice, "support"); // support needs no look-up
        } finally {
          service.identityLink.restore();
        }
        await send(alice, admin.id);
        assert.equal((await stats()).total, before + 2);
      });

      await t.step(
        "message.sent and message.read are published once each, as the contract says",
        async () => {
          const outbox = () =>
            service.sql<{ type: string; message_id: string; pending: boolean }[]>`
            select type, payload->>'messageId' as message_id, published_at is null as pending from outbox`;
          await waitFor(
            "the outbox to be published",
            async () => (await outbox()).every((row) => !row.pending),
          );
          const written = await outbox();
          await waitFor(
            "every published event to arrive",
            () => service.published.length >= written.length,
            10_000,
          );
          assert.equal(service.published.length, written.length, "each outbox row arrived once");
          assert.equal(new Set(service.published.map((event) => event.id)).size, written.length);

          const { total } = await stats();
          const sentEvents = service.published.filter((event) => event.type === "message.sent");
          assert.equal(sentEvents.length, total, "one message.sent per message");
          assert.equal(new Set(sentEvents.map((event) => event.correlationId)).size, total);

          const ofMessage = (id: string) =>
            service.published.filter((event) => event.correlationId === id).map((event) => event.type);
          assert.deepEqual(ofMessage(toSupport.id), ["message.sent", "message.read"], "in order");
          assert.deepEqual(ofMessage(answer.id), ["message.sent", "message.read"]);
          const sentToSupport = service.published.find((event) => event.correlationId === toSupport.id)!;
          assert.deepEqual(sentToSupport.payload, {
            messageId: toSupport.id,
            senderId: alice.id,
            receiverId: "support",
          });
          const readOfSupport = service.published.find((event) =>
            event.type === "message.read" && event.correlationId === toSupport.id
          )!;
          assert.deepEqual(readOfSupport.payload, {
            messageId: toSupport.id,
            senderId: alice.id,
            receiverId: "support",
            readerId: helper.id,
          });
          const readEvents = service.published.filter((event) => event.type === "message.read");
          const readMessages = readEvents.map((event) => event.correlationId);
          assert.equal(new Set(readMessages).size, readEvents.length, "no message read twice");
          assert.equal(readEvents.length, 4, "the support question, the admin's, the answer, the raced one");
        },
      );
    } finally {
      await service.close();
    }
  });
}
