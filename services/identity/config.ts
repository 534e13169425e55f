/**
 * Identity's configuration. Every variable but SIGNING_KEY_ENCRYPTION_KEY is optional, and the defaults
 * run the embedded mode; `deno task start` and the tests make that key themselves.
 */
import { z } from "zod";
import { commonEnv, loadConfig, port, positiveInt, postgresEnv } from "@multishop/kit/config";
import { failuresForgottenAfterSeconds } from "./domain/sign_in_throttle.ts";
import { passwordWeakness } from "./domain/users.ts";

const serviceClientsSchema = z.array(z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9-]{1,63}$/, "ids are lower-case words"),
  secret: z.string().min(16, "service client secrets must be at least 16 characters"),
  scopes: z.array(z.string().regex(/^[a-z]+:[a-z]+$/, "scopes look like catalog:read")).default([]),
}));

const jsonList = z.string().transform((text, ctx) => {
  try {
    return JSON.parse(text);
  } catch {
    ctx.addIssue({
      code: "custom",
      message: 'must be JSON, like [{"id":"basket","secret":"...","scopes":["catalog:read"]}]',
    });
    return z.NEVER;
  }
}).pipe(serviceClientsSchema);

/** How an operator makes a SIGNING_KEY_ENCRYPTION_KEY, for the messages that ask for one. */
export const makeEncryptionKeyHint = "make one with `openssl rand -base64 32` (or `deno eval " +
  "'console.log(btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))))'`) and keep it " +
  "secret, apart from the database";

/** 32 bytes in base64 or base64url (padding optional); anything else decodes to undefined. */
export function decodeEncryptionKey(encoded: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(encoded)) return undefined;
  const binary = atob(encoded.replace(/=$/, "").replaceAll("-", "+").replaceAll("_", "/") + "=");
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

export const identityEnv = z.object({
  ...commonEnv,
  ...postgresEnv,
  PORT: port(5001),
  BODY_LIMIT_BYTES: positiveInt(16 * 1024),
  ISSUER: z.url().optional(),
  TOKEN_AUDIENCE: z.string().min(1).default("multishop"),
  ACCESS_TOKEN_TTL_SECONDS: positiveInt(15 * 60),
  REFRESH_TOKEN_TTL_SECONDS: positiveInt(30 * 86_400),
  SIGNING_KEY_ROTATION_DAYS: positiveInt(30),
  SIGNING_KEY_ACTIVATION_SECONDS: positiveInt(120),
  SIGNING_KEY_ENCRYPTION_KEY: z.string({
    error:
      `is required: identity stores its private signing keys encrypted under it; ${makeEncryptionKeyHint}`,
  }),
  SIGN_IN_LOCKOUT_AFTER_FAILURES: positiveInt(5),
  SIGN_IN_FIRST_LOCKOUT_SECONDS: positiveInt(30),
  SIGN_IN_MAX_LOCKOUT_SECONDS: positiveInt(15 * 60),
  ADMIN_USERNAME: z.string().min(3).max(32).default("admin"),
  ADMIN_EMAIL: z.email().optional(),
  ADMIN_PASSWORD: z.string().optional(),
  VISITOR_CLIENT_SECRET: z.string().min(8).default("visitor-secret"),
  // The development clients of the services that call others (their SERVICE_CLIENT_SECRET defaults);
  // production sets its own.
  SERVICE_CLIENTS: jsonList.default([
    { id: "basket", secret: "basket-dev-secret", scopes: ["catalog:read", "discount:validate"] },
    { id: "order", secret: "order-dev-secret", scopes: ["payment:tokenize"] },
    { id: "message", secret: "message-dev-secret", scopes: ["users:read"] },
    { id: "dashboard", secret: "dashboard-dev-secret", scopes: ["stats:read"] },
  ]),
}).superRefine((env, ctx) => {
  if (Boolean(env.ADMIN_EMAIL) !== Boolean(env.ADMIN_PASSWORD)) {
    ctx.addIssue({
      code: "custom",
      path: ["ADMIN_PASSWORD"],
      message: "set ADMIN_EMAIL and ADMIN_PASSWORD together",
    });
  }
  const weakness = env.ADMIN_PASSWORD && passwordWeakness(env.ADMIN_PASSWORD, [env.ADMIN_USERNAME]);
  if (weakness) ctx.addIssue({ code: "custom", path: ["ADMIN_PASSWORD"], message: weakness });
  if (!decodeEncryptionKey(env.SIGNING_KEY_ENCRYPTION_KEY)) {
    // Named in the message, not in the path, so that the error does not print the secret it was given.
    ctx.addIssue({
      code: "custom",
      path: [],
      message: `SIGNING_KEY_ENCRYPTION_KEY must be 32 bytes in base64 or base64url; ${makeEncryptionKeyHint}`,
    });
  }
  if (env.SIGN_IN_MAX_LOCKOUT_SECONDS < env.SIGN_IN_FIRST_LOCKOUT_SECONDS) {
    ctx.addIssue({
      code: "custom",
      path: ["SIGN_IN_MAX_LOCKOUT_SECONDS"],
      message: "must be at least SIGN_IN_FIRST_LOCKOUT_SECONDS",
    });
  }
  if (env.SIGN_IN_MAX_LOCKOUT_SECONDS > failuresForgottenAfterSeconds) {
    ctx.addIssue({
      code: "custom",
      path: ["SIGN_IN_MAX_LOCKOUT_SECONDS"],
      message: `must be at most ${failuresForgottenAfterSeconds} (a day, after which failures are forgotten)`,
    });
  }
}).transform((env) => ({
  ...env,
  SIGNING_KEY_ENCRYPTION_KEY: decodeEncryptionKey(env.SIGNING_KEY_ENCRYPTION_KEY)!,
  // The issuer is the URL clients reach identity at; by default the service's own address.
  ISSUER: (env.ISSUER ?? `http://${env.HOST === "0.0.0.0" ? "127.0.0.1" : env.HOST}:${env.PORT}`).replace(
    /\/$/,
    "",
  ),
}));

export type IdentityConfig = z.infer<typeof identityEnv>;

export const loadIdentityConfig = (env?: Record<string, string | undefined>) => loadConfig(identityEnv, env);
