/**
 * Every identity endpoint against malformed, mistyped, oversized and unicode-edge input: each answer
 * is a 4xx problem document, never a 500, and nothing is stored.
 */
import assert from "node:assert/strict";
import { postgresTargets } from "@multishop/kit/testing";
import { passwordLogin, register, startTestIdentity, testAdmin, uniqueName } from "./test_support.ts";

interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  status: number;
  /** The field the problem must name, when the answer is a validation error. */
  field?: string;
}

const json: Record<string, string> = { "content-type": "application/json" };
const form: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
const huge = "x".repeat(200 * 1024);

function registration(overrides: Record<string, unknown>, drop: string[] = []): string {
  const username = uniqueName("bad");
  const body: Record<string, unknown> = {
    username,
    email: `${username}@example.com`,
    name: "Bad",
    surname: "Input",
    password: "correct-horse-battery",
    ...overrides,
  };
  for (const key of drop) delete body[key];
  return JSON.stringify(body);
}

function registerCases(): Case[] {
  const path = "/v1/auth/register";
  const post = (
    name: string,
    body: string | undefined,
    status: number,
    field?: string,
    headers = json,
  ): Case => ({
    name: `register: ${name}`,
    method: "POST",
    path,
    headers,
    body,
    status,
    field,
  });
  return [
    post("malformed JSON", '{"username": "x",', 400, "body"),
    post("JSON that is not an object", "[1, 2, 3]", 400),
    post("JSON null", "null", 400),
    post("no body", undefined, 400, "body"),
    post("text/plain", registration({}), 415, undefined, { "content-type": "text/plain" }),
    post("form encoding", "username=a&password=b", 415, undefined, form),
    post("no content type with a body", registration({}), 415, undefined, {}),
    post("missing username", registration({}, ["username"]), 400, "username"),
    post("missing password", registration({}, ["password"]), 400, "password"),
    post("extra field", registration({ roles: ["admin"] }), 400, "roles"),
    post("username as a number", registration({ username: 12345 }), 400, "username"),
    post("email as an array", registration({ email: ["a@example.com"] }), 400, "email"),
    post("name as null", registration({ name: null }), 400, "name"),
    post("password as an object", registration({ password: { $gt: "" } }), 400, "password"),
    post("bad email", registration({ email: "not-an-email" }), 400, "email"),
    post("over-long email", registration({ email: `${"a".repeat(250)}@example.com` }), 400, "email"),
    post("over-long username", registration({ username: "u".repeat(33) }), 400, "username"),
    post("over-long name", registration({ name: "N".repeat(101) }), 400, "name"),
    post("over-long password", registration({ password: "pässwörd-".repeat(20) }), 400, "password"),
    post("non-ASCII username", registration({ username: "ålice" + uniqueName("") }), 400, "username"),
    post("username with a space", registration({ username: "al ice" }), 400, "username"),
    post("name with a NUL byte", registration({ name: "Bad\u0000Name" }), 400, "name"),
    post("name with a right-to-left override", registration({ name: "\u202Eevil" }), 400, "name"),
    post("name with a zero-width space", registration({ name: "Zero\u200BWidth" }), 400, "name"),
    post("name with a lone surrogate", registration({ name: "Half\uD800" }), 400, "name"),
    post("blank name", registration({ name: "   " }), 400, "name"),
    post("huge body", JSON.stringify({ username: huge }), 413),
  ];
}

