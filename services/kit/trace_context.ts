/**
 * The span a service is working in: set for each request (from its `traceparent`) and each message
 * handled (from its envelope), read by the logger and by whatever publishes, so that log lines and
 * the messages sent carry the trace on without passing it by hand.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { nextTraceparent } from "./trace.ts";

const span = new AsyncLocalStorage<string>();

/** Runs `work` in a new span of the trace `incoming` names, or of a new trace. */
export function inSpan<T>(incoming: string | null | undefined, work: () => T): T {
  return span.run(nextTraceparent(incoming), work);
}

/** The traceparent of the span running now, if any. */
export const currentTraceparent = (): string | undefined => span.getStore();
