/** The inventory service's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import { authEnv, commonEnv, loadConfig, port, positiveInt, postgresEnv } from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

export const inventoryEnv = z.object({
  ...commonEnv,
  ...postgresEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5006),
  /** How long a reservation holds stock before it is released unless its order is confirmed. */
  RESERVATION_TTL_SECONDS: positiveInt(900),
  /** How often reservations past their deadline are looked for and released. */
  RESERVATION_SWEEP_SECONDS: positiveInt(15),
});

export type InventoryConfig = z.infer<typeof inventoryEnv>;

export const loadInventoryConfig = (env?: Record<string, string | undefined>) =>
  loadConfig(inventoryEnv, env);