function tokenCases(): Case[] {
  const post = (name: string, body: string | undefined, status: number, headers = form): Case => ({
    name: `token: ${name}`,
    method: "POST",
    path: "/oauth/token",
    headers,
    body,
    status,
  });
  return [
    // RFC 6749 §4 takes form parameters only: JSON is an unsupported media type, whatever it holds.
    post(
      "JSON body",
      JSON.stringify({ grant_type: "client_credentials", client_id: "storefront" }),
      415,
      json,
    ),
    post("malformed JSON", '{"grant_type":', 415, json),
    post("wrong content type", "grant_type=password", 415, { "content-type": "text/plain" }),
    post("no body", undefined, 400, {}),
    post("missing grant_type", "client_id=storefront", 400),
    post("unknown grant_type", "grant_type=implicit&client_id=storefront", 400),
    post("password grant without password", "grant_type=password&client_id=storefront&username=demo", 400),
    post(
      "grant_type as a JSON number",
      JSON.stringify({ grant_type: 5, client_id: "storefront" }),
      415,
      json,
    ),
    post(
      "username as a JSON object",
      JSON.stringify({
        grant_type: "password",
        client_id: "storefront",
        username: { $ne: 1 },
        password: "x",
      }),
      415,
      json,
    ),
    post("repeated parameter", "grant_type=password&grant_type=refresh_token&client_id=storefront", 400),
    post("unknown client", "grant_type=client_credentials&client_id=%F0%9F%92%A9", 401),
    post("missing client", "grant_type=client_credentials", 401),
    post("unreadable Basic credentials", "grant_type=client_credentials", 401, {
      ...form,
      authorization: "Basic %%%",
    }),
    post(
      "username with a NUL byte",
      "grant_type=password&client_id=storefront&username=x%00&password=y",
      400,
    ),
    post("client_id with a NUL byte", "grant_type=client_credentials&client_id=a%00&client_secret=s", 400),
    // The kit's text rule reads every JSON body before any route, so this one is refused before its type.
    post(
      "JSON body with a lone surrogate",
      '{"grant_type":"password","client_id":"storefront","username":"\\ud800","password":"y"}',
      400,
      json,
    ),
    post("Basic credentials with a NUL byte", "grant_type=client_credentials", 401, {
      ...form,
      authorization: `Basic ${btoa("a%00b:secret")}`,
    }),
    post("huge body", `grant_type=password&username=${huge}`, 413),
  ];
}

function revokeCases(): Case[] {
  const post = (name: string, body: string | undefined, status: number, headers = form): Case => ({
    name: `revoke: ${name}`,
    method: "POST",
    path: "/oauth/revoke",
    headers,
    body,
    status,
  });
  return [
    // RFC 7009 §2.1 takes form parameters only: JSON is an unsupported media type, whatever it holds.
    post("JSON body", JSON.stringify({ token: "x", client_id: "storefront" }), 415, json),
    post("malformed JSON", "{", 415, json),
    post("no body", undefined, 400, {}),
    post("missing token", "client_id=storefront", 400),
    post("empty client_id", "token=x&client_id=", 400),
    post("wrong content type", "token=x", 415, { "content-type": "application/xml" }),
    post("token as a JSON array", JSON.stringify({ token: ["a"], client_id: "storefront" }), 415, json),
    post("token with a NUL byte", "token=a%00b&client_id=storefront", 400),
  ];
}

