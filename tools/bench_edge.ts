/**
 * `deno task bench:edge`: what the edge costs and saves on a catalog GET, measured on this machine, with
 * nginx as the outside reference, against the goals of issue 12.
 *
 * At concurrency 1 and 32, side by side, `GET /v1/products?limit=20`:
 * - the catalog directly, anonymous and signed-in (it verifies the token itself);
 * - the edge's own `/healthz` (the runtime's ceiling for this edge: routing and headers, no upstream);
 * - a cached HIT through the edge, anonymous, with the rate-limit policies on and every virtual user its
 *   own client address (k6 `--local-ips`; the edge keys limits on the connection's address);
 * - a signed-in GET through the edge: each virtual user its own user's token, verified by the edge, counted
 *   under the per-user policy, the cache bypassed (an answer to a token is personal);
 * - nginx with proxy_cache, and nginx as a plain proxy, in front of the same catalog.
 * The goals (ratios within this one run) are printed with their marks. Then the edge's memory, workerd and
 * the Deno process that runs it, is read before and after 100,000 distinct client addresses (named in a header
 * the edge trusts for that run) and again after an idle pause.
 *
 * The catalog runs in this process on the in-process store with the demo catalog; the edge runs in a
 * process of its own (tools/bench/edge_process.ts: the Worker bundle in workerd, clients on workerd's own
 * socket); the load comes from k6 (load-tests/), or from a Deno fetch loop where k6 cannot be built (then
 * every request comes from 127.0.0.1 and the memory part is skipped). Everything listens on loopback and
 * is stopped at the end, also on failure or Ctrl+C. The table is printed and the numbers are written to
 * .infra/bench-edge.json.
 *
 * Variables: BENCH_SECONDS (measured seconds per run, 1-15, default 8), BENCH_LOAD=deno (use the fetch
 * loop even where k6 exists), BENCH_NGINX_WORKERS (nginx worker processes, default 1), BENCH_ADDRESSES
 * (distinct client addresses for the memory part, default 100000, 0 skips it), BENCH_IDLE_SECONDS (the
 * pause before memory is read again, default 65).
 */
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { createLogger } from "@multishop/kit/log";
import { createInProcessBus } from "@multishop/kit/messaging";
import { serveApp } from "@multishop/kit/serve";
import workerd from "workerd";
import { compatibilityDate } from "../edge/local.ts";
import { loadCatalogConfig } from "../services/catalog/config.ts";
import { startCatalog } from "../services/catalog/main.ts";
import { seedCatalog } from "../services/catalog/seed.ts";
import { createMemoryCatalogStore } from "../services/catalog/store/memory.ts";
import { chooseLoadGenerator, type LoadGenerator, type LoadOptions, type LoadResult } from "./bench/load.ts";
import { childProcesses, residentBytes } from "./bench/memory.ts";
import { ensureNginx, type RunningNginx, startNginx } from "./bench/nginx.ts";
import { freePort } from "./shop.ts";

const root = new URL("..", import.meta.url).pathname;
const resultFile = join(root, ".infra", "bench-edge.json");
const edgeProcessScript = new URL("./bench/edge_process.ts", import.meta.url).pathname;
const requestPath = "/v1/products?limit=20";
const concurrencies = [1, 32];
/** The concurrency at which throughput goals are judged; latency goals are judged at 1. */
const throughputConcurrency = 32;
/** Each virtual user sends from its own loopback address (249 of them, more than the most VUs). */
const clientAddresses = "127.0.0.2-127.0.0.250";
/** Each run starts with this much unrecorded load, so JIT warm-up and connection set-up are not measured. */
const warmupSeconds = 2;
/** Addresses met before memory is first read, so that the baseline is of a warmed-up edge. */
const warmupAddresses = 2_000;
/** The header the memory part's edge takes the client's address from (TRUSTED_CLIENT_IP_HEADER). */
const addressHeader = "x-real-ip";

type Target = "direct" | "directSignedIn" | "healthz" | "hit" | "signedIn" | "nginxCache" | "nginxProxy";

const targetNames: Record<Target, string> = {
  direct: "catalog directly",
  directSignedIn: "catalog directly, signed-in",
  healthz: "edge /healthz",
  hit: "edge cached HIT",
  signedIn: "edge signed-in (BYPASS)",
  nginxCache: "nginx proxy_cache",
  nginxProxy: "nginx proxy, no cache",
};

