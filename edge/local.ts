/**
 * Runs the edge Worker in workerd, the Workers runtime, on this machine: the same bundle that
 * wrangler deploys, through Miniflare, for `deno task start`, the tests and the benchmark.
 */
import { dirname } from "node:path";
import process from "node:process";
import { problemBody, problemContentType, type ProblemInit } from "@multishop/kit/problem";
import { Miniflare } from "miniflare";
import { type EdgeBindings, edgeConfig } from "./src/config.ts";
import { documentedMethods } from "./src/docs.ts";
import { bodyTooLarge } from "./src/proxy.ts";

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
  /** Where clients call the edge: the front below, not workerd itself. */
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
    // Only the front below calls workerd.
    host: "127.0.0.1",
    port: 0,
  });
  const workerd = (await miniflare.ready).href.replace(/\/$/, "");
  leaveSignalsToTheCaller(signalListenersBefore);
  const { MAX_BODY_BYTES } = edgeConfig(variables as EdgeBindings);
  const front = serveFront(workerd, MAX_BODY_BYTES, options.host ?? "127.0.0.1", options.port ?? 0);
  const host = front.addr.hostname.includes(":") ? `[${front.addr.hostname}]` : front.addr.hostname;
  return {
    url: `http://${host}:${front.addr.port}`,
    miniflare,
    close: async () => {
      await front.shutdown();
      await miniflare.dispose();
    },
  };
}

const forbiddenMethods = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * What Cloudflare does in front of the deployed Worker, for workerd on this machine: the Worker takes
 * the client's address from CF-Connecting-IP, and Cloudflare overwrites that header with the address
 * of the connection. Miniflare sets it from the connection only when the client has not sent one (and
 * it obeys its own `MF-*` control headers from anyone), so a client could choose its rate-limit bucket.
 * This front, on the edge's public address, forwards every request to workerd with CF-Connecting-IP
 * set to the connection's address and Miniflare's headers removed.
 *
 * It refuses a body over MAX_BODY_BYTES itself, as the Worker would: workerd closes the connection
 * on an answer given before a large body is read, and fetch here may then fail while still sending it.
 */
function serveFront(
  workerd: string,
  maxBodyBytes: number,
  hostname: string,
  port: number,
): Deno.HttpServer<Deno.NetAddr> {
  const problem = (init: ProblemInit, path: string) =>
    new Response(JSON.stringify(problemBody(init, path)), {
      status: init.status,
      headers: { "content-type": problemContentType, "cache-control": "no-store" },
    });
  return Deno.serve({ hostname, port, onListen: () => {} }, async (request, info) => {
    const url = new URL(request.url);
    if (Number(request.headers.get("content-length") ?? 0) > maxBodyBytes) {
      return problem(bodyTooLarge(maxBodyBytes), url.pathname);
    }
    // fetch cannot send these (they are forbidden methods), and no resource of the shop allows them.
    if (forbiddenMethods.has(request.method.toUpperCase())) {
      const allowed = documentedMethods(url.pathname);
      if (!allowed) return problem({ status: 404, detail: `no resource at ${url.pathname}` }, url.pathname);
      const response = problem(
        { status: 405, detail: `${request.method} is not allowed here; use ${allowed.join(", ")}` },
        url.pathname,
      );
      response.headers.set("allow", allowed.join(", "));
      return response;
    }
    const headers = new Headers(request.headers);
    for (const name of [...headers.keys()]) {
      if (name.startsWith("mf-")) headers.delete(name);
    }
    headers.set("cf-connecting-ip", info.remoteAddr.hostname);
    // Miniflare gives the Worker this URL instead of its own loopback one: the Worker sees the address
    // the client called (its host goes upstream as X-Forwarded-Host).
    headers.set("mf-original-url", request.url);
    // Expect concerns this hop, and Deno.serve has answered it (100 Continue when the body is read).
    headers.delete("expect");
    try {
      return await fetch(`${workerd}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        body: request.body,
        redirect: "manual",
      });
    } catch (error) {
      console.error(JSON.stringify({
        message: "workerd did not answer the edge's front",
        error: String(error),
        cause: String((error as Error).cause ?? ""),
        method: request.method,
        path: url.pathname,
      }));
      return problem(
        { status: 502, detail: "the edge's runtime is not answering; try again shortly" },
        url.pathname,
      );
    }
  });
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
