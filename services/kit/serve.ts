/** Serving an app and shutting it down gracefully: stop accepting, finish in-flight requests, close pools. */
import type { App } from "./app.ts";
import type { Logger } from "./log.ts";

export interface RunningServer {
  url: string;
  port: number;
  /** Stops accepting connections and resolves once in-flight requests have finished. */
  shutdown(): Promise<void>;
  finished: Promise<void>;
}

export function serveApp(app: App, options: { hostname: string; port: number }): RunningServer {
  const server = Deno.serve(
    { hostname: options.hostname, port: options.port, onListen: () => {} },
    app.fetch,
  );
  const address = server.addr as Deno.NetAddr;
  return {
    url: `http://${
      address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname
    }:${address.port}`,
    port: address.port,
    shutdown: () => server.shutdown(),
    finished: server.finished,
  };
}

const stopping = new AbortController();

/**
 * Aborted once the process starts shutting down. A server's graceful shutdown waits for every open
 * response, so a long-lived one (an event stream) ends on this signal, or shutdown would wait for it.
 */
export const shuttingDown: AbortSignal = stopping.signal;

export type Closer = () => Promise<unknown> | unknown;

/**
 * On SIGTERM or SIGINT: end the event streams (shuttingDown), shut the servers down (in-flight
 * requests finish), then run the closers in order (consumers, pools, embedded stores). A second
 * signal, or the timeout, ends the process at once.
 */
export function shutdownOnSignal(
  options: { servers: RunningServer[]; closers?: Closer[]; logger: Logger; timeoutMs: number },
): Promise<void> {
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGTERM", "SIGINT"];
  const onSignal = async () => {
    if (shuttingDown.aborted) {
      options.logger.warn("second signal: exiting without waiting");
      Deno.exit(130);
    }
    stopping.abort();
    options.logger.info("shutting down: finishing in-flight requests");
    const timer = setTimeout(() => {
      options.logger.error("shutdown timed out; exiting", { timeoutMs: options.timeoutMs });
      Deno.exit(1);
    }, options.timeoutMs);
    await Promise.all(options.servers.map((server) => server.shutdown()));
    for (const close of options.closers ?? []) await close();
    clearTimeout(timer);
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    options.logger.info("shut down cleanly");
    resolve();
  };
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  return done;
}
