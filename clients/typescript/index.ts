/**
 * The MultiShop Edge API client for storefronts: every operation of the public API, typed from
 * openapi/public.json (openapi-fetch over the types openapi-typescript generates into schema.ts), with
 * sign-in by the password grant, token refresh, and the Bearer token sent where an operation needs it.
 *
 * ```ts
 * const shop = createShopClient({ baseUrl: "https://shop.example.com" });
 * const { error } = await shop.signIn("demo", password);
 * const { data: basket } = await shop.GET("/v1/basket");
 * ```
 */
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";
import type { components, operations, paths } from "./schema.ts";
import { bearerOperations } from "./security.ts";

export type { components, operations, paths };

/** The document's named schemas: `Schemas["Product"]`, `Schemas["Order"]`, ... */
export type Schemas = components["schemas"];
/** An RFC 9457 problem document: what every error of the API answers, OAuth's aside. */
export type Problem = Schemas["Problem"];
/** What the token endpoint answers: the access token, its lifetime in seconds and the refresh token. */
export type Tokens = Schemas["TokenResponse"];
/** The token endpoint's error: an RFC 6749 error (`invalid_grant`, ...), or a problem from the edge. */
export type TokenError = Schemas["OAuthError"] | Problem;
/** A token request's outcome, as openapi-fetch answers every call: `data` or a typed `error`. */
export type TokenResult =
  | { data: Tokens; error?: never; response: Response }
  | { data?: never; error: TokenError; response: Response };

/** The storefront's OAuth 2.0 client: public (it has no secret), with the password and refresh_token grants. */
export const storefrontClientId = "storefront";

export interface ShopClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** The edge's address, for example `https://shop.example.com` or `http://127.0.0.1:8787`. */
  baseUrl: string;
  /** Tokens kept from an earlier visit, to go on signed in. */
  tokens?: Tokens;
}

/** openapi-fetch's client for the public API, holding the signed-in customer's tokens. */
export interface ShopClient extends Client<paths> {
  /**
   * Signs in with the password grant (`username` is the username or the email) and keeps the tokens,
   * which later calls send. The answer's `error` says why not (`invalid_grant`: wrong credentials).
   */
  signIn(username: string, password: string): Promise<TokenResult>;
  /**
   * Swaps the kept refresh token for new tokens and keeps them. A refresh token works once: a reused one
   * revokes the whole sign-in, so keep only the latest. Throws when no refresh token is kept.
   */
  refresh(): Promise<TokenResult>;
  /** The kept tokens (to save them for the next visit), or undefined when signed out. */
  readonly tokens: Tokens | undefined;
  /** Replaces the kept tokens; undefined signs out of this client. */
  setTokens(tokens: Tokens | undefined): void;
}

export function createShopClient(options: ShopClientOptions): ShopClient {
  const { tokens: initial, ...clientOptions } = options;
  let tokens = initial;
  const client = createClient<paths>(clientOptions);

  // The token goes only where the document requires it, unless the call sets its own Authorization:
  // the edge never caches a request that carries one.
  const bearer: Middleware = {
    onRequest({ request, schemaPath }) {
      const needed = bearerOperations[schemaPath]?.includes(request.method);
      if (tokens && needed && !request.headers.has("authorization")) {
        request.headers.set("authorization", `Bearer ${tokens.access_token}`);
      }
      return request;
    },
  };
  client.use(bearer);

  // The token endpoint takes form encoding only (RFC 6749 §4.3, §6): openapi-fetch sends a form when
  // the Content-Type says so.
  async function token(body: Schemas["TokenRequest"]): Promise<TokenResult> {
    const result = await client.POST("/oauth/token", {
      body,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    if (result.data) tokens = result.data;
    return result;
  }

  return {
    ...client,
    signIn: (username: string, password: string) =>
      token({ grant_type: "password", client_id: storefrontClientId, username, password }),
    refresh() {
      const refreshToken = tokens?.refresh_token;
      if (!refreshToken) {
        return Promise.reject(new Error("no refresh token is kept: sign in first (signIn) or setTokens"));
      }
      return token({
        grant_type: "refresh_token",
        client_id: storefrontClientId,
        refresh_token: refreshToken,
      });
    },
    get tokens() {
      return tokens;
    },
    setTokens(next: Tokens | undefined) {
      tokens = next;
    },
  };
}