function adminCases(adminToken: string, userId: string): Case[] {
  const auth = { authorization: `Bearer ${adminToken}` };
  const roles = (
    name: string,
    id: string,
    body: string | undefined,
    status: number,
    field?: string,
    headers = json,
  ): Case => ({
    name: `roles: ${name}`,
    method: "PUT",
    path: `/v1/users/${id}/roles`,
    headers: { ...auth, ...headers },
    body,
    status,
    field,
  });
  const list = (name: string, query: string, field: string): Case => ({
    name: `list users: ${name}`,
    method: "GET",
    path: `/v1/users?${query}`,
    headers: auth,
    status: 400,
    field,
  });
  return [
    roles("id that is not a uuid", "12345", JSON.stringify({ roles: ["customer"] }), 400, "path.id"),
    roles("id with SQL in it", "1'%20or%20'1'='1", JSON.stringify({ roles: ["customer"] }), 400, "path.id"),
    roles("unknown role", userId, JSON.stringify({ roles: ["root"] }), 400, "roles.0"),
    roles("empty roles", userId, JSON.stringify({ roles: [] }), 400, "roles"),
    roles("repeated role", userId, JSON.stringify({ roles: ["admin", "admin"] }), 400, "roles"),
    roles("roles as a string", userId, JSON.stringify({ roles: "admin" }), 400, "roles"),
    roles("extra field", userId, JSON.stringify({ roles: ["admin"], id: "x" }), 400, "id"),
    roles("malformed JSON", userId, "{roles", 400),
    roles("wrong content type", userId, "roles=admin", 415, undefined, form),
    list("limit 0", "limit=0", "query.limit"),
    list("limit not a number", "limit=ten", "query.limit"),
    list("limit too large", "limit=1000", "query.limit"),
    list("forged cursor", "cursor=bm90LWEtY3Vyc29y", "query.cursor"),
    list("garbage cursor", "cursor=%E2%98%83", "query.cursor"),
    list("over-long search", `q=${"q".repeat(101)}`, "query.q"),
    list("search with a NUL byte", "q=a%00", "query.q"),
    roles("id with a NUL byte", "a%00", JSON.stringify({ roles: ["customer"] }), 400, "path.id"),
    {
      name: "bearer: not a JWT",
      method: "GET",
      path: "/v1/users/me",
      headers: { authorization: "Bearer not.a.jwt" },
      status: 401,
    },
    {
      name: "bearer: empty",
      method: "GET",
      path: "/v1/users/me",
      headers: { authorization: "Bearer " },
      status: 401,
    },
  ];
}

for (const target of await postgresTargets()) {
  Deno.test({ name: `bad input on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) }, async (t) => {
    const identity = await startTestIdentity(target);
    const base = identity.url;
    try {
      const adminToken = (await passwordLogin(base, testAdmin.email, testAdmin.password)).body.access_token;
      const { body: user } = await register(base);
      const countUsers = async () =>
        (await (await fetch(`${base}/v1/users/count`, { headers: { authorization: `Bearer ${adminToken}` } }))
          .json()).count;
      const before = await countUsers();

      for (
        const testCase of [
          ...registerCases(),
          ...tokenCases(),
          ...revokeCases(),
          ...adminCases(adminToken, user.id),
        ]
      ) {
        await t.step(`${testCase.name} -> ${testCase.status}`, async () => {
          const response = await fetch(`${base}${testCase.path}`, {
            method: testCase.method,
            headers: testCase.headers,
            body: testCase.body,
          });
          const text = await response.text();
          assert.equal(response.status, testCase.status, text);
          assert.match(response.headers.get("content-type") ?? "", /^application\/(problem\+)?json/);
          const problem = JSON.parse(text);
          assert.equal(problem.status, testCase.status);
          assert.equal(typeof problem.type, "string");
          assert.equal(typeof problem.title, "string");
          assert.ok(response.headers.get("x-request-id"), "every answer carries a request id");
          if (testCase.path.startsWith("/oauth/") && testCase.status !== 413) {
            assert.equal(typeof problem.error, "string", "RFC 6749 error code");
          }
          if (testCase.field) {
            const fields = (problem.errors ?? []).map((e: { field: string }) => e.field);
            assert.ok(
              fields.includes(testCase.field),
              `expected ${testCase.field} among ${JSON.stringify(fields)}`,
            );
          }
          assert.doesNotMatch(text, /\bat \S+\.ts:\d+|stack/i, "no internals in the body");
        });
      }

      await t.step("nothing was stored and the admin's roles are unchanged", async () => {
        assert.equal(await countUsers(), before);
        const after = await (await fetch(`${base}/v1/users?q=${user.username}`, {
          headers: { authorization: `Bearer ${adminToken}` },
        })).json();
        assert.deepEqual(after.items[0].roles, ["customer"]);
      });
    } finally {
      await identity.close();
    }
  });
}
