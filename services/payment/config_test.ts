/** The payment service's configuration: the defaults, and a lease too short for the retries refused. */
import assert from "node:assert/strict";
import { ConfigError } from "@multishop/kit/config";
import { loadPaymentConfig } from "./config.ts";

Deno.test("with no variables the service runs embedded on port 5008 with the default retries", () => {
  const config = loadPaymentConfig({});
  assert.equal(config.PORT, 5008);
  assert.equal(config.POSTGRES_URL, undefined);
  assert.equal(config.AMQP_URL, undefined);
  assert.equal(config.PROCESSOR_RETRIES, 3);
  assert.equal(config.PROCESSOR_RETRY_DELAY_MS, 100);
  assert.equal(config.PAYMENT_LEASE_MS, 30_000);
});

Deno.test("a lease shorter than the retries' waits is refused, naming the variable", () => {
  // 3 retries from 1 s: 1 + 2 + 4 s, each up to doubled by jitter, is 14 s.
  assert.equal(
    loadPaymentConfig({ PROCESSOR_RETRY_DELAY_MS: "1000", PAYMENT_LEASE_MS: "14001" }).PAYMENT_LEASE_MS,
    14_001,
  );
  assert.throws(
    () => loadPaymentConfig({ PROCESSOR_RETRY_DELAY_MS: "1000", PAYMENT_LEASE_MS: "14000" }),
    (error: ConfigError) =>
      error instanceof ConfigError &&
      /PAYMENT_LEASE_MS: must be longer than the 14000 ms that PROCESSOR_RETRIES waits can add up to/.test(
        error.message,
      ),
  );
  assert.throws(() => loadPaymentConfig({ PROCESSOR_RETRIES: "eleven" }), /PROCESSOR_RETRIES/);
});