interface Run extends LoadResult {
  target: Target;
  concurrency: number;
}

interface Goal {
  name: string;
  measured: string;
  wanted: string;
  met: boolean;
}

interface MemorySample {
  hostBytes?: number;
  workerdBytes?: number;
}

interface MemoryReport {
  addresses: number;
  seconds: number;
  errorRate: number;
  idleSeconds: number;
  before: MemorySample;
  peak: MemorySample;
  after: MemorySample;
  afterIdle: MemorySample;
}

interface Settings {
  seconds: number;
  nginxWorkers: number;
  preferLoad: "k6" | "deno";
  addresses: number;
  idleSeconds: number;
}

const log = (line: string) => console.log(line);
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

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
async function startBenchCatalog(
  issuer: BenchTokens,
): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const logger = createLogger("catalog", "silent");
  const store = await createMemoryCatalogStore();
  // It verifies a signed-in request's token again, as behind the edge in production.
  const config = loadCatalogConfig({
    LOG_LEVEL: "silent",
    AUTH_ISSUER: issuer.issuer,
    AUTH_AUDIENCE: issuer.audience,
    AUTH_JWKS_URL: issuer.jwksUrl,
  });
  const catalog = await startCatalog(config, {
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

interface BenchEdge {
  url: string;
  /** The edge's Deno process: edge/local.ts, which starts and stops workerd. */
  pid: number;
  /** Its workerd child, where the Worker runs. */
  workerdPid?: number;
  stop(): Promise<void>;
  kill(): void;
}

/**
 * The edge in a process of its own (tools/bench/edge_process.ts), in front of the catalog, trusting the
 * bench's token issuer; `variables` add to or replace those.
 */
async function startBenchEdge(
  catalogUrl: string,
  issuer: BenchTokens,
  variables: Record<string, string>,
): Promise<BenchEdge> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      edgeProcessScript,
      JSON.stringify({
        CATALOG_URL: catalogUrl,
        JWKS_URL: issuer.jwksUrl,
        TOKEN_ISSUER: issuer.issuer,
        TOKEN_AUDIENCE: issuer.audience,
        ...variables,
      }),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already exited
    }
  };
  const url = await firstLine(child.stdout).then(
    (line) => (JSON.parse(line) as { url: string }).url,
    (error) => {
      kill();
      throw new Error(`the edge did not start: ${(error as Error).message}`);
    },
  );
  const [workerdPid] = await childProcesses(child.pid, "workerd");
  return {
    url,
    pid: child.pid,
    workerdPid,
    kill,
    async stop() {
      kill();
      await child.status;
    },
  };
}

/** Reads up to the first newline within 60 s; the rest is drained, so that the pipe never fills up. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = setTimeout(() => reader.cancel(new Error("no answer in 60 s")), 60_000);
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { done, value } = await reader.read();
      if (done) throw new Error("it exited before it answered");
      text += value;
    }
  } finally {
    clearTimeout(deadline);
  }
  (async () => {
    while (!(await reader.read()).done) {
      // what the edge prints later is not the bench's
    }
  })().catch(() => {});
  return text.slice(0, text.indexOf("\n"));
}

interface BenchTokens {
  issuer: string;
  audience: string;
  jwksUrl: string;
  /** One signed-in customer's access token per virtual user, valid for the bench's length. */
  tokens: string[];
  close(): Promise<void>;
}

/** An issuer of the bench's own, as identity would be: an ES256 key published as a JWKS on loopback. */
async function startTokenIssuer(users: number): Promise<BenchTokens> {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: "bench", alg: "ES256" }] };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json(jwks),
  );
  const issuer = "http://bench.edge.test";
  const audience = "multishop";
  const tokens = await Promise.all(
    Array.from({ length: users }, (_, user) =>
      new SignJWT({ roles: ["customer"] })
        .setProtectedHeader({ alg: "ES256", kid: "bench" })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(`bench-user-${user + 1}`)
        .setIssuedAt()
        .setJti(crypto.randomUUID())
        .setExpirationTime("1h")
        .sign(privateKey)),
  );
  return {
    issuer,
    audience,
    jwksUrl: `http://127.0.0.1:${server.addr.port}/`,
    tokens,
    close: () => server.shutdown(),
  };
}

