/** The message rules without I/O: who may write to whom, who sees and reads what, what a body may hold. */
import assert from "node:assert/strict";
import {
  accountRefusal,
  type Caller,
  isParticipant,
  isReceiver,
  mailboxesOf,
  messageInput,
  needsAccount,
  receiverRefusal,
} from "./domain.ts";

const customer: Caller = { id: "c1", isAdmin: false };
const admin: Caller = { id: "a1", isAdmin: true };
const otherAdmin: Caller = { id: "a2", isAdmin: true };

Deno.test("customers write to admins and support; admins to any user but support", () => {
  assert.equal(receiverRefusal(customer, "support"), undefined);
  assert.equal(needsAccount("support"), false);
  assert.equal(accountRefusal(customer, { id: "a1", roles: ["customer", "admin"] }), undefined);
  assert.match(accountRefusal(customer, { id: "c2", roles: ["customer"] })!, /customers may message admins/);
  assert.equal(accountRefusal(admin, { id: "c2", roles: ["customer"] }), undefined);
  assert.match(receiverRefusal(admin, "support")!, /answer a support message by messaging its sender/);
  assert.match(receiverRefusal(customer, "c1")!, /is you/);
  assert.match(receiverRefusal(admin, "a1")!, /is you/);
  assert.equal(accountRefusal(admin, undefined), "is not a user");
  assert.equal(needsAccount("c2"), true);
});

Deno.test("support's messages are every admin's: in their mailboxes, theirs to read", () => {
  assert.deepEqual(mailboxesOf(customer), ["c1"]);
  assert.deepEqual(mailboxesOf(admin), ["a1", "support"]);
  const toSupport = { senderId: "c1", receiverId: "support" };
  const toAdmin = { senderId: "c1", receiverId: "a1" };
  assert.ok(isReceiver(admin, toSupport) && isReceiver(otherAdmin, toSupport));
  assert.ok(!isReceiver(customer, toSupport), "its sender sees it but does not read it as receiver");
  assert.ok(isParticipant(customer, toSupport));
  assert.ok(isParticipant(admin, toAdmin));
  assert.ok(!isParticipant(otherAdmin, toAdmin), "another admin's message is not theirs");
  assert.ok(!isParticipant({ id: "c3", isAdmin: false }, toAdmin));
});

Deno.test("a message is trimmed plain text; CRLF becomes LF; other control characters are refused", () => {
  const parsed = messageInput.parse({ receiverId: " support ", subject: " Hi ", body: "\r\n a\r\nb\tc \n" });
  assert.deepEqual(parsed, { receiverId: "support", subject: "Hi", body: "a\nb\tc" });
  for (const body of ["a\rb", "\u0007", "a\u007fb", "a\u0085b"]) {
    assert.ok(
      !messageInput.safeParse({ receiverId: "support", subject: "s", body }).success,
      JSON.stringify(body),
    );
  }
  assert.ok(!messageInput.safeParse({ receiverId: "support", subject: "a\tb", body: "b" }).success);
  assert.ok(
    messageInput.safeParse({ receiverId: "support", subject: "Ça va? 👋", body: "Ünïcødé ✓" }).success,
  );
});
