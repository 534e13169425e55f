/** The order service's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import { authEnv, commonEnv, loadConfig, port, positiveInt, postgresEnv } from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

const url = (fallback: string) =>
  z.url({ protocol: /^https?$/ }).default(fallback).transform((v) => v.replace(/\/$/, ""));

export const orderEnv = z.object({
  ...commonEnv,
  ...postgresEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5007),
  BASKET_URL: url("http://127.0.0.1:5004"),
  PAYMENT_URL: url("http://127.0.0.1:5008"),
  /** The order service's own client at identity, for handing cards to the payment service. */
  SERVICE_TOKEN_URL: url("http://127.0.0.1:5001/oauth/token"),
  SERVICE_CLIENT_ID: z.string().min(1).default("order"),
  // A development default that identity's SERVICE_CLIENTS default must know too; set both in production.
  SERVICE_CLIENT_SECRET: z.string().min(16).default("order-dev-secret"),
  /** How long a checkout step may wait for its reply before the order is cancelled `timeout`. */
  STEP_TIMEOUT_SECONDS: positiveInt(30),
  /** How often steps past their deadline are looked for. */
  TIMEOUT_SWEEP_SECONDS: positiveInt(5),
});

export type OrderConfig = z.infer<typeof orderEnv>;

export const loadOrderConfig = (env?: Record<string, string | undefined>) => loadConfig(orderEnv, env);
