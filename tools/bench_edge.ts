/**
 * `deno task bench:edge`: what the edge adds to a catalog GET, measured on this machine with nginx as the
 * reference reverse proxy in front of the same upstream.
 *
 * 1. Uncached latency: `GET /v1/products?limit=20` direct to the catalog, through nginx (plain proxy) and
 *    through the edge in workerd (CACHE_ENABLED=false), at concurrency 1 and 64.
 * 2. Cached throughput: the same GET at concurrency 64 through the edge (CACHE_ENABLED=true) and through
 *    nginx with proxy_cache, after a warm-up request whose follow-up must say `X-Cache-Status: HIT`.
 *
 * The catalog runs in this process on the in-process store with the demo catalog; the edge is the Worker
 * bundle in workerd (edge/local.ts); the load comes from k6 (load-tests/bench_get.js), or from a Deno
 * fetch loop where k6 cannot be built. Everything listens on 127.0.0.1 and is stopped at the end, also on
 * failure or Ctrl+C. The table is printed and the numbers are written to .infra/bench-edge.json.
 *
 * Variables: BENCH_SECONDS (measured seconds per run, 1-15, default 8), BENCH_LOAD=deno (use the fetch
 * loop even where k6 exists), BENCH_NGINX_WORKERS (nginx worker processes, default 1).
 */
import { join } from "node:path";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus } from "@multishop/kit/messaging";
import { serveApp } from "@multishop/kit/serve";
import { compatibilityDate, startLocalEdge } from "../edge/local.ts";
import { loadCatalogConfig } from "../services/catalog/config.ts";
import { startCatalog } from "../services/catalog/main.ts";
import { seedCatalog } from "../services/catalog/seed.ts";
import { createMemoryCatalogStore } from "../services/catalog/store/memory.ts";
import { chooseLoadGenerator, type LoadGenerator, type LoadResult } from "./bench/load.ts";
import { ensureNginx, type RunningNginx, startNginx } from "./bench/nginx.ts";
import { freePort } from "./shop.ts";

const root = new URL("..", import.meta.url).pathname;
const resultFile = join(root, ".infra", "bench-edge.json");
const requestPath = "/v1/products?limit=20";
const concurrencies = [1, 64];
const cachedConcurrency = 64;
/** Each run starts with this much unrecorded load, so JIT warm-up and connection set-up are not measured. */
const warmupSeconds = 2;

type Target = "direct" | "nginx" | "edge";

const targetNames: Record<Target, { uncached: string; cached: string }> = {
  direct: { uncached: "direct to catalog", cached: "direct to catalog" },
  nginx: { uncached: "nginx proxy", cached: "nginx proxy_cache" },
  edge: { uncached: "edge, cache off", cached: "edge, cache on" },
};

interface Run extends LoadResult {
  target: Target;
  cached: boolean;
  concurrency: number;
}

interface Added {
  proxy: Exclude<Target, "direct">;
  concurrency: number;
  p50Ms: number;
  p99Ms: number;
  throughputChange: number;
}

interface Settings {
  seconds: number;
  nginxWorkers: number;
  preferLoad: "k6" | "deno";
}

const log = (line: string) => console.log(line);

// ---------------------------------------------------------------------------------------------------------
// What runs during the bench, and how it is stopped
// ---------------------------------------------------------------------------------------------------------

/** Stops what was started, last first; one failing stop does not keep the others running. */
class Cleanup {
  #steps: { name: string; run: () => Promise<unknown>; kill?: () => void }[] = [];

  /** `kill`, if given, is the synchronous last resort for a process that exits without waiting. */
  defer(name: string, run: () => Promise<unknown>, kill?: () => void): void {
    this.#steps.push({ name, run, kill });
  }

  /** Runs one step now (for servers stopped mid-bench) instead of at the end. */
  async now(name: string): Promise<void> {
    const index = this.#steps.findLastIndex((step) => step.name === name);
    if (index < 0) return;
    const [step] = this.#steps.splice(index, 1);
    await step.run();
  }

  /** For child processes that would outlive us; servers inside this process end with it anyway. */
  killAll(): void {
    for (const step of this.#steps.splice(0).reverse()) step.kill?.();
  }

  async all(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step.run();
      } catch (error) {
        console.error(`could not stop ${step.name}: ${(error as Error).message}`);
      }
    }
  }
}

/** The demo catalog in this process, on a free loopback port, with nothing logged per request. */
async function startBenchCatalog(): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const logger = createLogger("catalog", "silent");
  const store = await createMemoryCatalogStore();
  const catalog = await startCatalog(loadCatalogConfig({ LOG_LEVEL: "silent" }), {
    store,
    events: createInProcessBus({ logger }),
    logger,
  });
  // Image URLs are only text in the product documents; nothing fetches them during the bench.
  await seedCatalog(store, { url: (slug, variant) => `http://127.0.0.1/v1/images/${slug}-${variant}.png` });
  const server = serveApp(catalog.app, { hostname: "127.0.0.1", port: 0 });
  return {
    url: server.url,
    port: server.port,
    async close() {
      await server.shutdown();
      await catalog.close();
      await store.close();
    },
  };
}

