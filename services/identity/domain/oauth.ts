/** OAuth 2.0 (RFC 6749) rules of the token and revocation endpoints. No I/O. */
import { z } from "@hono/zod-openapi";
import { ProblemError } from "@multishop/kit/problem";
import { base64url } from "jose";

/**
 * The error codes the token and revocation endpoints answer, and the only ones (the OpenAPI document
 * lists exactly these): RFC 6749 §5.2's that apply here, RFC 7009's `unsupported_token_type`, and
 * RFC 8628's `slow_down` for "asking too often" at the token endpoint, answered with 429 and
 * Retry-After while a username is locked after failed passwords. An unknown `grant_type` is an
 * `invalid_request` naming the grants there are.
 */
export const oauthErrorCodes = [
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "invalid_scope",
  "unsupported_token_type",
  "slow_down",
] as const;

export type OAuthErrorCode = typeof oauthErrorCodes[number];

/**
 * An error answered in the RFC 6749 §5.2 shape (`error`, `error_description`, as `application/json`),
 * with the problem-document members alongside so that it reads like every other error.
 */
export class OAuthError extends ProblemError {
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    options: { status?: 400 | 401 | 415 | 429; retryAfterSeconds?: number } = {},
  ) {
    const status = options.status ?? (code === "invalid_client" ? 401 : 400);
    super({
      status,
      kind: `oauth-${code.replaceAll("_", "-")}`,
      title: code,
      detail: description,
      headers: {
        ...(status === 401 ? { "www-authenticate": 'Basic realm="multishop"' } : {}),
        ...(options.retryAfterSeconds ? { "retry-after": String(options.retryAfterSeconds) } : {}),
      },
      extensions: { error: code, error_description: description },
      contentType: "application/json",
    });
    this.name = "OAuthError";
  }
}

export type GrantType = "password" | "client_credentials" | "refresh_token";

export interface Client {
  id: string;
  name: string;
  secretHash: string | null;
  grantTypes: GrantType[];
  scopes: string[];
}

const param = (name: string) =>
  z.string({ error: `${name} is required` }).min(1, `${name} must not be empty`).max(
    4096,
    `${name} is too long`,
  );

// Unknown parameters are ignored, as RFC 6749 §3.2 requires.
export const tokenRequestSchema = z.discriminatedUnion("grant_type", [
  z.object({
    grant_type: z.literal("password"),
    username: param("username"),
    password: param("password"),
    scope: z.string().max(1024).optional(),
  }),
  z.object({ grant_type: z.literal("client_credentials"), scope: z.string().max(1024).optional() }),
  z.object({ grant_type: z.literal("refresh_token"), refresh_token: param("refresh_token") }),
], { error: "grant_type must be password, client_credentials or refresh_token" });

export type TokenRequest = z.infer<typeof tokenRequestSchema>;

export const revocationRequestSchema = z.object({
  token: param("token"),
  token_type_hint: z.enum(["refresh_token", "access_token"]).optional(),
});

export const clientAuthSchema = z.object({
  client_id: z.string().min(1).max(200).optional(),
  client_secret: z.string().min(1).max(500).optional(),
});

/** The scopes a client token carries: what was asked for, all of which the client must be allowed. */
export function grantScopes(requested: string | undefined, allowed: string[]): string[] {
  if (requested === undefined || requested.trim() === "") return allowed;
  const asked = [...new Set(requested.split(" ").filter(Boolean))];
  const refused = asked.filter((scope) => !allowed.includes(scope));
  if (refused.length > 0) {
    throw new OAuthError("invalid_scope", `this client may not ask for: ${refused.join(", ")}`);
  }
  return asked;
}

export function ensureGrantAllowed(client: Client, grant: GrantType): void {
  if (!client.grantTypes.includes(grant)) {
    throw new OAuthError("unauthorized_client", `client ${client.id} may not use the ${grant} grant`);
  }
}

export interface RefreshTokenRecord {
  id: string;
  familyId: string;
  userId: string;
  clientId: string;
  expiresAt: Date;
  rotatedAt: Date | null;
  revokedAt: Date | null;
}

export type RefreshVerdict = "valid" | "reused" | "revoked" | "expired" | "wrong_client";

/**
 * What to make of a presented refresh token. A token that was already rotated is being replayed:
 * someone holds a copy, so the caller revokes the whole family.
 */
export function judgeRefreshToken(token: RefreshTokenRecord, clientId: string, now: Date): RefreshVerdict {
  if (token.clientId !== clientId) return "wrong_client";
  if (token.revokedAt) return "revoked";
  if (token.rotatedAt) return "reused";
  if (token.expiresAt <= now) return "expired";
  return "valid";
}

/** Opaque refresh tokens: 256 random bits; only their hash is stored. */
export function newRefreshToken(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
}
