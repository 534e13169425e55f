/**
 * Identity's use cases: registration, the three grants, revocation and user administration. The
 * rules come from domain/, the queries from store/; this file puts them in order.
 */
import { timingSafeEqual } from "node:crypto";
import { sha256Hex } from "@multishop/kit/digest";
import type { Logger } from "@multishop/kit/log";
import { ProblemError } from "@multishop/kit/problem";
import type { TokenVerifier } from "@multishop/kit/auth";
import {
  type Client,
  ensureGrantAllowed,
  grantScopes,
  judgeRefreshToken,
  newRefreshToken,
  OAuthError,
  type TokenRequest,
} from "./domain/oauth.ts";
import { decoyPasswordHash, hashPassword, verifyPassword } from "./domain/passwords.ts";
import { admitAttempt, type SignInThrottlePolicy } from "./domain/sign_in_throttle.ts";
import type { Registration, Role, User } from "./domain/users.ts";
import type { KeyRing } from "./keys.ts";
import { DuplicateUserError, type IdentityStore } from "./store/postgres.ts";

export interface TokenSettings {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
}

export interface IdentityDeps {
  store: IdentityStore;
  keys: KeyRing;
  tokens: TokenSettings;
  signInThrottle: SignInThrottlePolicy;
  clock: () => Date;
  logger: Logger;
  verifyToken: TokenVerifier;
}

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token?: string;
  scope?: string;
}

export interface ClientCredentials {
  clientId?: string;
  clientSecret?: string;
}

