/** The discount service's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import { authEnv, commonEnv, loadConfig, port, postgresEnv } from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

export const discountEnv = z.object({
  ...commonEnv,
  ...postgresEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5005),
  CURRENCY: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code like USD").default("USD"),
});

export type DiscountConfig = z.infer<typeof discountEnv>;

export const loadDiscountConfig = (env?: Record<string, string | undefined>) => loadConfig(discountEnv, env);
