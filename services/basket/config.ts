/** The basket's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import {
  authEnv,
  commonEnv,
  httpUrl,
  loadConfig,
  port,
  positiveInt,
  serviceClientEnv,
} from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

export const basketEnv = z.object({
  ...commonEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5004),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: "must be a redis:// URL" }).optional(),
  BASKET_TTL_DAYS: positiveInt(30),
  CURRENCY: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code like USD").default("USD"),
  CATALOG_URL: httpUrl("http://127.0.0.1:5002"),
  DISCOUNT_URL: httpUrl("http://127.0.0.1:5005"),
  ...serviceClientEnv("basket"),
});

export type BasketConfig = z.infer<typeof basketEnv>;

export const loadBasketConfig = (env?: Record<string, string | undefined>) => loadConfig(basketEnv, env);
