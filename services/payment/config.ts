/** The payment service's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import { authEnv, commonEnv, loadConfig, port, positiveInt, postgresEnv } from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

export const paymentEnv = z.object({
  ...commonEnv,
  ...postgresEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5008),
  /** Retries of a processor call that failed transiently, before the payment fails `processing_error`. */
  PROCESSOR_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
  /** The wait before the first retry; each later one waits twice as long, times a random 1 to 2. */
  PROCESSOR_RETRY_DELAY_MS: positiveInt(100),
  /**
   * How long one instance owns an order's payment while it talks to the processor. A duplicate charge
   * waits that long at most for an instance that stopped mid-charge, then takes over. Keep it well
   * above a processor call's worst case with its retries.
   */
  PAYMENT_LEASE_MS: positiveInt(30_000),
}).superRefine((config, ctx) => {
  const longestWaitMs = retryWaitsMs(config.PROCESSOR_RETRIES, config.PROCESSOR_RETRY_DELAY_MS);
  if (config.PAYMENT_LEASE_MS <= longestWaitMs) {
    ctx.addIssue({
      code: "custom",
      path: ["PAYMENT_LEASE_MS"],
      message: `must be longer than the ${longestWaitMs} ms that PROCESSOR_RETRIES waits can add up to, ` +
        "or a second instance takes over charges that are still retrying",
    });
  }
});

/** The longest the retry waits of one processor call add up to: each doubles, and jitter may double it. */
const retryWaitsMs = (retries: number, firstDelayMs: number) => 2 * firstDelayMs * (2 ** retries - 1);

export type PaymentConfig = z.infer<typeof paymentEnv>;

export const loadPaymentConfig = (env?: Record<string, string | undefined>) => loadConfig(paymentEnv, env);