/**
 * The policies the bench's requests pass through, `default` (per address) and `authenticated` (per user),
 * sized so that a virtual user sending thousands of requests a second is never refused: every request
 * takes its token as in production, and a 429 would measure the refusal instead of the path.
 */
const benchRateLimits = {
  default: { capacity: 1_000_000, refillPerSecond: 100_000 },
  authenticated: { capacity: 1_000_000, refillPerSecond: 100_000 },
};

// ---------------------------------------------------------------------------------------------------------
// Checks before load: every target answers the same page, and the caches really hit
// ---------------------------------------------------------------------------------------------------------

async function probe(
  url: string,
  headers: HeadersInit = {},
): Promise<{ firstId: string; cacheStatus: string | null }> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
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
  return async (target: Target, url: string, concurrency: number, options: LoadOptions = {}) => {
    signal.throwIfAborted();
    const started = performance.now();
    const withAddresses = { ...options, localIps: clientAddresses };
    await load.run(url, concurrency, warmupSeconds, signal, withAddresses);
    const result = await load.run(url, concurrency, settings.seconds, signal, withAddresses);
    runs.push({ target, concurrency, ...result });
    log(
      `  ${targetNames[target].padEnd(24)} c=${String(concurrency).padEnd(3)} ` +
        `${fixed(result.requestsPerSecond, 0)} req/s, p50 ${fixed(result.latencyMs.p50, 3)} ms, ` +
        `p99 ${fixed(result.latencyMs.p99, 3)} ms (${fixed((performance.now() - started) / 1000, 1)} s)`,
    );
  };
}

function judgeGoals(runs: Run[]): Goal[] {
  const find = (target: Target, concurrency: number) =>
    runs.find((run) => run.target === target && run.concurrency === concurrency);
  const goals: Goal[] = [];
  const hit = find("hit", throughputConcurrency);
  const healthz = find("healthz", throughputConcurrency);
  const direct = find("direct", throughputConcurrency);
  if (hit && healthz) {
    const ratio = hit.requestsPerSecond / healthz.requestsPerSecond;
    goals.push({
      name: `HIT throughput / edge /healthz throughput, c=${throughputConcurrency}`,
      measured: `${fixed(ratio)}×`,
      wanted: "≥ 0.80×",
      met: ratio >= 0.8,
    });
  }
  if (hit && direct) {
    const ratio = hit.requestsPerSecond / direct.requestsPerSecond;
    goals.push({
      name: `HIT throughput / catalog directly, c=${throughputConcurrency}`,
      measured: `${fixed(ratio)}×`,
      wanted: "≥ 1.80×",
      met: ratio >= 1.8,
    });
  }
  const hitAlone = find("hit", 1);
  const healthzAlone = find("healthz", 1);
  if (hitAlone && healthzAlone) {
    const addedUs = (hitAlone.latencyMs.p50 - healthzAlone.latencyMs.p50) * 1000;
    goals.push({
      name: "HIT p50 − edge /healthz p50, c=1",
      measured: `${signed(addedUs, 0)} µs`,
      wanted: "≤ 100 µs",
      met: addedUs <= 100,
    });
  }
  // The catalog verifies the token too, so the signed-in edge path is compared with signed-in calls.
  const signedInAlone = find("signedIn", 1);
  const directAlone = find("directSignedIn", 1);
  if (signedInAlone && directAlone) {
    const addedMs = signedInAlone.latencyMs.p50 - directAlone.latencyMs.p50;
    goals.push({
      name: "signed-in p50 − catalog directly (signed-in) p50, c=1",
      measured: `${signed(addedMs, 3)} ms`,
      wanted: "≤ 0.500 ms",
      met: addedMs <= 0.5,
    });
  }
  return goals;
}

/** Reads the edge's two processes' resident memory. */
async function sampleMemory(edge: BenchEdge): Promise<MemorySample> {
  return {
    hostBytes: await residentBytes(edge.pid),
    workerdBytes: edge.workerdPid === undefined ? undefined : await residentBytes(edge.workerdPid),
  };
}

