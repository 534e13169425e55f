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

export interface LoadOptions {
  /** Bearer tokens: virtual user n sends the nth (round robin), so each can be its own signed-in user. */
  tokens?: string[];
  /**
   * Source addresses for the virtual users, one each (k6's `--local-ips`, e.g. "127.0.0.2-127.0.0.250"),
   * so that an edge keying its limits on the connection's address sees one client per virtual user.
   * Only k6 can do this; the fetch loop sends everything from 127.0.0.1.
   */
  localIps?: string;
}

export interface LoadGenerator {
  /** For the report, e.g. "k6 v1.8.1". */
  name: string;
  /** Whether `localIps` is honoured. */
  sendsFromManyAddresses: boolean;
  /** `vus` concurrent clients, each sending the next GET as soon as the last one is answered. */
  run(
    url: string,
    vus: number,
    seconds: number,
    signal: AbortSignal,
    options?: LoadOptions,
  ): Promise<LoadResult>;
  /**
   * One GET from each of `count` distinct client addresses, named in `header` (10.x.y.z, starting at the
   * `first`th), by `vus` virtual users; undefined where the generator cannot (the fetch loop).
   */
  visitFromAddresses?(
    url: string,
    options: { header: string; first: number; count: number; vus: number },
    signal: AbortSignal,
  ): Promise<AddressVisits>;
}

export interface AddressVisits {
  requests: number;
  seconds: number;
  errorRate: number;
}

export const k6Version = "v1.8.1";
const k6Script = new URL("../../load-tests/bench_get.js", import.meta.url).pathname;
const k6AddressesScript = new URL("../../load-tests/edge_addresses.js", import.meta.url).pathname;
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
  /** Runs a script with `-e` variables; its handleSummary writes the result to SUMMARY as JSON. */
  const runScript = async <T>(
    script: string,
    variables: Record<string, string>,
    flags: string[],
    timeoutSeconds: number,
    signal: AbortSignal,
  ): Promise<T> => {
    const summary = await Deno.makeTempFile({ prefix: "bench-k6-", suffix: ".json" });
    try {
      const { success, stderr } = await new Deno.Command(binary, {
        args: [
          "run",
          "--quiet",
          "--no-color",
          // k6 otherwise reports each run to Grafana; the bench stays on this machine.
          "--no-usage-report",
          ...flags,
          ...Object.entries({ ...variables, SUMMARY: summary }).flatMap(([name, value]) => [
            "-e",
            `${name}=${value}`,
          ]),
          script,
        ],
        stdout: "null",
        stderr: "piped",
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutSeconds * 1000)]),
      }).output();
      if (!success) throw new Error(`k6 failed: ${tail(stderr)}`);
      return JSON.parse(await Deno.readTextFile(summary)) as T;
    } finally {
      await Deno.remove(summary).catch(() => {});
    }
  };
  return {
    name: version,
    sendsFromManyAddresses: true,
    run(url, vus, seconds, signal, options = {}) {
      const variables: Record<string, string> = { URL: url, VUS: String(vus), DURATION: `${seconds}s` };
      if (options.tokens?.length) variables.TOKENS = options.tokens.join(",");
      const flags = options.localIps ? [`--local-ips=${options.localIps}`] : [];
      return runScript<LoadResult>(k6Script, variables, flags, seconds + 30, signal);
    },
    visitFromAddresses(url, { header, first, count, vus }, signal) {
      const variables = {
        URL: url,
        HEADER: header,
        FIRST: String(first),
        ADDRESSES: String(count),
        VUS: String(vus),
      };
      // The script stops itself after 3 minutes (fewer addresses then, as reported); this catches a hung k6.
      return runScript<AddressVisits>(k6AddressesScript, variables, [], 4 * 60, signal);
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
    sendsFromManyAddresses: false,
    async run(url, vus, seconds, signal, options = {}) {
      // Its own process, so that the load does not share an event loop with the catalog under test.
      const text = await output(Deno.execPath(), [
        "run",
        "--allow-net=127.0.0.1",
        fetchLoop,
        url,
        String(vus),
        String(seconds),
        ...(options.tokens ?? []),
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
