/** The catalog's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import { authEnv, commonEnv, loadConfig, port, positiveInt } from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

export const catalogEnv = z.object({
  ...commonEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5002),
  MONGO_URL: z.url({ protocol: /^mongodb(\+srv)?$/, error: "must be a mongodb:// URL" }).optional(),
  MONGO_DATABASE: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/).default("multishop_catalog"),
  CURRENCY: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code like USD").default("USD"),
  CACHE_MAX_AGE_SECONDS: positiveInt(60),
  CACHE_SHARED_MAX_AGE_SECONDS: positiveInt(300),
});

export type CatalogConfig = z.infer<typeof catalogEnv>;

export const loadCatalogConfig = (env?: Record<string, string | undefined>) => loadConfig(catalogEnv, env);