/** The edge in workerd in front of the catalog, with a rate limit the bench's load cannot reach. */
function startBenchEdge(catalogUrl: string, cache: boolean) {
  return startLocalEdge({
    CATALOG_URL: catalogUrl,
    CACHE_ENABLED: String(cache),
    // Every request comes from 127.0.0.1, one rate-limit key; the default limits would refuse most of them.
    // Routes without a policy of their own use `default`.
    RATE_LIMITS: JSON.stringify({ default: { capacity: 1e9, refillPerSecond: 1e9 } }),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Checks before load: every target answers the same page, and the caches really hit
// ---------------------------------------------------------------------------------------------------------

async function probe(url: string): Promise<{ firstId: string; cacheStatus: string | null }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${text.slice(0, 300)}`);
  const items = (JSON.parse(text) as { items?: { id: string }[] }).items;
  if (!items?.length) throw new Error(`${url} answered no products: ${text.slice(0, 300)}`);
  return { firstId: items[0].id, cacheStatus: response.headers.get("x-cache-status") };
}

async function expectSamePage(name: string, url: string, reference: string) {
  const { firstId, cacheStatus } = await probe(url);
  if (firstId !== reference) throw new Error(`${name} answered another page (first product ${firstId})`);
  return cacheStatus;
}

/** Repeats the GET until it is a HIT (the cache may store the first answer after sending it). */
async function waitForHit(url: string): Promise<string> {
  let status: string | null = null;
  for (let attempt = 0; attempt < 20; attempt++) {
    status = (await probe(url)).cacheStatus;
    if (status === "HIT") return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return status ?? "no X-Cache-Status header";
}

// ---------------------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------------------

function measurer(load: LoadGenerator, settings: Settings, runs: Run[], signal: AbortSignal) {
  return async (target: Target, url: string, concurrency: number, cached: boolean) => {
    signal.throwIfAborted();
    const name = cached ? targetNames[target].cached : targetNames[target].uncached;
    const started = performance.now();
    await load.run(url, concurrency, warmupSeconds, signal);
    const result = await load.run(url, concurrency, settings.seconds, signal);
    runs.push({ target, cached, concurrency, ...result });
    log(
      `  ${name.padEnd(18)} c=${String(concurrency).padEnd(3)} ${
        fixed(result.requestsPerSecond, 0)
      } req/s, ` +
        `p50 ${fixed(result.latencyMs.p50)} ms, p99 ${fixed(result.latencyMs.p99)} ms` +
        ` (${fixed((performance.now() - started) / 1000, 1)} s)`,
    );
  };
}

function addedLatency(runs: Run[]): Added[] {
  const find = (target: Target, concurrency: number) =>
    runs.find((run) => !run.cached && run.target === target && run.concurrency === concurrency);
  return concurrencies.flatMap((concurrency) => {
    const direct = find("direct", concurrency);
    return (["nginx", "edge"] as const).flatMap((proxy) => {
      const through = find(proxy, concurrency);
      if (!direct || !through) return [];
      return [{
        proxy,
        concurrency,
        p50Ms: through.latencyMs.p50 - direct.latencyMs.p50,
        p99Ms: through.latencyMs.p99 - direct.latencyMs.p99,
        throughputChange: through.requestsPerSecond / direct.requestsPerSecond - 1,
      }];
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------------------

function fixed(value: number, digits = 2): string {
  return value.toFixed(digits);
}

/** A difference with its sign; one that rounds to zero gets none (no "-0"). */
function signed(value: number, digits = 2): string {
  const magnitude = Math.abs(value).toFixed(digits);
  if (Number(magnitude) === 0) return magnitude;
  return `${value < 0 ? "-" : "+"}${magnitude}`;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share > 0 && share < 0.001 ? 2 : 1)}%`;
}

/** Left-aligns the first column and right-aligns the others, which hold numbers. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => row[column].length))
  );
  const line = (row: string[]) =>
    "  " + row.map((cell, column) => column === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[column]))
      .join("   ");
  return [line(header), ...rows.map(line)].join("\n");
}

function resultRow(run: Run): string[] {
  const name = run.cached ? targetNames[run.target].cached : targetNames[run.target].uncached;
  return [
    name,
    String(run.concurrency),
    fixed(run.requestsPerSecond, 0),
    fixed(run.latencyMs.p50),
    fixed(run.latencyMs.p95),
    fixed(run.latencyMs.p99),
    percent(run.errorRate),
  ];
}

function printReport(report: ReturnType<typeof buildReport>) {
  const columns = ["target", "conc", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"];
  const uncached = report.runs.filter((run) => !run.cached);
  const cached = report.runs.filter((run) => run.cached);
  log("");
  log(
    `GET ${report.request} · ${report.tools.loadGenerator} · ${report.secondsPerRun} s per run after a ` +
      `${report.warmupSeconds} s warm-up · ${report.machine.cpus} CPUs · ${report.tools.nginx} ` +
      `(${report.tools.nginxWorkers} worker${report.tools.nginxWorkers === 1 ? "" : "s"})`,
  );
  log(
    "edge = the Worker bundle in workerd on this machine via Miniflare, whose Cache API is its local " +
      "implementation (not Cloudflare's)",
  );
  log("");
  log("Uncached: direct vs through a proxy");
  log(table(columns, uncached.map(resultRow)));
  log("");
  log("Added by the proxy, relative to direct (ms; throughput change)");
  log(table(
    ["proxy", "conc", "p50", "p99", "req/s"],
    report.addedLatencyMs.map((added) => [
      added.proxy,
      String(added.concurrency),
      signed(added.p50Ms),
      signed(added.p99Ms),
      `${signed(added.throughputChange * 100, 0)}%`,
    ]),
  ));
  log("");
  log(`Cached GET throughput (concurrency ${cachedConcurrency}, after a warm-up request)`);
  log(table(
    [...columns, "HIT"],
    cached.map((run) => [...resultRow(run), percent(run.cacheHitRate)]),
  ));
  for (const warning of report.warnings) log(`\nWARNING: ${warning}`);
  log("");
  log(`Total ${fixed(report.totalSeconds, 0)} s; numbers in ${resultFile}`);
}

async function loadAverage(): Promise<number> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => "0");
  return Number(text.split(" ")[0]) || 0;
}

async function cpuModel(): Promise<string | undefined> {
  const info = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  return /^model name\s*:\s*(.+)$/m.exec(info)?.[1];
}

function buildReport(
  runs: Run[],
  context: {
    settings: Settings;
    load: LoadGenerator;
    nginx: RunningNginx;
    cpu: string | undefined;
    /** The 1-minute load average before anything of the bench ran: other work on the machine. */
    loadAverage: number;
    cacheChecks: { edge: string; nginx: string };
    started: number;
  },
) {
  const { settings, load, nginx, cacheChecks } = context;
  const warnings: string[] = [];
  for (const run of runs) {
    if (run.errorRate > 0) {
      warnings.push(
        `${run.target} ${run.cached ? "cached" : "uncached"} at c=${run.concurrency}: ` +
          `${percent(run.errorRate)} of requests failed; its numbers include the failures.`,
      );
    }
  }
  if (cacheChecks.edge !== "HIT") {
    warnings.push(
      `the edge with CACHE_ENABLED=true did not answer a repeated GET from its cache (X-Cache-Status: ` +
        `${cacheChecks.edge}); its "cache on" row measures the uncached path.`,
    );
  }
  if (cacheChecks.nginx !== "HIT") {
    warnings.push(`nginx proxy_cache did not hit (X-Cache-Status: ${cacheChecks.nginx}).`);
  }
  const leakingHits = runs.filter((run) => !run.cached && run.cacheHitRate > 0);
  for (const run of leakingHits) {
    warnings.push(
      `${run.target} with the cache off answered ${percent(run.cacheHitRate)} of requests at ` +
        `c=${run.concurrency} from its cache (X-Cache-Status: HIT): CACHE_ENABLED=false was not honoured, ` +
        `so those numbers are not the uncached path.`,
    );
  }
  if (context.loadAverage > navigator.hardwareConcurrency / 2) {
    warnings.push(
      `the machine was already busy before the bench started (load average ${context.loadAverage}); ` +
        `other processes compete for the CPUs, so expect noisy numbers.`,
    );
  }
  return {
    generatedAt: new Date().toISOString(),
    request: requestPath,
    secondsPerRun: settings.seconds,
    warmupSeconds,
    machine: {
      cpus: navigator.hardwareConcurrency,
      cpu: context.cpu,
      os: Deno.build.target,
      loadAverageAtStart: context.loadAverage,
    },
    tools: {
      loadGenerator: load.name,
      deno: Deno.version.deno,
      edge: `workerd via Miniflare (compatibility date ${compatibilityDate})`,
      nginx: nginx.version,
      nginxWorkers: nginx.workers,
    },
    cacheChecks,
    runs,
    addedLatencyMs: addedLatency(runs),
    warnings,
    totalSeconds: (performance.now() - context.started) / 1000,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The bench
// ---------------------------------------------------------------------------------------------------------

function readSettings(): Settings {
  const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 8);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 15) {
    throw new Error("BENCH_SECONDS must be a whole number of seconds from 1 to 15");
  }
  const nginxWorkers = Number(Deno.env.get("BENCH_NGINX_WORKERS") ?? 1);
  if (!Number.isInteger(nginxWorkers) || nginxWorkers < 1 || nginxWorkers > 64) {
    throw new Error("BENCH_NGINX_WORKERS must be a whole number from 1 to 64");
  }
  return { seconds, nginxWorkers, preferLoad: Deno.env.get("BENCH_LOAD") === "deno" ? "deno" : "k6" };
}