export function createIdentity(deps: IdentityDeps) {
  const { store, keys, tokens, clock } = deps;

  async function authenticateClient(credentials: ClientCredentials): Promise<Client> {
    if (!credentials.clientId) throw new OAuthError("invalid_client", "client_id is required");
    const client = await store.findClient(credentials.clientId);
    if (!client) throw new OAuthError("invalid_client", "unknown client or wrong secret");
    if (client.secretHash === null) return client;
    if (!credentials.clientSecret || !(await secretMatches(credentials.clientSecret, client.secretHash))) {
      throw new OAuthError("invalid_client", "unknown client or wrong secret");
    }
    return client;
  }

  async function userTokens(user: User, clientId: string, familyId: string, refreshFamily?: RefreshIssuer) {
    const accessToken = await keys.sign(
      {
        iss: tokens.issuer,
        aud: tokens.audience,
        roles: user.roles,
        client_id: clientId,
        preferred_username: user.username,
      },
      user.id,
      tokens.accessTokenTtlSeconds,
    );
    const refreshToken = newRefreshToken();
    const record = {
      id: crypto.randomUUID(),
      hash: await sha256Hex(refreshToken),
      familyId,
      userId: user.id,
      clientId,
      expiresAt: new Date(clock().getTime() + tokens.refreshTokenTtlSeconds * 1000),
    };
    await (refreshFamily ?? store.insertRefreshToken)(record);
    return {
      access_token: accessToken,
      token_type: "Bearer" as const,
      expires_in: tokens.accessTokenTtlSeconds,
      refresh_token: refreshToken,
    };
  }

  /**
   * Failures are counted per login name, known or not, and a locked name is refused before any lookup,
   * so that the answers and their timing are the same whether an account exists or not.
   */
  async function passwordGrant(client: Client, username: string, password: string): Promise<TokenResponse> {
    ensureGrantAllowed(client, "password");
    // The time is read once the name's failures are locked: an attempt that waited for the lock is
    // judged at the moment it is decided, after the attempts before it.
    const attempt = await store.withSignInFailures(
      username,
      (previous) => admitAttempt(previous, clock(), deps.signInThrottle),
    );
    if (!attempt.admitted) {
      throw new OAuthError(
        "slow_down",
        "too many failed sign-ins with this username; wait before trying again",
        { status: 429, retryAfterSeconds: attempt.retryAfterSeconds },
      );
    }
    const user = await store.findLogin(username);
    const matches = await verifyPassword(user?.passwordHash ?? await decoyPasswordHash(), password);
    if (!user || !matches) throw new OAuthError("invalid_grant", "the username or password is wrong");
    await store.clearSignInFailures(username);
    return await userTokens(user, client.id, crypto.randomUUID());
  }

  async function clientCredentialsGrant(client: Client, scope: string | undefined): Promise<TokenResponse> {
    ensureGrantAllowed(client, "client_credentials");
    const scopes = grantScopes(scope, client.scopes);
    const accessToken = await keys.sign(
      { iss: tokens.issuer, aud: tokens.audience, scope: scopes.join(" "), client_id: client.id },
      client.id,
      tokens.accessTokenTtlSeconds,
    );
    return {
      access_token: accessToken,
      token_type: "Bearer",
      expires_in: tokens.accessTokenTtlSeconds,
      scope: scopes.join(" "),
    };
  }

  async function refreshGrant(client: Client, presented: string): Promise<TokenResponse> {
    ensureGrantAllowed(client, "refresh_token");
    const now = clock();
    const outcome = await store.withRefreshToken(await sha256Hex(presented), async (token, tx) => {
      if (!token) return { verdict: "unknown" as const };
      const verdict = judgeRefreshToken(token, client.id, now);
      if (verdict === "reused") await tx.revokeFamily(token.familyId, now);
      if (verdict !== "valid") return { verdict };
      const user = await tx.findUser(token.userId);
      if (!user) return { verdict: "unknown" as const };
      await tx.markRotated(token.id, now);
      return { verdict, response: await userTokens(user, client.id, token.familyId, tx.insert) };
    });
    if (outcome.verdict === "reused") {
      deps.logger.warn("refresh token reused; its family is revoked", { clientId: client.id });
    }
    if (!("response" in outcome) || !outcome.response) {
      throw new OAuthError("invalid_grant", "the refresh token is invalid, expired or revoked");
    }
    return outcome.response;
  }

  return {
    async register(input: Registration): Promise<User> {
      const passwordHash = await hashPassword(input.password);
      try {
        return await store.insertUser({
          id: crypto.randomUUID(),
          username: input.username,
          email: input.email,
          name: input.name,
          surname: input.surname,
          passwordHash,
          roles: ["customer"],
        });
      } catch (error) {
        if (error instanceof DuplicateUserError) {
          throw new ProblemError({
            status: 409,
            kind: "conflict",
            detail: `this ${error.field} is already registered`,
            errors: [{ field: error.field, reason: "is already registered" }],
          });
        }
        throw error;
      }
    },

    async token(request: TokenRequest, credentials: ClientCredentials): Promise<TokenResponse> {
      const client = await authenticateClient(credentials);
      switch (request.grant_type) {
        case "password":
          return await passwordGrant(client, request.username, request.password);
        case "client_credentials":
          return await clientCredentialsGrant(client, request.scope);
        case "refresh_token":
          return await refreshGrant(client, request.refresh_token);
      }
    },

    /**
     * RFC 7009: revoking a refresh token revokes its family (the whole sign-in). Unknown tokens are
     * answered like known ones. Access tokens are short-lived JWTs and cannot be revoked.
     */
    async revoke(token: string, credentials: ClientCredentials): Promise<void> {
      const client = await authenticateClient(credentials);
      const now = clock();
      const revoked = await store.withRefreshToken(await sha256Hex(token), async (record, tx) => {
        if (!record || record.clientId !== client.id) return false;
        await tx.revokeFamily(record.familyId, now);
        return true;
      });
      if (revoked) return;
      const isAccessToken = await deps.verifyToken(token).then(() => true, () => false);
      if (isAccessToken) {
        throw new OAuthError(
          "unsupported_token_type",
          "access tokens cannot be revoked; they expire on their own",
        );
      }
    },

    async user(id: string): Promise<User> {
      const user = await store.findUser(id);
      if (!user) throw new ProblemError({ status: 404, detail: "no such user" });
      return user;
    },

    async setRoles(actorId: string, userId: string, roles: Role[]): Promise<User> {
      if (actorId === userId && !roles.includes("admin")) {
        throw new ProblemError({
          status: 409,
          kind: "conflict",
          detail: "an admin cannot take away their own admin role; ask another admin",
        });
      }
      const user = await store.setRoles(userId, roles);
      if (!user) throw new ProblemError({ status: 404, detail: "no such user" });
      return user;
    },
  };
}

type RefreshIssuer = IdentityStore["insertRefreshToken"];

async function secretMatches(secret: string, expectedHash: string): Promise<boolean> {
  const actual = new TextEncoder().encode(await sha256Hex(secret));
  const expected = new TextEncoder().encode(expectedHash);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export type Identity = ReturnType<typeof createIdentity>;