function larger(a: MemorySample, b: MemorySample): MemorySample {
  const max = (x?: number, y?: number) => x === undefined ? y : y === undefined ? x : Math.max(x, y);
  return { hostBytes: max(a.hostBytes, b.hostBytes), workerdBytes: max(a.workerdBytes, b.workerdBytes) };
}

function describeMemory(sample: MemorySample): string {
  return `workerd ${megabytes(sample.workerdBytes)}, host ${megabytes(sample.hostBytes)}`;
}

/**
 * The edge's memory as it meets `settings.addresses` new client addresses, one GET (a cached HIT, under
 * the shipped rate-limit policies, which keep a bucket per address) from each: before, at the peak while
 * they arrive, right after, and after `settings.idleSeconds` without requests.
 */
async function measureMemory(
  load: LoadGenerator,
  edge: BenchEdge,
  settings: Settings,
  signal: AbortSignal,
): Promise<MemoryReport> {
  const visit = load.visitFromAddresses!.bind(load);
  const url = `${edge.url}${requestPath}`;
  await visit(
    url,
    { header: addressHeader, first: 0, count: warmupAddresses, vus: throughputConcurrency },
    signal,
  );
  const before = await sampleMemory(edge);
  log(`  before: ${describeMemory(before)} (after ${warmupAddresses} warm-up addresses)`);
  let peak = before;
  const started = performance.now();
  const sampler = setInterval(async () => {
    const now = await sampleMemory(edge);
    peak = larger(peak, now);
    log(`  ${fixed((performance.now() - started) / 1000, 0).padStart(3)} s: ${describeMemory(now)}`);
  }, 10_000);
  let visits;
  try {
    visits = await visit(
      url,
      {
        header: addressHeader,
        first: warmupAddresses,
        count: settings.addresses,
        vus: throughputConcurrency,
      },
      signal,
    );
  } finally {
    clearInterval(sampler);
  }
  const after = await sampleMemory(edge);
  peak = larger(peak, after);
  log(
    `  after ${visits.requests} addresses in ${fixed(visits.seconds, 1)} s ` +
      `(${percent(visits.errorRate)} failed): ${describeMemory(after)}`,
  );
  for (let waited = 0; waited < settings.idleSeconds; waited += 15) {
    log(`  idle, ${settings.idleSeconds - waited} s to go ...`);
    await sleep(Math.min(15, settings.idleSeconds - waited) * 1000, signal);
  }
  const afterIdle = await sampleMemory(edge);
  log(`  after ${settings.idleSeconds} s idle: ${describeMemory(afterIdle)}`);
  return {
    addresses: visits.requests,
    seconds: visits.seconds,
    errorRate: visits.errorRate,
    idleSeconds: settings.idleSeconds,
    before,
    peak,
    after,
    afterIdle,
  };
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

function megabytes(bytes: number | undefined): string {
  return bytes === undefined ? "?" : `${fixed(bytes / 2 ** 20, 0)} MB`;
}

function printReport(report: ReturnType<typeof buildReport>) {
  const find = (target: Target, concurrency: number) =>
    report.runs.find((run) => run.target === target && run.concurrency === concurrency);
  const targets = Object.keys(targetNames) as Target[];
  log("");
  log(
    `GET ${report.request} · ${report.tools.loadGenerator} · ${report.secondsPerRun} s per run after a ` +
      `${report.warmupSeconds} s warm-up · ${report.machine.cpus} CPUs · ${report.tools.nginx} ` +
      `(${report.tools.nginxWorkers} worker${report.tools.nginxWorkers === 1 ? "" : "s"})`,
  );
  log(
    "edge = the Worker bundle in workerd on this machine (edge/local.ts: clients on workerd's own socket), " +
      "whose Cache API is Miniflare's local service (not Cloudflare's)",
  );
  log("");
  const [alone, busy] = concurrencies;
  log(table(
    [
      "target",
      `c=${alone} req/s`,
      `c=${alone} p50 ms`,
      `c=${alone} p99 ms`,
      `c=${busy} req/s`,
      `c=${busy} p50 ms`,
      `c=${busy} p99 ms`,
      "errors",
      "HIT",
    ],
    targets.flatMap((target) => {
      const [one, many] = [find(target, alone), find(target, busy)];
      if (!one || !many) return [];
      return [[
        targetNames[target],
        fixed(one.requestsPerSecond, 0),
        fixed(one.latencyMs.p50, 3),
        fixed(one.latencyMs.p99, 3),
        fixed(many.requestsPerSecond, 0),
        fixed(many.latencyMs.p50, 3),
        fixed(many.latencyMs.p99, 3),
        percent(Math.max(one.errorRate, many.errorRate)),
        percent(Math.min(one.cacheHitRate, many.cacheHitRate)),
      ]];
    }),
  ));
  log("");
  log("Goals (issue 12)");
  log(table(
    ["goal", "measured", "wanted", ""],
    report.goals.map((goal) => [goal.name, goal.measured, goal.wanted, goal.met ? "PASS ✓" : "FAIL ✗"]),
  ));
  const memory = report.memory;
  if (memory) {
    log("");
    log(
      `Edge memory (resident) around ${memory.addresses} distinct client addresses, one cached GET each, ` +
        `in ${fixed(memory.seconds, 1)} s (${percent(memory.errorRate)} failed), shipped rate-limit policies`,
    );
    log(table(
      ["process", "before", "peak", "right after", `after ${memory.idleSeconds} s idle`],
      [
        ["workerd", "workerdBytes"] as const,
        ["host (Deno, edge/local.ts)", "hostBytes"] as const,
      ].map(([name, field]) => [
        name,
        megabytes(memory.before[field]),
        megabytes(memory.peak[field]),
        megabytes(memory.after[field]),
        megabytes(memory.afterIdle[field]),
      ]),
    ));
  }
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
    cacheChecks: { edge: string; nginx: string; signedIn: string };
    memory: MemoryReport | undefined;
    started: number;
  },
) {
  const { settings, load, nginx, cacheChecks } = context;
  const warnings: string[] = [];
  for (const run of runs) {
    if (run.errorRate > 0) {
      warnings.push(
        `${targetNames[run.target]} at c=${run.concurrency}: ${percent(run.errorRate)} of requests failed ` +
          `(a 429 counts); its numbers include the failures.`,
      );
    }
    const shouldHit = run.target === "hit" || run.target === "nginxCache";
    if (shouldHit && run.cacheHitRate < 0.99) {
      warnings.push(
        `${targetNames[run.target]} at c=${run.concurrency}: only ${percent(run.cacheHitRate)} of answers ` +
          `were HITs.`,
      );
    }
    if (run.target === "signedIn" && run.cacheHitRate > 0) {
      warnings.push(
        `a signed-in GET was answered from the cache (${
          percent(run.cacheHitRate)
        } at c=${run.concurrency}): ` +
          `a personal request must never be.`,
      );
    }
  }
  if (cacheChecks.edge !== "HIT") {
    warnings.push(
      `the edge did not answer a repeated GET from its cache (X-Cache-Status: ${cacheChecks.edge}).`,
    );
  }
  if (cacheChecks.nginx !== "HIT") {
    warnings.push(`nginx proxy_cache did not hit (X-Cache-Status: ${cacheChecks.nginx}).`);
  }
  if (cacheChecks.signedIn !== "BYPASS") {
    warnings.push(`a signed-in GET said X-Cache-Status: ${cacheChecks.signedIn}, not BYPASS.`);
  }
  if (!load.sendsFromManyAddresses) {
    warnings.push(
      `${load.name} sends every request from 127.0.0.1, so all anonymous requests share one rate-limit ` +
        `bucket, and the memory part did not run: build k6 for the numbers the goals are about.`,
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
    clientAddresses,
    rateLimits: benchRateLimits,
    machine: {
      cpus: navigator.hardwareConcurrency,
      cpu: context.cpu,
      os: Deno.build.target,
      loadAverageAtStart: context.loadAverage,
    },
    tools: {
      loadGenerator: load.name,
      deno: Deno.version.deno,
      edge: `workerd ${workerd.version}, own socket (compatibility date ${compatibilityDate}), own process`,
      nginx: nginx.version,
      nginxWorkers: nginx.workers,
    },
    cacheChecks,
    runs,
    goals: judgeGoals(runs),
    memory: context.memory,
    warnings,
    totalSeconds: (performance.now() - context.started) / 1000,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The bench
// ---------------------------------------------------------------------------------------------------------

function readSettings(): Settings {
  const whole = (name: string, fallback: number, min: number, max: number) => {
    const value = Number(Deno.env.get(name) ?? fallback);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`${name} must be a whole number from ${min} to ${max}`);
    }
    return value;
  };
  return {
    seconds: whole("BENCH_SECONDS", 8, 1, 15),
    nginxWorkers: whole("BENCH_NGINX_WORKERS", 1, 1, 64),
    preferLoad: Deno.env.get("BENCH_LOAD") === "deno" ? "deno" : "k6",
    // 10.0.0.0/8 holds about 16.7 million, the addresses the k6 script counts through.
    addresses: whole("BENCH_ADDRESSES", 100_000, 0, 10_000_000),
    idleSeconds: whole("BENCH_IDLE_SECONDS", 65, 0, 600),
  };
}

async function bench(cleanup: Cleanup, signal: AbortSignal) {
  const started = performance.now();
  const busy = await loadAverage();
  const settings = readSettings();
  const load = await chooseLoadGenerator(root, { prefer: settings.preferLoad, log });
  const nginxBinary = await ensureNginx(log);

  const issuer = await startTokenIssuer(Math.max(...concurrencies));
  cleanup.defer("token issuer", issuer.close);
  const catalog = await startBenchCatalog(issuer);
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

  log("building the edge Worker and starting it in workerd ...");
  const edge = await startBenchEdge(catalog.url, issuer, {
    CACHE_ENABLED: "true",
    RATE_LIMITS: JSON.stringify(benchRateLimits),
  });
  cleanup.defer("edge", edge.stop, edge.kill);
  await expectSamePage("edge", `${edge.url}${requestPath}`, reference);
  const signedIn = { authorization: `Bearer ${issuer.tokens[0]}` };
  const cacheChecks = {
    edge: await waitForHit(`${edge.url}${requestPath}`),
    nginx: await waitForHit(`${nginx.cacheUrl}${requestPath}`),
    signedIn: (await probe(`${edge.url}${requestPath}`, signedIn)).cacheStatus ?? "no X-Cache-Status header",
  };
  log(
    `edge on ${edge.url}; repeated GET: edge X-Cache-Status ${cacheChecks.edge}, nginx ${cacheChecks.nginx}; ` +
      `signed-in GET: ${cacheChecks.signedIn}`,
  );

  const runs: Run[] = [];
  const measure = measurer(load, settings, runs, signal);
  log(`\nmeasuring with ${load.name}: ${warmupSeconds} s warm-up + ${settings.seconds} s per run`);
  for (const concurrency of concurrencies) {
    await measure("direct", directUrl, concurrency);
    await measure("directSignedIn", directUrl, concurrency, { tokens: issuer.tokens });
    await measure("healthz", `${edge.url}/healthz`, concurrency);
    await measure("hit", `${edge.url}${requestPath}`, concurrency);
    await measure("signedIn", `${edge.url}${requestPath}`, concurrency, { tokens: issuer.tokens });
    await measure("nginxCache", `${nginx.cacheUrl}${requestPath}`, concurrency);
    await measure("nginxProxy", `${nginx.proxyUrl}${requestPath}`, concurrency);
  }
  await cleanup.now("edge");

  let memory: MemoryReport | undefined;
  if (settings.addresses > 0 && load.visitFromAddresses) {
    log(
      `\nmemory: a fresh edge with the shipped rate-limit policies, trusting ${addressHeader}, meets ` +
        `${settings.addresses} client addresses ...`,
    );
    const addressEdge = await startBenchEdge(catalog.url, issuer, {
      TRUSTED_CLIENT_IP_HEADER: addressHeader,
    });
    cleanup.defer("edge", addressEdge.stop, addressEdge.kill);
    await waitForHit(`${addressEdge.url}${requestPath}`);
    memory = await measureMemory(load, addressEdge, settings, signal);
    await cleanup.now("edge");
  }

  const report = buildReport(runs, {
    settings,
    load,
    nginx,
    cpu: await cpuModel(),
    loadAverage: busy,
    cacheChecks,
    memory,
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
  // On the way out however it comes, stop the children that would outlive us: k6 (through the abort)
  // and nginx.
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
