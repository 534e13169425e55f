/**
 * Runs the edge Worker in workerd, the Workers runtime, on this machine: the same bundle that wrangler
 * deploys, for `deno task start`, the tests and the benchmark.
 *
 * Clients call workerd's own socket, which hands the request to the Worker: no proxy, no entry worker in
 * between. The Durable Objects are workerd's own, stored on disk; the Cache API is Miniflare's cache
 * service (the one `wrangler dev` uses), run in the same workerd. The Worker takes the client's address
 * from the connection, which self-hosted workerd gives it in `request.cf.clientIp` (and Cloudflare in
 * CF-Connecting-IP), so no header a client sends can choose its rate-limit bucket.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { serializeConfig } from "miniflare";
import workerd from "workerd";

/** Keep at or below what the pinned workerd supports (workerd 1.20260730, `workerd.compatibilityDate`). */
export const compatibilityDate = "2026-07-30";

const entry = new URL("./src/index.ts", import.meta.url);

/** Without `--minify=false`, `deno bundle` writes a quarter more (3.0 MB against 2.4 MB). */
export const bundleFlags = ["--platform", "browser", "--minify=false"];

/** Binding name -> Durable Object class, as in wrangler.jsonc (a test keeps the two equal). */
export const durableObjectClasses = { RATE_LIMITER: "RateLimiter", CACHE_GENERATION: "CacheGeneration" };

/**
 * Bundles the Worker into one ES module with `deno bundle`, with the flags of `deno task build:edge` (what
 * wrangler deploys; a test keeps the two equal); returns its path.
 */
export async function buildWorker(outFile?: string): Promise<string> {
  const out = outFile ?? await Deno.makeTempFile({ prefix: "edge-worker-", suffix: ".js" });
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", ...bundleFlags, "-o", out, entry.pathname],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`the edge Worker did not build:\n${new TextDecoder().decode(stderr)}`);
  return out;
}

let built: Promise<string> | undefined;

/** A Durable Object of the running edge, as a test reaches it (inspection only). */
export interface DurableObjectHandle {
  fetch(url: string, init?: RequestInit): Promise<Response>;
}

export interface LocalEdge {
  /** Where clients call the edge: workerd's socket for the Worker. */
  url: string;
  /** The workerd process (its memory is the edge's). */
  pid: number;
  /** The object named `name` of a Durable Object binding; only with `inspection: true`. */
  durableObject(binding: keyof typeof durableObjectClasses, name: string): DurableObjectHandle;
  /** The Worker's Cache API (`caches.default`), as a test reads it; only with `inspection: true`. */
  cache: {
    match(key: string): Promise<Response | undefined>;
    delete(key: string): Promise<boolean>;
  };
  close(): Promise<void>;
}

export interface LocalEdgeOptions {
  port?: number;
  host?: string;
  scriptPath?: string;
  /** Keeps the Durable Objects' state (rate-limit buckets, the cache generation) across restarts. */
  persistTo?: string;
  /** Opens a second socket on loopback through which tests reach the Durable Objects and the cache. */
  inspection?: boolean;
}

/** Starts the Worker in workerd with these variables; the bundle is built once per process. */
export async function startLocalEdge(
  variables: Record<string, string>,
  options: LocalEdgeOptions = {},
): Promise<LocalEdge> {
  const scriptPath = options.scriptPath ?? await (built ??= buildWorker());
  const scratch = await Deno.makeTempDir({ prefix: "edge-workerd-" });
  const stateDir = options.persistTo ?? join(scratch, "objects");
  const cacheDir = join(scratch, "cache");
  await Promise.all([stateDir, cacheDir].map((path) => Deno.mkdir(path, { recursive: true })));
  const host = options.host ?? "127.0.0.1";
  const config = workerdConfig({
    worker: await Deno.readTextFile(scriptPath),
    variables,
    stateDir,
    cacheDir,
    address: `${host.includes(":") ? `[${host}]` : host}:${options.port ?? 0}`,
    inspection: options.inspection ?? false,
  });

  const child = spawn(workerd.default as unknown as string, [
    "serve",
    "--binary",
    // Miniflare's cache service turns on experimental compatibility flags.
    "--experimental",
    "--control-fd=3",
    "-",
  ], { stdio: ["pipe", "inherit", "inherit", "pipe"], env: { ...Deno.env.toObject(), TZ: "UTC" } });
  const killOnExit = () => child.kill("SIGKILL");
  globalThis.addEventListener("unload", killOnExit);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.stdin!.end(serializeConfig(config));

  const ports = await Promise.race([
    listeningPorts(child, config.sockets.map((socket) => socket.name)),
    exited.then((code) => {
      throw new Error(`workerd exited (${code}) before listening; its errors are above`);
    }),
  ]).catch(async (error) => {
    globalThis.removeEventListener("unload", killOnExit);
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
    throw error;
  });

  const urlHost = host.includes(":") ? `[${host}]` : host;
  const inspectionUrl = ports.has("inspection") ? `http://127.0.0.1:${ports.get("inspection")}` : undefined;
  const inspector = () => {
    if (!inspectionUrl) throw new Error("start the edge with inspection: true to reach its state");
    return inspectionUrl;
  };
  return {
    url: `http://${urlHost}:${ports.get("http")}`,
    pid: child.pid!,
    durableObject: (binding, name) => {
      const object = `${inspector()}/objects/${binding}/${encodeURIComponent(name)}`;
      return { fetch: (url, init) => fetch(`${object}?url=${encodeURIComponent(url)}`, init) };
    },
    cache: {
      match: async (key) => {
        const response = await fetch(`${inspector()}/cache?key=${encodeURIComponent(key)}`);
        if (response.headers.get("x-inspection") !== "miss") return response;
        await response.body?.cancel();
        return undefined;
      },
      delete: async (key) => {
        const response = await fetch(`${inspector()}/cache?key=${encodeURIComponent(key)}`, {
          method: "DELETE",
        });
        return (await response.json() as { deleted: boolean }).deleted;
      },
    },
    close: async () => {
      globalThis.removeEventListener("unload", killOnExit);
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    },
  };
}

