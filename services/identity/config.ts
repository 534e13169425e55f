/** Identity's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import { commonEnv, loadConfig, port, positiveInt, postgresEnv } from "@multishop/kit/config";
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
}).transform((env) => ({
  ...env,
  // The issuer is the URL clients reach identity at; by default the service's own address.
  ISSUER: (env.ISSUER ?? `http://${env.HOST === "0.0.0.0" ? "127.0.0.1" : env.HOST}:${env.PORT}`).replace(
    /\/$/,
    "",
  ),
}));

export type IdentityConfig = z.infer<typeof identityEnv>;

export const loadIdentityConfig = (env?: Record<string, string | undefined>) => loadConfig(identityEnv, env);
