/** The order service's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import {
  authEnv,
  commonEnv,
  httpUrl,
  loadConfig,
  port,
  positiveInt,
  postgresEnv,
  serviceClientEnv,
} from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";
import { streamsEnv } from "@multishop/kit/streams";

export const orderEnv = z.object({
  ...commonEnv,
  ...postgresEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5007),
  BASKET_URL: httpUrl("http://127.0.0.1:5004"),
  PAYMENT_URL: httpUrl("http://127.0.0.1:5008"),
  ...serviceClientEnv("order"),
  /** How long a checkout step may wait for its reply before the order is cancelled `timeout`. */
  STEP_TIMEOUT_SECONDS: positiveInt(30),
  /** How often steps past their deadline are looked for. */
  TIMEOUT_SWEEP_SECONDS: positiveInt(5),
  ...streamsEnv,
});

export type OrderConfig = z.infer<typeof orderEnv>;

export const loadOrderConfig = (env?: Record<string, string | undefined>) => loadConfig(orderEnv, env);
