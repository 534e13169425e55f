/** The basket's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import { authEnv, commonEnv, loadConfig, port, positiveInt } from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

const url = (fallback: string) =>
  z.url({ protocol: /^https?$/ }).default(fallback).transform((v) => v.replace(/\/$/, ""));

export const basketEnv = z.object({
  ...commonEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5004),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: "must be a redis:// URL" }).optional(),
  BASKET_TTL_DAYS: positiveInt(30),
  CURRENCY: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code like USD").default("USD"),
  CATALOG_URL: url("http://127.0.0.1:5002"),
  DISCOUNT_URL: url("http://127.0.0.1:5005"),
  /** The basket's own client at identity, for its calls to the catalog and the discount service. */
  SERVICE_TOKEN_URL: url("http://127.0.0.1:5001/oauth/token"),
  SERVICE_CLIENT_ID: z.string().min(1).default("basket"),
  // A development default that identity knows too (its SERVICE_CLIENTS default); set both in production.
  SERVICE_CLIENT_SECRET: z.string().min(16).default("basket-dev-secret"),
});

export type BasketConfig = z.infer<typeof basketEnv>;

export const loadBasketConfig = (env?: Record<string, string | undefined>) => loadConfig(basketEnv, env);
