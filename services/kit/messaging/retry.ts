/**
 * How a consumer handles one message, the same on RabbitMQ and in process: run the handler, retry a
 * failure in place after each delay, and report failure once every try failed, so the adapter can
 * dead-letter the message. Broker-side delay queues may replace the in-place waits later; this is
 * the one place that would change.
 */
import { describeError, type LogFields, type Logger } from "../log.ts";

/** Three retries, each waiting four times longer than the last: a blip heals, a poison message parks fast. */
export const defaultRetryDelaysMs: readonly number[] = [100, 400, 1600];

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
