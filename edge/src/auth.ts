/**
 * Bearer tokens at the edge: verified against identity's JWKS (fetched once per isolate, refetched on
 * an unknown `kid` at most once per cooldown) with the kit's verifier, so the edge and the services
 * judge a token by the same rules. Services verify again.
 *
 * A token's signature is checked once per isolate: its principal is then kept until the token expires,
 * so a signed-in storefront does not pay an ECDSA verification on every request.
 */
import {
  type Principal,
  remoteKeySet,
  type TokenVerifier,
  tokenVerifier,
  type TokenVerifierOptions,
} from "@multishop/kit/auth";
import { ProblemError } from "@multishop/kit/problem";
import { decodeJwt } from "jose";
import type { EdgeConfig } from "./config.ts";
import type { Access } from "./routes.ts";

/**
 * Enough for every signed-in shopper an isolate serves at once; at 43 bytes of key and a small
 * principal each, a full map is well under a few megabytes.
 */
export const principalCacheEntries = 4096;

/**
 * The longest a verified token is trusted without its key being looked at again: remoteKeySet keeps a
 * JWKS for 10 minutes, so a key withdrawn from identity stops being accepted here no later than it would
 * without this cache. Access tokens live 15 minutes (identity's ACCESS_TOKEN_TTL_SECONDS).
 */
export const principalCacheMaxAgeMs = 5 * 60_000;

const verifiers = new WeakMap<EdgeConfig, TokenVerifier>();

export function edgeVerifier(config: EdgeConfig): TokenVerifier {
  let verify = verifiers.get(config);
  if (!verify) {
    verify = cachingTokenVerifier({
      keys: remoteKeySet(config.JWKS_URL),
      issuer: config.TOKEN_ISSUER,
      audience: config.TOKEN_AUDIENCE,
    });
    verifiers.set(config, verify);
  }
  return verify;
}

interface VerifiedToken {
  principal: Principal;
  /** Epoch milliseconds. */
  trustedUntil: number;
}

/**
 * The kit's verifier, remembering each verified token's principal until the token's `exp` (and at most
 * principalCacheMaxAgeMs). Only successes are kept: a refused token (expired, unknown `kid`, bad
 * signature) is verified again each time, so the key set's refetch-once-per-cooldown rule applies as
 * before. Tokens are kept by their SHA-256, so the isolate holds no usable credential and every key
 * has the same small size. The oldest entry makes room when the map is full.
 *
 * Only finished verifications are kept, never a pending one: in workerd its JWKS fetch is I/O of the
 * request that started it, cancelled if that client goes away, so no other request waits on it;
 * concurrent first uses of a token each verify it.
 */
export function cachingTokenVerifier(
  options: TokenVerifierOptions & { maxEntries?: number },
): TokenVerifier {
  const verify = tokenVerifier(options);
  const maxEntries = options.maxEntries ?? principalCacheEntries;
  const now = () => options.clock?.().getTime() ?? Date.now();
  const verified = new Map<string, VerifiedToken>();

  return async (token) => {
    const key = await tokenDigest(token);
    const known = verified.get(key);
    if (known && now() < known.trustedUntil) return known.principal;
    if (known) verified.delete(key);

    // Shared by every request that sends this token, so none may change it for the others.
    const principal = Object.freeze(await verify(token));
    // The verifier required `exp`, so it is a number here; it is decoded only once per token.
    const expiresAt = decodeJwt(token).exp! * 1000;
    if (verified.size >= maxEntries) verified.delete(verified.keys().next().value!);
    verified.set(key, { principal, trustedUntil: Math.min(expiresAt, now() + principalCacheMaxAgeMs) });
    return principal;
  };
}

async function tokenDigest(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  return btoa(String.fromCharCode(...digest));
}

/** 401 when the route needs someone and nobody is signed in, 403 when the one signed in may not. */
export function checkAccess(access: Access, principal: Principal | undefined): void {
  if (access.kind === "public") return;
  if (!principal) {
    throw new ProblemError({
      status: 401,
      kind: "unauthorized",
      detail: "this operation needs an access token",
      headers: { "www-authenticate": "Bearer" },
    });
  }
  const allowed = access.kind === "user"
    ? principal.kind === "user"
    : access.kind === "role"
    ? principal.roles.includes(access.role)
    : principal.scopes.includes(access.scope);
  if (!allowed) {
    const needs = access.kind === "user"
      ? "a user's token"
      : access.kind === "role"
      ? `the ${access.role} role`
      : `the ${access.scope} scope`;
    throw new ProblemError({ status: 403, kind: "forbidden", detail: `this operation needs ${needs}` });
  }
}
