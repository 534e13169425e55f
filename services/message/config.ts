/** The message service's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import {
  authEnv,
  commonEnv,
  httpUrl,
  loadConfig,
  port,
  postgresEnv,
  serviceClientEnv,
} from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

export const messageEnv = z.object({
  ...commonEnv,
  ...postgresEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5011),
  /** Where receivers are looked up (`GET /v1/users/{id}`). */
  IDENTITY_URL: httpUrl("http://127.0.0.1:5001"),
  ...serviceClientEnv("message"),
});

export type MessageConfig = z.infer<typeof messageEnv>;

export const loadMessageConfig = (env?: Record<string, string | undefined>) => loadConfig(messageEnv, env);
