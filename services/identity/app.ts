/** Identity's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type App, type AppEnv, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import {
  bearerSecurity,
  principalOf,
  requireRole,
  requireRoleOrScope,
  requireStatsReader,
  requireUser,
  userReadScope,
} from "@multishop/kit/auth";
import { createdPosition, decodeCursor, pageOf, pagingQuery } from "@multishop/kit/paging";
import { pageSchema } from "@multishop/kit/contracts/lists";
import { problemSchema } from "@multishop/kit/contracts/problems";
import { jsonBody, jsonResponse, problems } from "@multishop/kit/openapi";
import { problemContentType } from "@multishop/kit/problem";
import {
  clientAuthSchema,
  OAuthError,
  oauthErrorCodes,
  revocationRequestSchema,
  tokenRequestSchema,
} from "./domain/oauth.ts";
import { registrationSchema, rolesSchema, type User } from "./domain/users.ts";
import type { Identity, TokenSettings } from "./identity.ts";
import type { KeyRing } from "./keys.ts";
import type { IdentityStore } from "./store/postgres.ts";
import { isStorableText } from "@multishop/kit/text-rule";
import { fieldErrors } from "@multishop/kit/validation";

export interface IdentityAppDeps extends ServiceAppDeps {
  identity: Identity;
  store: IdentityStore;
  keys: KeyRing;
  tokens: TokenSettings;
}

export const identityDocument = {
  title: "MultiShop Identity",
  version: "1.0.0",
  description: "Accounts, OAuth 2.0 tokens (RFC 6749) and the signing keys that verify them.",
};

const userSchema = z.object({
  id: z.string().uuid(),
  username: z.string(),
  email: z.string(),
  name: z.string(),
  surname: z.string(),
  roles: z.array(z.enum(["customer", "admin"])),
  createdAt: z.string().datetime(),
  updatedAt: z.string().datetime(),
}).openapi("User");

const userCountSchema = z.object({ count: z.number().int() }).openapi("UserCount");

const rolesInput = z.strictObject({ roles: rolesSchema }).openapi("UserRolesInput");

const signingKeySchema = z.object({
  kid: z.string().openapi({ description: "the `kid` of the tokens it signs" }),
  activatesAt: z.string().datetime().openapi({ description: "when it begins to sign" }),
}).openapi("SigningKey");

const keySetSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).openapi("JsonWebKeySet", {
  description: "An RFC 7517 JSON Web Key Set",
});

const serverMetadataSchema = z.record(z.string(), z.unknown()).openapi("AuthorizationServerMetadata", {
  description: "RFC 8414 authorization server metadata",
});

const tokenResponseSchema = z.object({
  access_token: z.string(),
  token_type: z.literal("Bearer"),
  expires_in: z.number().int(),
  refresh_token: z.string().optional(),
  scope: z.string().optional(),
}).openapi("TokenResponse");

/** As `OAuthError` (domain/oauth.ts) sends it: RFC 6749 §5.2's members, the problem document's alongside. */
const oauthErrorSchema = z.object({
  error: z.enum(oauthErrorCodes).openapi({
    description: "RFC 6749 §5.2's code; unsupported_token_type is RFC 7009's, slow_down RFC 8628's",
  }),
  error_description: z.string().openapi({ description: "what was wrong, for the developer" }),
  type: z.string().openapi({ example: "urn:multishop:problem:oauth-invalid-request" }),
  title: z.string().openapi({ description: "the error code again" }),
  status: z.number().int(),
  detail: z.string().optional().openapi({ description: "error_description again" }),
  instance: z.string().optional(),
  requestId: z.string().optional(),
}).openapi("OAuthError", {
  description: "An RFC 6749 §5.2 error, as application/json, with the RFC 9457 problem members alongside",
});

const tokenParameters = z.object({
  grant_type: z.enum(["password", "client_credentials", "refresh_token"]),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
  username: z.string().optional().openapi({ description: "the username or the email (password grant)" }),
  password: z.string().optional(),
  refresh_token: z.string().optional(),
  scope: z.string().optional(),
}).openapi("TokenRequest");

