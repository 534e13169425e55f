/**
 * How failed messages are retried. RabbitMQ parks a failed message in a delay queue per retry (see
 * rabbitmq.ts); the in-process bus, which has no broker, waits in place with `handleWithRetries`.
 * Both retry after the same delays and then dead-letter the message.
 */
import { describeError, type LogFields, type Logger } from "../log.ts";

/**
 * Three retries after growing delays: a blip heals within a second, a dependency that restarts gets
 * a minute, and a poison message is parked then, not retried for ever.
 */
export const defaultRetryDelaysMs: readonly number[] = [1_000, 10_000, 60_000];

/** The AMQP header that counts a message's retries so far. */
export const retriesHeader = "x-retries";

export type HandlingOutcome =
  | { status: "handled" }
  | { status: "failed"; error: unknown }
  /** Stopped while waiting to retry (the bus is closing): neither handled nor dead. */
  | { status: "abandoned" };

export interface RetryOptions {
  retryDelaysMs: readonly number[];
  signal: AbortSignal;
  logger: Logger;
  /** What the log lines say about the message: queue, id, type. */
  fields: LogFields;
}

export async function handleWithRetries(
  attempt: () => Promise<void>,
  { retryDelaysMs, signal, logger, fields }: RetryOptions,
): Promise<HandlingOutcome> {
  for (let retry = 0;; retry++) {
    try {
      await attempt();
      return { status: "handled" };
    } catch (error) {
      const delayMs = retryDelaysMs[retry];
      if (delayMs === undefined) return { status: "failed", error };
      logger.warn("message handler failed; retrying", {
        ...fields,
        attempt: retry + 1,
        retryInMs: delayMs,
        ...describeError(error),
      });
      if (!await pause(delayMs, signal)) return { status: "abandoned" };
    }
  }
}

/** Resolves true after `ms`, or false as soon as the signal aborts, leaving no timer behind. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
