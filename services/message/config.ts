/** The message service's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import { authEnv, commonEnv, loadConfig, port, postgresEnv } from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

const url = (fallback: string) =>
  z.url({ protocol: /^https?$/ }).default(fallback).transform((v) => v.replace(/\/$/, ""));

export const messageEnv = z.object({
  ...commonEnv,
  ...postgresEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5011),
  /** Where receivers are looked up (`GET /v1/users/{id}`). */
  IDENTITY_URL: url("http://127.0.0.1:5001"),
  /** The message service's own client at identity, granted `users:read`. */
  SERVICE_TOKEN_URL: url("http://127.0.0.1:5001/oauth/token"),
  SERVICE_CLIENT_ID: z.string().min(1).default("message"),
  // A development default that identity's SERVICE_CLIENTS default knows too; set both in production.
  SERVICE_CLIENT_SECRET: z.string().min(16).default("message-dev-secret"),
});

export type MessageConfig = z.infer<typeof messageEnv>;

export const loadMessageConfig = (env?: Record<string, string | undefined>) => loadConfig(messageEnv, env);