async function bench(cleanup: Cleanup, signal: AbortSignal) {
  const started = performance.now();
  const busy = await loadAverage();
  const settings = readSettings();
  const load = await chooseLoadGenerator(root, { prefer: settings.preferLoad, log });
  const nginxBinary = await ensureNginx(log);

  const catalog = await startBenchCatalog();
  cleanup.defer("catalog", catalog.close);
  const directUrl = `${catalog.url}${requestPath}`;
  const reference = (await probe(directUrl)).firstId;
  log(`catalog (demo data, in process) on ${catalog.url}`);

  // One worker by default: the Worker in workerd and the catalog in Deno each run on one thread too.
  const nginx = await startNginx(nginxBinary, {
    upstreamPort: catalog.port,
    proxyPort: freePort(),
    cachePort: freePort(),
    workers: settings.nginxWorkers,
  });
  cleanup.defer("nginx", nginx.stop, nginx.kill);
  await expectSamePage("nginx", `${nginx.proxyUrl}${requestPath}`, reference);
  log(`${nginx.version} on ${nginx.proxyUrl} (proxy) and ${nginx.cacheUrl} (proxy_cache)`);

  log("building the edge Worker and starting it in workerd (cache off) ...");
  const uncachedEdge = await startBenchEdge(catalog.url, false);
  cleanup.defer("edge", uncachedEdge.close);
  const uncachedStatus = await expectSamePage("edge", `${uncachedEdge.url}${requestPath}`, reference);
  log(`edge on ${uncachedEdge.url} (X-Cache-Status: ${uncachedStatus ?? "none"})`);

  const runs: Run[] = [];
  const measure = measurer(load, settings, runs, signal);
  log(`\nmeasuring with ${load.name}: ${warmupSeconds} s warm-up + ${settings.seconds} s per run`);
  for (const concurrency of concurrencies) {
    await measure("direct", directUrl, concurrency, false);
    await measure("nginx", `${nginx.proxyUrl}${requestPath}`, concurrency, false);
    await measure("edge", `${uncachedEdge.url}${requestPath}`, concurrency, false);
  }
  await cleanup.now("edge");

  log("\nstarting the edge with the cache on ...");
  const cachedEdge = await startBenchEdge(catalog.url, true);
  cleanup.defer("edge", cachedEdge.close);
  await expectSamePage("edge (cache on)", `${cachedEdge.url}${requestPath}`, reference);
  const cacheChecks = {
    edge: await waitForHit(`${cachedEdge.url}${requestPath}`),
    nginx: await waitForHit(`${nginx.cacheUrl}${requestPath}`),
  };
  log(`repeated GET: edge X-Cache-Status ${cacheChecks.edge}, nginx X-Cache-Status ${cacheChecks.nginx}`);
  await measure("nginx", `${nginx.cacheUrl}${requestPath}`, cachedConcurrency, true);
  await measure("edge", `${cachedEdge.url}${requestPath}`, cachedConcurrency, true);

  const report = buildReport(runs, {
    settings,
    load,
    nginx,
    cpu: await cpuModel(),
    loadAverage: busy,
    cacheChecks,
    started,
  });
  await Deno.mkdir(join(root, ".infra"), { recursive: true });
  await Deno.writeTextFile(resultFile, JSON.stringify(report, null, 2) + "\n");
  printReport(report);
}

if (import.meta.main) {
  const cleanup = new Cleanup();
  const stop = new AbortController();
  // Ctrl+C ends the running load and falls through to the cleanup below instead of leaving servers behind.
  const onSignal = () => stop.abort(new Error("interrupted"));
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  // Miniflare exits the process on SIGINT itself (after stopping workerd), before the cleanup below can
  // run; on the way out, stop the children that would outlive us: k6 (through the abort) and nginx.
  globalThis.addEventListener("unload", () => {
    stop.abort(new Error("exiting"));
    cleanup.killAll();
  });
  let failed = false;
  try {
    await bench(cleanup, stop.signal);
  } catch (error) {
    failed = true;
    console.error(`bench:edge failed: ${(error as Error).message}`);
  } finally {
    await cleanup.all();
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  }
  // The exit code says whether the bench ran; nothing is left to wait for.
  Deno.exit(failed ? 1 : 0);
}
