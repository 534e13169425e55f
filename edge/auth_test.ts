/**
 * Token verification once per token: the caching verifier with the kit's real verifier (counting how
 * often a signature is checked), and the edge in workerd (counting JWKS fetches).
 */
import assert from "node:assert/strict";
import { remoteKeySet } from "@multishop/kit/auth";
import { testTokenIssuer } from "@multishop/kit/testing";
import { createLocalJWKSet, generateKeyPair, type JWTVerifyGetKey, SignJWT } from "jose";
import { cachingTokenVerifier, principalCacheMaxAgeMs } from "./src/auth.ts";
import { startEdgeFixture } from "./test_support.ts";

/** jose asks for the key once per signature it checks, so counting the asks counts verifications. */
function countingKeys(keys: JWTVerifyGetKey) {
  const counter = { verifications: 0 };
  const counted: JWTVerifyGetKey = (header, token) => {
    counter.verifications++;
    return keys(header, token);
  };
  return { counter, keys: counted };
}

async function verifierWithClock(options: { maxEntries?: number } = {}) {
  const tokens = await testTokenIssuer();
  const { counter, keys } = countingKeys(createLocalJWKSet(tokens.jwks));
  const clock = { now: Date.now() };
  const verify = cachingTokenVerifier({
    keys,
    issuer: tokens.issuer,
    audience: tokens.audience,
    clock: () => new Date(clock.now),
    ...options,
  });
  return { tokens, counter, clock, verify };
}

const inSeconds = (clockMs: number, seconds: number) => Math.floor(clockMs / 1000) + seconds;

Deno.test("a verified token is not verified again until it expires, and is refused once expired", async () => {
  const { tokens, counter, clock, verify } = await verifierWithClock();
  const token = await tokens.sign("user-1", { roles: ["customer"], exp: inSeconds(clock.now, 60) });

  const first = await verify(token);
  for (let i = 0; i < 5; i++) assert.equal(await verify(token), first);
  assert.equal(first.subject, "user-1");
  assert.equal(counter.verifications, 1);

  clock.now += 61_000;
  await assert.rejects(verify(token), { code: "ERR_JWT_EXPIRED" });
  await assert.rejects(verify(token), { code: "ERR_JWT_EXPIRED" });
});

Deno.test("a long-lived token is verified again after the cache's longest trust", async () => {
  const { tokens, counter, clock, verify } = await verifierWithClock();
  const token = await tokens.sign("user-1", { roles: ["customer"], exp: inSeconds(clock.now, 3600) });
  await verify(token);
  clock.now += principalCacheMaxAgeMs - 1;
  await verify(token);
  assert.equal(counter.verifications, 1);
  clock.now += 1;
  await verify(token);
  assert.equal(counter.verifications, 2);
});

Deno.test("a refused token is checked again every time, never remembered", async () => {
  const { tokens, counter, verify } = await verifierWithClock();
  const token = await tokens.sign("user-1", { roles: ["customer"], aud: "someone-else" });
  await assert.rejects(verify(token), { code: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
  await assert.rejects(verify(token), { code: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
  assert.equal(counter.verifications, 2);
});

Deno.test("the cache is bounded: the oldest token makes room and is verified again", async () => {
  const { tokens, counter, verify } = await verifierWithClock({ maxEntries: 2 });
  const [first, second, third] = await Promise.all([tokens.customer(), tokens.customer(), tokens.customer()]);
  for (const token of [first, second, third]) await verify(token);
  assert.equal(counter.verifications, 3);
  await verify(third);
  assert.equal(counter.verifications, 3);
  await verify(first);
  assert.equal(counter.verifications, 4);
});

Deno.test("a token for an unknown kid fetches the keys at most once per cooldown", async () => {
  const tokens = await testTokenIssuer();
  let fetches = 0;
  const jwks = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    fetches++;
    return Response.json(tokens.jwks);
  });
  try {
    const verify = cachingTokenVerifier({
      keys: remoteKeySet(`http://127.0.0.1:${jwks.addr.port}/`),
      issuer: tokens.issuer,
      audience: tokens.audience,
    });
    const stranger = await strangerToken(tokens.issuer, tokens.audience);
    for (let i = 0; i < 5; i++) {
      await assert.rejects(verify(stranger), { code: "ERR_JWKS_NO_MATCHING_KEY" });
    }
    assert.equal(fetches, 1);
    await verify(await tokens.customer());
    assert.equal(fetches, 1);
  } finally {
    await jwks.shutdown();
  }
});

Deno.test("the edge in workerd fetches the keys once for known tokens and within a cooldown for unknown kids", async () => {
  let jwks: unknown = { keys: [] };
  let fetches = 0;
  const jwksServer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    fetches++;
    return Response.json(jwks);
  });
  const fixture = await startEdgeFixture({
    CACHE_ENABLED: "false",
    JWKS_URL: `http://127.0.0.1:${jwksServer.addr.port}/`,
  });
  jwks = fixture.tokens.jwks;
  const me = (token: string) =>
    fetch(`${fixture.edge.url}/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
  try {
    const token = await fixture.tokens.customer("user-1");
    // The first verification in one request, the remembered principal in the next ones.
    const health = await fetch(`${fixture.edge.url}/healthz`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await health.body?.cancel();
    assert.equal(health.status, 200);
    for (let i = 0; i < 5; i++) {
      const response = await me(token);
      await response.body?.cancel();
      assert.equal(response.status, 200);
    }
    const stranger = await strangerToken(fixture.tokens.issuer, fixture.tokens.audience);
    for (let i = 0; i < 5; i++) {
      const response = await me(stranger);
      await response.body?.cancel();
      assert.equal(response.status, 401);
    }
    assert.equal(fetches, 1);
  } finally {
    await fixture.close();
    await jwksServer.shutdown();
  }
});

/** A well-formed token signed by a key identity never published. */
async function strangerToken(issuer: string, audience: string): Promise<string> {
  const { privateKey } = await generateKeyPair("ES256");
  return new SignJWT({ roles: ["customer"] }).setIssuer(issuer).setAudience(audience).setSubject("user-1")
    .setIssuedAt().setJti(crypto.randomUUID()).setExpirationTime("5m")
    .setProtectedHeader({ alg: "ES256", kid: "stranger" }).sign(privateKey);
}
