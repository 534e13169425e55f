/**
 * Bearer tokens at the edge: verified against identity's JWKS (fetched once per isolate, refetched on
 * an unknown `kid` at most once per cooldown) with the kit's verifier, so the edge and the services
 * judge a token by the same rules. Services verify again.
 */
import { type Principal, remoteKeySet, type TokenVerifier, tokenVerifier } from "@multishop/kit/auth";
import { ProblemError } from "@multishop/kit/problem";
import type { EdgeConfig } from "./config.ts";
import type { Access } from "./routes.ts";

const verifiers = new WeakMap<EdgeConfig, TokenVerifier>();

export function edgeVerifier(config: EdgeConfig): TokenVerifier {
  let verify = verifiers.get(config);
  if (!verify) {
    verify = tokenVerifier({
      keys: remoteKeySet(config.JWKS_URL),
      issuer: config.TOKEN_ISSUER,
      audience: config.TOKEN_AUDIENCE,
    });
    verifiers.set(config, verify);
  }
  return verify;
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
