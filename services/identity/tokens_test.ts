import assert from "node:assert/strict";
import { base64url, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { remoteKeySet, tokenVerifier } from "@multishop/kit/auth";
import { postgresTargets } from "@multishop/kit/testing";
import {
  passwordLogin,
  register,
  startTestIdentity,
  testAdmin,
  testIssuer,
  testServiceClient,
  token,
} from "./test_support.ts";

for (const target of await postgresTargets()) {
  Deno.test({ name: `tokens on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) }, async (t) => {
    const identity = await startTestIdentity(target);
    const base = identity.url;
    /** An independent verifier: plain jose against the published JWKS, as any other service would do. */
    const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
    const verify = (accessToken: string, options: { at?: Date; keys?: typeof jwks } = {}) =>
      jwtVerify(accessToken, options.keys ?? jwks, {
        issuer: testIssuer,
        audience: "multishop",
        algorithms: ["ES256"],
        currentDate: options.at,
      });
    const me = (accessToken: string) =>
      fetch(`${base}/v1/users/me`, { headers: { authorization: `Bearer ${accessToken}` } });

    try {
      await t.step("password grant by username and by email issues verifiable tokens", async () => {
        const { account, body: user } = await register(base);
        for (const login of [account.username, account.email.toUpperCase()]) {
          const { response, body } = await passwordLogin(base, login, account.password);
          assert.equal(response.status, 200);
          assert.equal(response.headers.get("cache-control"), "no-store");
          assert.equal(body.token_type, "Bearer");
          assert.equal(body.expires_in, 900);
          assert.match(body.refresh_token, /^[A-Za-z0-9_-]{43}$/);
          const { payload, protectedHeader } = await verify(body.access_token);
          assert.equal(payload.sub, user.id);
          assert.deepEqual(payload.roles, ["customer"]);
          assert.equal(payload.exp! - payload.iat!, 900);
          assert.ok(protectedHeader.kid);
          assert.ok(payload.jti);
          const profile = await me(body.access_token);
          assert.equal(profile.status, 200);
          assert.equal((await profile.json()).username, account.username);
        }
      });

      await t.step("another service verifies identity's tokens with the kit's remote key set", async () => {
        const { account, body: user } = await register(base);
        const tokens = (await passwordLogin(base, account.username, account.password)).body;
        const verifyAtService = tokenVerifier({
          keys: remoteKeySet(`${base}/.well-known/jwks.json`),
          issuer: testIssuer,
          audience: "multishop",
        });
        const principal = await verifyAtService(tokens.access_token);
        assert.deepEqual(principal, {
          subject: user.id,
          kind: "user",
          roles: ["customer"],
          scopes: [],
          clientId: "storefront",
          username: account.username,
        });
        const otherAudience = tokenVerifier({
          keys: remoteKeySet(`${base}/.well-known/jwks.json`),
          issuer: testIssuer,
          audience: "someone-else",
        });
        await assert.rejects(otherAudience(tokens.access_token));
      });

      await t.step("wrong password and unknown user get the same invalid_grant", async () => {
        const { account } = await register(base);
        const wrong = await passwordLogin(base, account.username, "not-the-password");
        const unknown = await passwordLogin(base, "nobody-at-all", "not-the-password");
        for (const { response, body } of [wrong, unknown]) {
          assert.equal(response.status, 400);
          assert.equal(body.error, "invalid_grant");
        }
        assert.equal(wrong.body.error_description, unknown.body.error_description);
      });

      await t.step("a JSON body is refused: 415 invalid_request, and no token is issued", async () => {
        const { account } = await register(base);
        const response = await fetch(`${base}/oauth/token`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ grant_type: "password", client_id: "storefront", ...account }),
        });
        assert.equal(response.status, 415);
        assert.equal(response.headers.get("content-type"), "application/json");
        assert.equal(response.headers.get("cache-control"), "no-store");
        const body = await response.json();
        assert.equal(body.error, "invalid_request");
        assert.equal(
          body.error_description,
          "send the parameters as application/x-www-form-urlencoded, not application/json",
        );
        assert.equal(body.access_token, undefined);
        const asForm = await passwordLogin(base, account.username, account.password);
        assert.equal(asForm.response.status, 200, "the same parameters as a form sign in");
      });

      await t.step("client_credentials: visitor is read-only, service clients get their scopes", async () => {
        const visitor = await token(base, {
          grant_type: "client_credentials",
          client_id: "visitor",
          client_secret: "visitor-secret",
        });
        assert.equal(visitor.response.status, 200);
        assert.equal(visitor.body.scope, "catalog:read");
        assert.equal(visitor.body.refresh_token, undefined);
        const claims = (await verify(visitor.body.access_token)).payload;
        assert.equal(claims.sub, "visitor");
        assert.equal(claims.roles, undefined);

        const basic = btoa(`${testServiceClient.id}:${testServiceClient.secret}`);
        const service = await token(base, { grant_type: "client_credentials", scope: "catalog:read" }, {
          authorization: `Basic ${basic}`,
        });
        assert.equal(service.response.status, 200);
        assert.equal(service.body.scope, "catalog:read");

        const tooMuch = await token(base, { grant_type: "client_credentials", scope: "orders:write" }, {
          authorization: `Basic ${basic}`,
        });
        assert.equal(tooMuch.response.status, 400);
        assert.equal(tooMuch.body.error, "invalid_scope");

        const wrongSecret = await token(base, {
          grant_type: "client_credentials",
          client_id: "visitor",
          client_secret: "guess",
        });
        assert.equal(wrongSecret.response.status, 401);
        assert.equal(wrongSecret.body.error, "invalid_client");

        const clientToken = await me(visitor.body.access_token);
        assert.equal(clientToken.status, 403, "a client token is not a user");
      });

      await t.step("a client may only use its own grants", async () => {
        const { account } = await register(base);
        const viaVisitor = await token(base, {
          grant_type: "password",
          client_id: "visitor",
          client_secret: "visitor-secret",
          username: account.username,
          password: account.password,
        });
        assert.equal(viaVisitor.body.error, "unauthorized_client");
        const storefrontCredentials = await token(base, {
          grant_type: "client_credentials",
          client_id: "storefront",
        });
        assert.equal(storefrontCredentials.body.error, "unauthorized_client");
        const unsupported = await token(base, { grant_type: "authorization_code", client_id: "storefront" });
        assert.equal(unsupported.response.status, 400);
        assert.equal(unsupported.body.error, "invalid_request");
      });

      await t.step("refresh rotates the token; replaying a rotated one revokes the family", async () => {
        const { account } = await register(base);
        const first = (await passwordLogin(base, account.username, account.password)).body;
        const second = await token(base, {
          grant_type: "refresh_token",
          client_id: "storefront",
          refresh_token: first.refresh_token,
        });
        assert.equal(second.response.status, 200);
        assert.notEqual(second.body.refresh_token, first.refresh_token);
        await verify(second.body.access_token);

        const replay = await token(base, {
          grant_type: "refresh_token",
          client_id: "storefront",
          refresh_token: first.refresh_token,
        });
        assert.equal(replay.response.status, 400);
        assert.equal(replay.body.error, "invalid_grant");

        const afterRevocation = await token(base, {
          grant_type: "refresh_token",
          client_id: "storefront",
          refresh_token: second.body.refresh_token,
        });
        assert.equal(afterRevocation.body.error, "invalid_grant", "the replay revoked the newest token too");

        const otherLogin = (await passwordLogin(base, account.username, account.password)).body;
        const unaffected = await token(base, {
          grant_type: "refresh_token",
          client_id: "storefront",
          refresh_token: otherLogin.refresh_token,
        });
        assert.equal(unaffected.response.status, 200, "another sign-in's family is untouched");
      });

      await t.step("concurrent refreshes with one token: exactly one wins", async () => {
        const { account } = await register(base);
        const first = (await passwordLogin(base, account.username, account.password)).body;
        const results = await Promise.all(
          [1, 2, 3].map(() =>
            token(base, {
              grant_type: "refresh_token",
              client_id: "storefront",
              refresh_token: first.refresh_token,
            })
          ),
        );
        assert.equal(results.filter((r) => r.response.status === 200).length, 1);
      });

      await t.step("revoke ends the sign-in; unknown tokens are answered alike", async () => {
        const { account } = await register(base);
        const tokens = (await passwordLogin(base, account.username, account.password)).body;
        const revoke = (tokenValue: string) =>
          fetch(`${base}/oauth/revoke`, {
            method: "POST",
            body: new URLSearchParams({ token: tokenValue, client_id: "storefront" }),
          });
        const revoked = await revoke(tokens.refresh_token);
        assert.equal(revoked.status, 200);
        await revoked.body?.cancel();
        const refresh = await token(base, {
          grant_type: "refresh_token",
          client_id: "storefront",
          refresh_token: tokens.refresh_token,
        });
        assert.equal(refresh.body.error, "invalid_grant");
        const unknown = await revoke("no-such-token");
        assert.equal(unknown.status, 200);
        await unknown.body?.cancel();
        const access = await revoke(tokens.access_token);
        assert.equal(access.status, 400);
        assert.equal((await access.json()).error, "unsupported_token_type");
      });

      await t.step("revoke refuses a JSON body with 415 invalid_request and revokes nothing", async () => {
        const { account } = await register(base);
        const tokens = (await passwordLogin(base, account.username, account.password)).body;
        const response = await fetch(`${base}/oauth/revoke`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ token: tokens.refresh_token, client_id: "storefront" }),
        });
        assert.equal(response.status, 415);
        assert.equal(response.headers.get("content-type"), "application/json");
        assert.equal((await response.json()).error, "invalid_request");
        const refresh = await token(base, {
          grant_type: "refresh_token",
          client_id: "storefront",
          refresh_token: tokens.refresh_token,
        });
        assert.equal(refresh.response.status, 200, "the refresh token still works");
      });

      await t.step("expired and tampered tokens are refused", async () => {
        const { account } = await register(base);
        const old = (await passwordLogin(base, account.username, account.password)).body;
        await assert.rejects(verify(old.access_token, { at: new Date(Date.now() + 16 * 60_000) }), {
          code: "ERR_JWT_EXPIRED",
        });
        identity.shiftClock(16 * 60_000);
        const expired = await me(old.access_token);
        identity.shiftClock(0);
        assert.equal(expired.status, 401);
        assert.match(expired.headers.get("www-authenticate") ?? "", /invalid_token/);
        assert.match((await expired.json()).detail, /expired/);

        const fresh = (await passwordLogin(base, account.username, account.password)).body;
        const [header, payload, signature] = fresh.access_token.split(".");
        const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload)));
        const forged = base64url.encode(JSON.stringify({ ...claims, roles: ["customer", "admin"] }));
        const tampered = `${header}.${forged}.${signature}`;
        await assert.rejects(verify(tampered));
        const response = await fetch(`${base}/v1/users`, {
          headers: { authorization: `Bearer ${tampered}` },
        });
        assert.equal(response.status, 401);
        await response.body?.cancel();

        const unsigned = `${base64url.encode(JSON.stringify({ alg: "none" }))}.${payload}.`;
        const none = await me(unsigned);
        assert.equal(none.status, 401);
        await none.body?.cancel();
      });

      await t.step(
        "key rotation: the new key is published before it signs; old tokens stay valid until they expire",
        async () => {
          const { account } = await register(base);
          const before = (await passwordLogin(base, account.username, account.password)).body;
          const oldKid = decodeProtectedHeader(before.access_token).kid!;
          const admin = (await passwordLogin(base, testAdmin.email, testAdmin.password)).body;
          const published = async () =>
            ((await (await fetch(`${base}/.well-known/jwks.json`)).json()).keys as { kid: string }[]).map((
              k,
            ) => k.kid);

          const rotate = await fetch(`${base}/v1/signing-keys/rotate`, {
            method: "POST",
            headers: { authorization: `Bearer ${admin.access_token}` },
          });
          assert.equal(rotate.status, 201);
          const { kid: newKid } = await rotate.json();
          assert.notEqual(newKid, oldKid);
          assert.deepEqual((await published()).sort(), [oldKid, newKid].sort(), "published before it signs");
          const during = (await passwordLogin(base, account.username, account.password)).body;
          assert.equal(decodeProtectedHeader(during.access_token).kid, oldKid);

          identity.shiftClock(3 * 60_000);
          const after = (await passwordLogin(base, account.username, account.password)).body;
          assert.equal(decodeProtectedHeader(after.access_token).kid, newKid);
          identity.shiftClock(0);
          // A verifier that fetched the key set after the new key was published (as the activation delay ensures).
          const refetched = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
          await verify(before.access_token, { keys: refetched });
          await verify(after.access_token, { keys: refetched });
          assert.equal((await me(before.access_token)).status, 200);

          identity.shiftClock(20 * 60_000);
          const later = await published();
          identity.shiftClock(0);
          assert.ok(!later.includes(oldKid), "the retired key is dropped once its tokens have expired");
          assert.ok(later.includes(newKid));
        },
      );

      await t.step("discovery document points at the endpoints", async () => {
        const metadata = await (await fetch(`${base}/.well-known/openid-configuration`)).json();
        assert.equal(metadata.issuer, testIssuer);
        assert.equal(metadata.jwks_uri, `${testIssuer}/.well-known/jwks.json`);
        assert.deepEqual(metadata.grant_types_supported, ["password", "client_credentials", "refresh_token"]);
      });
    } finally {
      await identity.close();
    }
  });
}
