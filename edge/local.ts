/**
 * Runs the edge Worker in workerd, the Workers runtime, on this machine: the same bundle that
 * wrangler deploys, through Miniflare, for `deno task start`, the tests and the benchmark.
 */
import { dirname } from "node:path";
import process from "node:process";
import { Miniflare } from "miniflare";

/** Keep at or below what the pinned workerd supports (miniflare 4.20260730 ships workerd 1.20260730). */
export const compatibilityDate = "2026-07-30";

const entry = new URL("./src/index.ts", import.meta.url);

/** Binding name -> Durable Object class, as in wrangler.jsonc (a test keeps the two equal). */
export const durableObjectClasses = { RATE_LIMITER: "RateLimiter", CACHE_GENERATION: "CacheGeneration" };

/** Bundles the Worker into one ES module with `deno bundle`; returns its path. */
export async function buildWorker(outFile?: string): Promise<string> {
  const out = outFile ?? await Deno.makeTempFile({ prefix: "edge-worker-", suffix: ".js" });
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "-o", out, entry.pathname],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`the edge Worker did not build:\n${new TextDecoder().decode(stderr)}`);
  return out;
}

let built: Promise<string> | undefined;

export interface LocalEdge {
  url: string;
  miniflare: Miniflare;
  close(): Promise<void>;
}

/** Starts the Worker in workerd with these variables; the bundle is built once per process. */
export async function startLocalEdge(
  variables: Record<string, string>,
  options: { port?: number; host?: string; scriptPath?: string; persistTo?: string } = {},
): Promise<LocalEdge> {
  const scriptPath = options.scriptPath ?? await (built ??= buildWorker());
  const signalListenersBefore = currentSignalListeners();
  const miniflare = new Miniflare({
    modules: true,
    scriptPath,
    // Module names are paths relative to this root; workerd refuses ones that climb out with "..".
    modulesRoot: dirname(scriptPath),
    compatibilityDate,
    bindings: variables,
    durableObjects: durableObjectClasses,
    cache: true,
    // Rate-limit buckets and the cache generation survive restarts when a folder is given.
    durableObjectsPersist: options.persistTo ?? false,
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
  });
  const url = (await miniflare.ready).href.replace(/\/$/, "");
  leaveSignalsToTheCaller(signalListenersBefore);
  return { url, miniflare, close: () => miniflare.dispose() };
}

const shutdownSignals = ["SIGINT", "SIGTERM"] as const;

function currentSignalListeners(): Set<unknown> {
  return new Set(shutdownSignals.flatMap((signal) => process.listeners(signal)));
}

/**
 * Miniflare ends the process on SIGINT and SIGTERM. Its callers shut down gracefully instead (finish
 * requests, close pools, then dispose Miniflare), so the signal listeners it added are taken away; its
 * exit hook, which stops workerd however else the process ends, stays.
 */
function leaveSignalsToTheCaller(before: Set<unknown>): void {
  for (const signal of shutdownSignals) {
    for (const listener of process.listeners(signal)) {
      if (!before.has(listener)) process.removeListener(signal, listener as () => void);
    }
  }
}
