/**
 * Bearer-token authentication and role/scope guards. Every service verifies the token again even
 * behind the edge (defence in depth).
 */
import { createMiddleware } from "hono/factory";
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { ProblemError } from "./problem.ts";
import type { AppEnv } from "./app.ts";

export type Role = "customer" | "admin";

export interface Principal {
  /** The user id for user tokens, the client id for client tokens. */
  subject: string;
  kind: "user" | "client";
  roles: string[];
  scopes: string[];
  clientId?: string;
  /** The user's username (`preferred_username`), for what a user shows others; never an id. */
  username?: string;
}

export interface TokenVerifierOptions {
  keys: JWTVerifyGetKey;
  issuer: string;
  audience: string;
  algorithms?: string[];
  /** The time tokens are checked against; tests move it. */
  clock?: () => Date;
}

export type TokenVerifier = (token: string) => Promise<Principal>;

export const accessTokenAlgorithms = ["ES256", "EdDSA"];

/** A JWKS fetched over HTTP, cached, and refetched on an unknown `kid` at most once per cooldown. */
export function remoteKeySet(jwksUrl: string): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
}

export function tokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  return async (token) => {
    const { payload } = await jwtVerify(token, options.keys, {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: options.algorithms ?? accessTokenAlgorithms,
      requiredClaims: ["sub", "exp", "iat", "jti"],
      currentDate: options.clock?.(),
    });
    const roles = Array.isArray(payload.roles) ? payload.roles.filter((r) => typeof r === "string") : [];
    const scopes = typeof payload.scope === "string" ? payload.scope.split(" ").filter(Boolean) : [];
    const clientId = typeof payload.client_id === "string" ? payload.client_id : undefined;
    const username = typeof payload.preferred_username === "string" ? payload.preferred_username : undefined;
    return {
      subject: payload.sub!,
      kind: roles.length > 0 ? "user" : "client",
      roles,
      scopes,
      clientId,
      username,
    };
  };
}

function unauthorized(detail: string, error?: "invalid_token"): ProblemError {
  const challenge = error ? `Bearer error="${error}", error_description="${detail}"` : "Bearer";
  return new ProblemError({
    status: 401,
    kind: "unauthorized",
    detail,
    headers: { "www-authenticate": challenge },
  });
}

/**
 * Reads a Bearer token when one is sent and puts the verified principal on the context. A request
 * without a token passes through anonymous; the guards below decide whether that is enough.
 */
export function authenticate(verify: TokenVerifier) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header("authorization")?.trim();
    // Other schemes (Basic client authentication on the token endpoint) are not this middleware's.
    if (header && /^bearer(\s|$)/i.test(header)) {
      const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
      if (!match) throw unauthorized("the Authorization header must be 'Bearer <token>'", "invalid_token");
      try {
        c.set("principal", await verify(match[1]));
      } catch (error) {
        throw unauthorized(describeTokenError(error), "invalid_token");
      }
    }
    await next();
  });
}

function describeTokenError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "the access token has expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return `the access token's ${error.claim} claim is not accepted`;
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "the access token was signed by an unknown key";
  return "the access token is not valid";
}

export function principalOf(c: { get(key: "principal"): Principal | undefined }): Principal {
  const principal = c.get("principal");
  if (!principal) throw unauthorized("this operation needs an access token");
  return principal;
}

/** Any signed-in user (not a client token). */
export const requireUser = createMiddleware<AppEnv>(async (c, next) => {
  const principal = principalOf(c);
  if (principal.kind !== "user") {
    throw new ProblemError({ status: 403, kind: "forbidden", detail: "this operation needs a user's token" });
  }
  await next();
});

export function requireRole(role: Role) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!principalOf(c).roles.includes(role)) {
      throw new ProblemError({
        status: 403,
        kind: "forbidden",
        detail: `this operation needs the ${role} role`,
      });
    }
    await next();
  });
}

export function requireScope(scope: string) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!principalOf(c).scopes.includes(scope)) {
      throw new ProblemError({
        status: 403,
        kind: "forbidden",
        detail: `this operation needs the ${scope} scope`,
      });
    }
    await next();
  });
}

/** The scope of a client that looks users up at identity (the message service checks receivers). */
export const userReadScope = "users:read";

/** The scope of the dashboard's client: it reads every service's admin figures. */
export const statsReadScope = "stats:read";

/** An admin, or the dashboard's client: who may read a service's admin figures. */
export const requireStatsReader = () => requireRoleOrScope("admin", statsReadScope);

/** A user with the role, or a client (another service) granted the scope. */
export function requireRoleOrScope(role: Role, scope: string) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const principal = principalOf(c);
    if (!principal.roles.includes(role) && !principal.scopes.includes(scope)) {
      throw new ProblemError({
        status: 403,
        kind: "forbidden",
        detail: `this operation needs the ${role} role or the ${scope} scope`,
      });
    }
    await next();
  });
}

/** The verifier a service builds from its AUTH_* variables (see authEnv in config.ts). */
export function verifierFromConfig(
  config: { AUTH_ISSUER: string; AUTH_AUDIENCE: string; AUTH_JWKS_URL: string },
): TokenVerifier {
  return tokenVerifier({
    keys: remoteKeySet(config.AUTH_JWKS_URL),
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
  });
}

/** OpenAPI security requirement for routes that take a Bearer token. */
export const bearerSecurity = [{ bearerAuth: [] }];
