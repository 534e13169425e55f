/** The cargo service's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import { authEnv, commonEnv, loadConfig, port, postgresEnv } from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

// Prefixed: in the all-in-one start every service reads the same environment.
const senderField = (fallback: string) => z.string().trim().min(1).max(200).default(fallback);

export const cargoEnv = z.object({
  ...commonEnv,
  ...postgresEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5009),
  /** A carrier's name: every shipment goes with it. Without it, shipments take turns over the active carriers. */
  CARGO_DEFAULT_CARRIER: z.string().trim().min(1).max(100).optional(),
  /** The shop as the sender on every shipment. */
  CARGO_SENDER_NAME: senderField("MultiShop"),
  CARGO_SENDER_PHONE: senderField("+1 206 555 0100"),
  CARGO_SENDER_EMAIL: z.email().default("shipping@multishop.example"),
  CARGO_SENDER_COUNTRY: senderField("United States"),
  CARGO_SENDER_CITY: senderField("Seattle"),
  CARGO_SENDER_DISTRICT: senderField("SoDo"),
  CARGO_SENDER_LINE1: senderField("1200 1st Ave S"),
  CARGO_SENDER_ZIP_CODE: senderField("98134"),
});

export type CargoConfig = z.infer<typeof cargoEnv>;

export const loadCargoConfig = (env?: Record<string, string | undefined>) => loadConfig(cargoEnv, env);