const revocationParameters = z.object({
  token: z.string(),
  token_type_hint: z.enum(["refresh_token", "access_token"]).optional(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
}).openapi("RevocationRequest");

const formMediaType = "application/x-www-form-urlencoded";

/** OAuth endpoints take their parameters as a form only (RFC 6749 §4, RFC 7009 §2.1). */
const formBody = (schema: z.ZodType) => ({ required: true, content: { [formMediaType]: { schema } } });

/** An OAuth error answer, as `OAuthError` sends it. */
const oauthErrorResponse = (description: string, headers?: z.ZodObject) => ({
  ...jsonResponse(oauthErrorSchema, description),
  ...(headers ? { headers } : {}),
});

/** A failed client authentication answers 401 with a challenge (RFC 6749 §5.2). */
const invalidClientResponse = oauthErrorResponse(
  "invalid_client: the client is unknown, its secret is wrong or missing, or the Basic credentials " +
    "cannot be read",
  z.object({
    "WWW-Authenticate": z.string().openapi({ description: 'Basic realm="multishop"' }),
  }),
);

/**
 * A body that is not a form answers 415 as an OAuth `invalid_request`; a form declared in a charset
 * other than UTF-8 meets the kit's 415 problem document first.
 */
const unsupportedBodyResponse = {
  description: "invalid_request: the body is not application/x-www-form-urlencoded (JSON included); or, " +
    "as a problem document, a form declared in a charset other than UTF-8",
  content: {
    "application/json": { schema: oauthErrorSchema },
    [problemContentType]: { schema: problemSchema },
  },
};

export function toUserJson(user: User) {
  return { ...user, createdAt: user.createdAt.toISOString(), updatedAt: user.updatedAt.toISOString() };
}

export function createIdentityApp(deps: IdentityAppDeps): App {
  const app = createApp({
    ...identityDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
    // OAuth fixes the shape of its errors (RFC 6749 §5.2), for text the kit refuses too.
    invalidInput: (c, [first]) =>
      c.req.path.startsWith("/oauth/")
        ? new OAuthError("invalid_request", `${first.field}: ${first.reason}`)
        : undefined,
  });

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/auth/register",
      operationId: "registerUser",
      tags: ["accounts"],
      summary: "Create a customer account",
      description:
        "A new account has the customer role; it signs in with the password grant of `POST /oauth/token`.",
      request: { body: jsonBody(registrationSchema) },
      responses: {
        201: jsonResponse(userSchema, "The new account"),
        ...problems(400, 409, 413, 415),
      },
    }),
    async (c) => {
      const user = await deps.identity.register(c.req.valid("json"));
      c.header("location", `/v1/users/${user.id}`);
      return c.json(toUserJson(user), 201);
    },
  );

  // OAuth defines its own error format, so these two endpoints read their bodies themselves rather
  // than through the generic validators; the routes are registered for the OpenAPI document only.
  app.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: "/oauth/token",
      operationId: "issueToken",
      tags: ["oauth"],
      summary: "Issue tokens (password, client_credentials and refresh_token grants)",
      description: "The RFC 6749 token endpoint: the parameters come as a form (RFC 6749 §4), never as JSON.",
      request: { body: formBody(tokenParameters) },
      responses: {
        200: jsonResponse(tokenResponseSchema, "Tokens"),
        400: oauthErrorResponse(
          "invalid_request (a parameter is missing, repeated, empty, too long or holds control characters, " +
            "or grant_type names no grant offered here), invalid_grant (a wrong username or password; a " +
            "refresh token that is unknown, expired, revoked or replayed), invalid_scope or unauthorized_client " +
            "(a scope or grant the client may not use)",
        ),
        401: invalidClientResponse,
        ...problems(413),
        415: unsupportedBodyResponse,
        429: oauthErrorResponse(
          "slow_down: too many failed passwords for this username (password grant). The username is " +
            "locked, whether an account has it or not, for a window that grows with every further failure; " +
            "a successful sign-in clears the count.",
          z.object({
            "Retry-After": z.string().openapi({ description: "seconds until the username may try again" }),
          }),
        ),
      },
    }),
  );
  app.post("/oauth/token", async (c) => {
    const body = await formParameters(c);
    const grant = parseOAuth(tokenRequestSchema, body);
    const response = await deps.identity.token(grant, clientCredentials(c, body));
    c.header("cache-control", "no-store");
    c.header("pragma", "no-cache");
    return c.json(response, 200);
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: "/oauth/revoke",
      operationId: "revokeToken",
      tags: ["oauth"],
      summary: "Revoke a refresh token and its family (RFC 7009)",
      description:
        "Ends the sign-in the refresh token belongs to; the parameters come as a form (RFC 7009 §2.1).",
      request: { body: formBody(revocationParameters) },
      responses: {
        200: { description: "Revoked, or unknown (answered alike)" },
        400: oauthErrorResponse(
          "invalid_request (a parameter is missing, repeated, empty, too long or holds control characters) " +
            "or unsupported_token_type (an access token: it cannot be revoked and expires on its own)",
        ),
        401: invalidClientResponse,
        ...problems(413),
        415: unsupportedBodyResponse,
      },
    }),
  );
  app.post("/oauth/revoke", async (c) => {
    const body = await formParameters(c);
    const { token } = parseOAuth(revocationRequestSchema, body);
    await deps.identity.revoke(token, clientCredentials(c, body));
    return c.body(null, 200);
  });

  app.openapi(
    createRoute({
      method: "get",
      path: "/.well-known/jwks.json",
      operationId: "getJsonWebKeySet",
      tags: ["oauth"],
      summary: "The public keys that verify access tokens",
      description:
        "An RFC 7517 key set: each key is published before it signs and until the tokens it signed expire.",
      responses: {
        200: jsonResponse(keySetSchema, "JSON Web Key Set"),
      },
    }),
    async (c) => {
      c.header("cache-control", "public, max-age=300");
      return c.json(await deps.keys.published(), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/.well-known/openid-configuration",
      operationId: "getOpenIdConfiguration",
      tags: ["oauth"],
      summary: "Authorization server metadata",
      description: "The issuer, its endpoints and what they support, for clients to discover (RFC 8414).",
      responses: { 200: jsonResponse(serverMetadataSchema, "Metadata (RFC 8414 fields)") },
    }),
    (c) => {
      const issuer = deps.tokens.issuer;
      c.header("cache-control", "public, max-age=3600");
      return c.json({
        issuer,
        token_endpoint: `${issuer}/oauth/token`,
        revocation_endpoint: `${issuer}/oauth/revoke`,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        registration_endpoint: `${issuer}/v1/auth/register`,
        grant_types_supported: ["password", "client_credentials", "refresh_token"],
        token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
        revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
        token_endpoint_auth_signing_alg_values_supported: ["ES256"],
        id_token_signing_alg_values_supported: ["ES256"],
        claims_supported: [
          "iss",
          "aud",
          "sub",
          "exp",
          "iat",
          "jti",
          "roles",
          "scope",
          "client_id",
          "preferred_username",
        ],
      }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/users/me",
      operationId: "getCurrentUser",
      tags: ["accounts"],
      summary: "The signed-in user",
      description: "The account of the user whose access token is sent; a client's own token gets 403.",
      security: bearerSecurity,
      middleware: [requireUser],
      responses: { 200: jsonResponse(userSchema, "The caller's account"), ...problems(401, 403, 404) },
    }),
    async (c) => c.json(toUserJson(await deps.identity.user(principalOf(c).subject)), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/users",
      operationId: "listUsers",
      tags: ["admin"],
      summary: "List and search users",
      description:
        "Users oldest first, a page at a time; `q` keeps those whose username, email, name or surname has it.",
      security: bearerSecurity,
      middleware: [requireRole("admin")],
      request: {
        query: z.object({
          ...pagingQuery,
          q: z.string().trim().max(100).optional().openapi({
            description: "part of a username, email, name or surname",
          }),
        }),
      },
      responses: {
        200: jsonResponse(
          pageSchema("User", userSchema, "the users matching `q`"),
          "A page of users, oldest first",
        ),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => {
      const { limit, cursor, q } = c.req.valid("query");
      const after = cursor ? decodeCursor(cursor, userCursor) : undefined;
      const { users, total } = await deps.store.listUsers({
        limit: limit + 1,
        query: q || undefined,
        after: after && { createdAt: new Date(after.createdAt), id: after.id },
      });
      const page = pageOf(users, limit, createdPosition);
      return c.json({ items: page.items.map(toUserJson), nextCursor: page.nextCursor, total }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/users/count",
      operationId: "countUsers",
      tags: ["admin"],
      summary: "How many users there are (admin dashboard)",
      description: "The number of accounts, for admins and for services granted stats:read (the dashboard).",
      security: bearerSecurity,
      middleware: [requireStatsReader()],
      responses: {
        200: jsonResponse(userCountSchema, "The user count"),
        ...problems(401, 403),
      },
    }),
    async (c) => c.json({ count: await deps.store.countUsers() }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/users/{id}",
      operationId: "getUser",
      tags: ["admin"],
      summary:
        "One user, for admins and for services granted users:read (the message service checks receivers)",
      description: "The account with this id.",
      security: bearerSecurity,
      middleware: [requireRoleOrScope("admin", userReadScope)],
      request: { params: z.object({ id: z.string().uuid("must be a user id") }) },
      responses: { 200: jsonResponse(userSchema, "The user"), ...problems(400, 401, 403, 404) },
    }),
    async (c) => c.json(toUserJson(await deps.identity.user(c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/users/{id}/roles",
      operationId: "updateUserRoles",
      tags: ["admin"],
      summary: "Set a user's roles",
      description:
        "Replaces the user's roles with those given; an admin cannot take away their own admin role.",
      security: bearerSecurity,
      middleware: [requireRole("admin")],
      request: {
        params: z.object({ id: z.string().uuid("must be a user id") }),
        body: {
          required: true,
          content: { "application/json": { schema: rolesInput } },
        },
      },
      responses: {
        200: jsonResponse(userSchema, "The user with the new roles"),
        ...problems(400, 401, 403, 404, 409, 415),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { roles } = c.req.valid("json");
      return c.json(toUserJson(await deps.identity.setRoles(principalOf(c).subject, id, roles)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/signing-keys/rotate",
      operationId: "rotateSigningKey",
      tags: ["admin"],
      summary: "Add a signing key",
      description: "The new key is published at once and signs from `activatesAt` on; the old key stays " +
        "published until the tokens it signed have expired.",
      security: bearerSecurity,
      middleware: [requireRole("admin")],
      responses: {
        201: jsonResponse(signingKeySchema, "The new key"),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const { kid, activatesAt } = (await deps.keys.rotate())!;
      return c.json({ kid, activatesAt: activatesAt.toISOString() }, 201);
    },
  );

  return app;
}

const userCursor = z.object({ createdAt: z.string().datetime(), id: z.string().uuid() });

type OAuthParameters = Record<string, string>;

/**
 * The body's parameters, from a form only (RFC 6749 §4, RFC 7009 §2.1); RFC 6749 §3.2 forbids repeating
 * one. An empty body without a type reads as an empty form, so that the answer names what is missing.
 */
async function formParameters(c: Context<AppEnv>): Promise<OAuthParameters> {
  const mediaType = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
  const text = await c.req.text();
  if (mediaType !== formMediaType && !(mediaType === "" && text === "")) {
    throw new OAuthError(
      "invalid_request",
      `send the parameters as ${formMediaType}${mediaType ? `, not ${mediaType}` : ""}`,
      { status: 415 },
    );
  }
  const form = new URLSearchParams(text);
  const parameters: OAuthParameters = {};
  for (const key of new Set(form.keys())) {
    const values = form.getAll(key);
    if (values.length > 1) throw new OAuthError("invalid_request", `${key} is repeated`);
    parameters[key] = values[0];
  }
  return parameters;
}

/** A parameter the grant's schema refuses is an RFC 6749 `invalid_request` naming it. */
function parseOAuth<T>(schema: z.ZodType<T>, body: OAuthParameters): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const first = fieldErrors(result.error)[0];
  throw new OAuthError("invalid_request", first ? `${first.field}: ${first.reason}` : "invalid parameters");
}

/** Client authentication: HTTP Basic (client_secret_basic) or parameters in the body (client_secret_post). */
function clientCredentials(c: Context<AppEnv>, body: OAuthParameters) {
  const header = c.req.header("authorization");
  if (header && /^basic /i.test(header)) {
    try {
      const decoded = atob(header.slice(6).trim());
      const colon = decoded.indexOf(":");
      if (colon > 0) {
        const credentials = {
          clientId: decodeURIComponent(decoded.slice(0, colon)),
          clientSecret: decodeURIComponent(decoded.slice(colon + 1)),
        };
        if (isStorableText(credentials.clientId) && isStorableText(credentials.clientSecret)) {
          return credentials;
        }
      }
    } catch {
      // answered as invalid_client below
    }
    throw new OAuthError("invalid_client", "the Basic credentials cannot be read");
  }
  const parsed = clientAuthSchema.safeParse(body);
  if (!parsed.success) {
    throw new OAuthError("invalid_request", "client_id or client_secret is empty or too long");
  }
  return { clientId: parsed.data.client_id, clientSecret: parsed.data.client_secret };
}