/** The ports workerd reports on its control pipe, once every socket listens. */
function listeningPorts(child: ChildProcess, sockets: string[]): Promise<Map<string, number>> {
  return new Promise((resolve) => {
    const ports = new Map<string, number>();
    const lines = createInterface(child.stdio[3] as NodeJS.ReadableStream);
    lines.on("line", (line) => {
      const message = JSON.parse(line) as { event?: string; socket?: string; port?: number };
      if (message.event !== "listen" || !message.socket || message.port === undefined) return;
      ports.set(message.socket, message.port);
      if (sockets.every((socket) => ports.has(socket))) resolve(ports);
    });
  });
}

const miniflareWorkers = join(dirname(createRequire(import.meta.url).resolve("miniflare")), "workers");
const miniflareModule = (path: string) => Deno.readTextFileSync(join(miniflareWorkers, path));

/** Miniflare's cache service runs on the compatibility date and flags Miniflare gives it. */
const cacheServiceWorker = {
  compatibilityDate: "2023-07-24",
  compatibilityFlags: ["nodejs_compat", "experimental"],
};

/** Answers the tests' questions about the edge's state; on a loopback socket of its own, never public. */
const inspectionWorker = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const [, kind, binding, name] = url.pathname.split("/");
    if (kind === "objects") {
      const namespace = env[binding];
      const target = url.searchParams.get("url");
      return namespace.get(namespace.idFromName(decodeURIComponent(name))).fetch(target, request);
    }
    if (kind === "cache" && request.method === "DELETE") {
      return Response.json({ deleted: await caches.default.delete(url.searchParams.get("key")) });
    }
    if (kind === "cache") {
      const cached = await caches.default.match(url.searchParams.get("key"));
      return cached ?? new Response(null, { status: 404, headers: { "x-inspection": "miss" } });
    }
    return new Response(null, { status: 404 });
  },
};
`;

function workerdConfig(input: {
  worker: string;
  variables: Record<string, string>;
  stateDir: string;
  cacheDir: string;
  address: string;
  inspection: boolean;
}) {
  const objectBindings = Object.entries(durableObjectClasses).map(([name, className]) => ({
    name,
    durableObjectNamespace: { className, serviceName: "edge" },
  }));
  const services = [
    {
      name: "edge",
      worker: {
        modules: [{ name: "worker.js", esModule: input.worker }],
        compatibilityDate,
        bindings: [
          ...Object.entries(input.variables).map(([name, text]) => ({ name, text })),
          ...objectBindings,
        ],
        // SQLite-backed, as wrangler.jsonc's migration declares them on Cloudflare.
        durableObjectNamespaces: Object.values(durableObjectClasses).map((className) => ({
          className,
          uniqueKey: `multishop-edge-${className}`,
          enableSql: true,
        })),
        durableObjectStorage: { localDisk: "edge-objects" },
        globalOutbound: { name: "internet" },
        cacheApiOutbound: { name: "cache" },
      },
    },
    { name: "edge-objects", disk: { path: input.stateDir, writable: true } },
    // The upstreams are usually on this machine (loopback, "local") or a private network.
    { name: "internet", network: { allow: ["public", "private", "local"] } },
    {
      name: "cache",
      worker: {
        ...cacheServiceWorker,
        modules: [{
          name: "cache-entry.worker.js",
          esModule: miniflareModule("cache/cache-entry.worker.js"),
        }],
        bindings: [
          {
            name: "MINIFLARE_OBJECT",
            durableObjectNamespace: { serviceName: "cache-objects", className: "CacheObject" },
          },
          { name: "MINIFLARE_CACHE_WARN_USAGE", json: "false" },
        ],
      },
    },
    { name: "cache-storage", disk: { path: input.cacheDir, writable: true } },
    {
      name: "cache-objects",
      worker: {
        ...cacheServiceWorker,
        modules: [{ name: "cache.worker.js", esModule: miniflareModule("cache/cache.worker.js") }],
        durableObjectNamespaces: [{ className: "CacheObject", uniqueKey: "miniflare-CacheObject" }],
        durableObjectStorage: { localDisk: "cache-storage" },
        bindings: [{ name: "MINIFLARE_BLOBS", service: { name: "cache-storage" } }],
      },
    },
    ...(input.inspection
      ? [{
        name: "inspection",
        worker: {
          modules: [{ name: "inspection.js", esModule: inspectionWorker }],
          compatibilityDate,
          bindings: objectBindings,
          cacheApiOutbound: { name: "cache" },
        },
      }]
      : []),
  ];
  return {
    services,
    // A young generation of at most 1 MB a semi-space (V8 grows it to 16 MB under load, and workerd never
    // gives the memory back): the edge's garbage is short-lived and small, so this keeps workerd about
    // 100 MB smaller after a burst, and a cached HIT is no slower, rather faster (bench:edge).
    v8Flags: ["--max-semi-space-size=1"],
    sockets: [
      { name: "http", address: input.address, http: {}, service: { name: "edge" } },
      ...(input.inspection
        ? [{ name: "inspection", address: "127.0.0.1:0", http: {}, service: { name: "inspection" } }]
        : []),
    ],
    extensions: [{
      modules: [
        { name: "miniflare:shared", esModule: miniflareModule("shared/index.worker.js") },
        { name: "miniflare:zod", esModule: miniflareModule("shared/zod.worker.js") },
      ],
    }],
  };
}
