import assert from "node:assert/strict";
import { postgresTargets } from "@multishop/kit/testing";
import {
  passwordLogin,
  register,
  startTestIdentity,
  testAdmin,
  testServiceClient,
  token,
  uniqueName,
} from "./test_support.ts";

const usersReader = { id: "message", secret: "message-secret-for-tests", scopes: ["users:read"] };

for (const target of await postgresTargets()) {
  Deno.test({ name: `accounts on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) }, async (t) => {
    const identity = await startTestIdentity(target, {
      SERVICE_CLIENTS: JSON.stringify([testServiceClient, usersReader]),
    });
    const base = identity.url;
    const adminToken = (await passwordLogin(base, testAdmin.email, testAdmin.password)).body.access_token;
    const asAdmin = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${adminToken}`, ...init.headers },
      });
    const userCount = async () => (await (await asAdmin("/v1/users/count")).json()).count as number;

    try {
      await t.step("the configured admin is bootstrapped with the admin role", async () => {
        const me = await (await asAdmin("/v1/users/me")).json();
        assert.equal(me.email, testAdmin.email);
        assert.deepEqual(me.roles.sort(), ["admin", "customer"]);
      });

      await t.step("register answers 201 with the account and never the password", async () => {
        const { response, body, account } = await register(base, {
          email: `Mixed.${uniqueName()}@Example.COM`,
        });
        assert.equal(response.status, 201);
        assert.equal(response.headers.get("location"), `/v1/users/${body.id}`);
        assert.equal(body.username, account.username);
        assert.equal(body.email, (account.email as string).toLowerCase());
        assert.deepEqual(body.roles, ["customer"]);
        assert.equal(JSON.stringify(body).includes(account.password as string), false);
        assert.equal("passwordHash" in body || "password_hash" in body || "password" in body, false);
      });

      await t.step("a taken username or email answers 409, whatever its case", async () => {
        const { account } = await register(base);
        const before = await userCount();
        const sameName = await register(base, { username: (account.username as string).toUpperCase() });
        assert.equal(sameName.response.status, 409);
        assert.deepEqual(sameName.body.errors, [{ field: "username", reason: "is already registered" }]);
        const sameEmail = await register(base, { email: (account.email as string).toUpperCase() });
        assert.equal(sameEmail.response.status, 409);
        assert.equal(sameEmail.body.errors[0].field, "email");
        assert.equal(await userCount(), before);
      });

      await t.step("concurrent registrations of one username: exactly one succeeds", async () => {
        const username = uniqueName("race");
        const results = await Promise.all(
          [1, 2, 3, 4].map((i) => register(base, { username, email: `${username}-${i}@example.com` })),
        );
        assert.deepEqual(results.map((r) => r.response.status).sort(), [201, 409, 409, 409]);
      });

      await t.step("a password typed composed or decomposed is the same password", async () => {
        const composed = "Caf\u00e9-au-lait-strong-9";
        const { response, account } = await register(base, { password: composed });
        assert.equal(response.status, 201);
        const decomposed = composed.normalize("NFD");
        assert.notEqual(decomposed, composed);
        const login = await passwordLogin(base, account.username as string, decomposed);
        assert.equal(login.response.status, 200);
      });

      await t.step("weak passwords answer 400 naming the password", async () => {
        const username = uniqueName("weak");
        for (
          const password of [
            "short1!",
            "password123",
            `${username}-is-me`,
            "aaaaaaaaaaaaaaa",
            "ab".repeat(65),
          ]
        ) {
          const { response, body } = await register(base, { username, password });
          assert.equal(response.status, 400, password);
          assert.equal(body.errors[0].field, "password", password);
        }
        const list = await (await asAdmin(`/v1/users?q=${username}`)).json();
        assert.equal(list.total, 0, "nothing was stored");
      });

      await t.step("admins list users page by page and search them", async () => {
        const prefix = uniqueName("page");
        for (let i = 0; i < 5; i++) {
          await register(base, { username: `${prefix}${i}`, email: `${prefix}${i}@example.com` });
        }
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const query: string = `/v1/users?limit=2&q=${prefix}${cursor ? `&cursor=${cursor}` : ""}`;
          const page = await (await asAdmin(query)).json();
          assert.equal(page.total, 5);
          assert.ok(page.items.length <= 2);
          seen.push(...page.items.map((u: { username: string }) => u.username));
          cursor = page.nextCursor;
        } while (cursor);
        assert.deepEqual(seen.sort(), [0, 1, 2, 3, 4].map((i) => `${prefix}${i}`));
        const wildcard = await (await asAdmin(`/v1/users?q=${encodeURIComponent("%")}`)).json();
        assert.equal(wildcard.total, 0, "% is a literal character in a search, not a wildcard");
      });

      await t.step("customers and anonymous callers cannot use admin endpoints", async () => {
        const { account } = await register(base);
        const customer =
          (await passwordLogin(base, account.username as string, account.password as string)).body;
        const asCustomer = await fetch(`${base}/v1/users`, {
          headers: { authorization: `Bearer ${customer.access_token}` },
        });
        assert.equal(asCustomer.status, 403);
        assert.equal((await asCustomer.json()).status, 403);
        const anonymous = await fetch(`${base}/v1/users/count`);
        assert.equal(anonymous.status, 401);
        assert.equal(anonymous.headers.get("www-authenticate"), "Bearer");
        await anonymous.body?.cancel();
      });

      await t.step(
        "admins and services granted users:read look a user up by id; others get 403",
        async () => {
          const { account, body: user } = await register(base);
          const asAdminFound = await asAdmin(`/v1/users/${user.id}`);
          assert.equal(asAdminFound.status, 200);
          assert.deepEqual((await asAdminFound.json()).roles, ["customer"]);
          const lookup = (accessToken: string, id = user.id) =>
            fetch(`${base}/v1/users/${id}`, { headers: { authorization: `Bearer ${accessToken}` } });
          const reader = await token(base, {
            grant_type: "client_credentials",
            client_id: usersReader.id,
            client_secret: usersReader.secret,
          });
          const asReader = await lookup(reader.body.access_token);
          assert.equal(asReader.status, 200);
          assert.equal((await asReader.json()).username, account.username);
          const missing = await lookup(reader.body.access_token, crypto.randomUUID());
          assert.equal(missing.status, 404);
          await missing.body?.cancel();
          const customer =
            (await passwordLogin(base, account.username as string, account.password as string)).body;
          const asCustomer = await lookup(customer.access_token);
          assert.equal(asCustomer.status, 403);
          await asCustomer.body?.cancel();
        },
      );

      await t.step(
        "admins set roles; the new role is in the next token; an admin cannot demote themself",
        async () => {
          const { account, body: user } = await register(base);
          const promoted = await asAdmin(`/v1/users/${user.id}/roles`, {
            method: "PUT",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ roles: ["customer", "admin"] }),
          });
          assert.equal(promoted.status, 200);
          assert.deepEqual((await promoted.json()).roles, ["customer", "admin"]);
          const fresh =
            (await passwordLogin(base, account.username as string, account.password as string)).body;
          const list = await fetch(`${base}/v1/users?limit=1`, {
            headers: { authorization: `Bearer ${fresh.access_token}` },
          });
          assert.equal(list.status, 200);
          await list.body?.cancel();

          const me = await (await asAdmin("/v1/users/me")).json();
          const demoteSelf = await asAdmin(`/v1/users/${me.id}/roles`, {
            method: "PUT",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ roles: ["customer"] }),
          });
          assert.equal(demoteSelf.status, 409);
          await demoteSelf.body?.cancel();

          const unknown = await asAdmin(`/v1/users/${crypto.randomUUID()}/roles`, {
            method: "PUT",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ roles: ["customer"] }),
          });
          assert.equal(unknown.status, 404);
          await unknown.body?.cancel();
        },
      );

      await t.step("health endpoints report the database", async () => {
        const live = await fetch(`${base}/health/live`);
        assert.equal(live.status, 200);
        await live.body?.cancel();
        const ready = await (await fetch(`${base}/health/ready`)).json();
        assert.deepEqual(ready, { status: "ready", checks: { postgres: "ok" } });
      });
    } finally {
      await identity.close();
    }
  });
}
