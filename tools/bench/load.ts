/**
 * The load generator of `deno task bench:edge`: k6 (the project's load tool, built with `go install` into
 * .infra/bin on first use), or, where k6 cannot be had, a Deno fetch loop in its own process.
 */
import { join } from "node:path";

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; avg: number; max: number };
  /** Share of requests that failed: a status outside 200-399, or no answer. */
  errorRate: number;
  /** Share of answers with `X-Cache-Status: HIT`. */
  cacheHitRate: number;
}

export interface LoadGenerator {
  /** For the report, e.g. "k6 v1.8.1". */
  name: string;
  /** `vus` concurrent clients, each sending the next GET as soon as the last one is answered. */
  run(url: string, vus: number, seconds: number, signal: AbortSignal): Promise<LoadResult>;
}

export const k6Version = "v1.8.1";
const k6Script = new URL("../../load-tests/bench_get.js", import.meta.url).pathname;
const fetchLoop = new URL("./fetch_load.ts", import.meta.url).pathname;

/** k6 when it is built or can be built; otherwise the Deno fetch loop, saying why. */
export async function chooseLoadGenerator(
  root: string,
  options: { prefer: "k6" | "deno"; log: (line: string) => void },
): Promise<LoadGenerator> {
  if (options.prefer === "deno") return denoFetchLoop();
  try {
    const k6 = await ensureK6(join(root, ".infra", "bin"), options.log);
    return await k6Generator(k6);
  } catch (error) {
    options.log(`k6 is not available (${(error as Error).message}); falling back to a Deno fetch loop`);
    return denoFetchLoop();
  }
}

async function k6Generator(binary: string): Promise<LoadGenerator> {
  const version = (await output(binary, ["version"])).split(" ").slice(0, 2).join(" ");
  return {
    name: version,
    async run(url, vus, seconds, signal) {
      const summary = await Deno.makeTempFile({ prefix: "bench-k6-", suffix: ".json" });
      try {
        const { success, stderr } = await new Deno.Command(binary, {
          args: [
            "run",
            "--quiet",
            "--no-color",
            // k6 otherwise reports each run to Grafana; the bench stays on this machine.
            "--no-usage-report",
            ...[
              "-e",
              `URL=${url}`,
              "-e",
              `VUS=${vus}`,
              "-e",
              `DURATION=${seconds}s`,
              "-e",
              `SUMMARY=${summary}`,
            ],
            k6Script,
          ],
          stdout: "null",
          stderr: "piped",
          signal: AbortSignal.any([signal, AbortSignal.timeout((seconds + 30) * 1000)]),
        }).output();
        if (!success) throw new Error(`k6 failed: ${tail(stderr)}`);
        return JSON.parse(await Deno.readTextFile(summary)) as LoadResult;
      } finally {
        await Deno.remove(summary).catch(() => {});
      }
    },
  };
}

/** The k6 in .infra/bin, built there with `go install` if it is missing (about 1-3 minutes cold). */
async function ensureK6(bin: string, log: (line: string) => void): Promise<string> {
  const binary = join(bin, "k6");
  if (await runs(binary)) return binary;
  const go = await which("go");
  if (!go) throw new Error("no .infra/bin/k6, and no Go toolchain to build it");
  log(`building k6 ${k6Version} with go install into ${bin} (minutes on a cold Go cache) ...`);
  await Deno.mkdir(bin, { recursive: true });
  const started = performance.now();
  // A build prints little until it ends; a line every 15 s shows it is still going.
  const ticker = setInterval(
    () => log(`  still building k6 (${Math.round((performance.now() - started) / 1000)} s)`),
    15_000,
  );
  try {
    const { success, stderr } = await new Deno.Command(go, {
      args: ["install", `go.k6.io/k6@${k6Version}`],
      env: { GOBIN: bin },
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(20 * 60_000),
    }).output();
    if (!success) throw new Error(`go install failed: ${tail(stderr)}`);
  } finally {
    clearInterval(ticker);
  }
  if (!await runs(binary)) throw new Error(`${binary} was built but does not run`);
  log(`built k6 in ${Math.round((performance.now() - started) / 1000)} s`);
  return binary;
}

function denoFetchLoop(): LoadGenerator {
  return {
    name: `Deno ${Deno.version.deno} fetch loop`,
    async run(url, vus, seconds, signal) {
      // Its own process, so that the load does not share an event loop with the catalog under test.
      const text = await output(Deno.execPath(), [
        "run",
        "--allow-net=127.0.0.1",
        fetchLoop,
        url,
        String(vus),
        String(seconds),
      ], AbortSignal.any([signal, AbortSignal.timeout((seconds + 30) * 1000)]));
      return JSON.parse(text) as LoadResult;
    },
  };
}

async function output(command: string, args: string[], signal?: AbortSignal): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  if (!success) throw new Error(`${command} ${args[0]} failed: ${tail(stderr)}`);
  return new TextDecoder().decode(stdout).trim();
}

async function runs(binary: string): Promise<boolean> {
  try {
    await output(binary, ["version"]);
    return true;
  } catch {
    return false;
  }
}

export async function which(name: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    const candidate = join(dir, name);
    try {
      if ((await Deno.stat(candidate)).isFile) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function tail(bytes: Uint8Array, lines = 5): string {
  return new TextDecoder().decode(bytes).trim().split("\n").slice(-lines).join(" | ");
}
