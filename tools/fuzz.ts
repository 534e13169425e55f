/**
 * `deno task fuzz`: schemathesis over every operation of the merged public document, through the edge of
 * a shop started for the run (on the real servers when their variables are set, else embedded), three
 * times: anonymous, as the demo customer and as the admin, each from a client address of its own. It
 * fails on any 5xx, any answer the document does not describe (status, content type, headers, body),
 * and prints the counts. The seed is fixed, so a failure found once is found again.
 *
 *   deno task fuzz                 examples per operation: FUZZ_EXAMPLES (20), seed: FUZZ_SEED (1)
 *
 * schemathesis comes from PyPI into .tools/venv on first use.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "./shop.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SCHEMATHESIS_VERSION = "4.32.5";
const VENV = join(ROOT, ".tools", "venv");
const schemathesis = join(VENV, "bin", "schemathesis");

const examples = Deno.env.get("FUZZ_EXAMPLES") ?? "20";
const seed = Deno.env.get("FUZZ_SEED") ?? "1";
const checks = [
  "not_a_server_error",
  "status_code_conformance",
  "content_type_conformance",
  "response_headers_conformance",
  "response_schema_conformance",
];
/** The header the fuzzing shop's edge trusts for the client address, as an operator's proxy would set it. */
const clientAddressHeader = "X-Fuzz-Client-Ip";
/**
 * The limits are raised so that the fuzzer reaches the services instead of answering 429 after a few
 * requests; the limits themselves are tested in edge/ and by the load tests.
 */
const generousLimit = { capacity: 1_000_000, refillPerSecond: 100_000 };
const adminPassword = `fuzz-${crypto.randomUUID()}`;

function say(message: string): void {
  console.error(`[fuzz] ${message}`);
}

/** The installed version's banner, or "" when .tools/venv has none (spawning it then throws at once). */
async function installedSchemathesis(): Promise<string> {
  try {
    const command = new Deno.Command(schemathesis, { args: ["--version"], stdout: "piped", stderr: "null" });
    return new TextDecoder().decode((await command.output()).stdout);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

async function ensureSchemathesis(): Promise<void> {
  if ((await installedSchemathesis()).includes(SCHEMATHESIS_VERSION)) return;
  say(`installing schemathesis ${SCHEMATHESIS_VERSION} from PyPI into .tools/venv (a minute) ...`);
  await run("python3", ["-m", "venv", VENV]);
  await run(join(VENV, "bin", "pip"), ["install", "--quiet", `schemathesis==${SCHEMATHESIS_VERSION}`]);
}

async function run(command: string, args: string[]): Promise<void> {
  const { code } = await new Deno.Command(command, { args, stdout: "inherit", stderr: "inherit" }).output();
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${code}`);
}

interface StartedShop {
  edgeUrl: string;
  customerPassword: string;
  stop(): Promise<void>;
}

/** `deno task start` in a child process, on a data folder and databases of its own. */
async function startShop(): Promise<StartedShop> {
  const dataDir = await Deno.makeTempDir({ prefix: "multishop-fuzz-" });
  const ports = freePorts();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "tools", "start.ts")],
    env: {
      ...ports,
      DATA_DIR: dataDir,
      DATABASE_PREFIX: `fuzz_${Date.now().toString(36)}`,
      ADMIN_EMAIL: "fuzz-admin@multishop.local",
      ADMIN_PASSWORD: adminPassword,
      LOG_LEVEL: "error",
      TRUSTED_CLIENT_IP_HEADER: clientAddressHeader,
      RATE_LIMITS: JSON.stringify({
        default: generousLimit,
        authenticated: generousLimit,
        login: generousLimit,
        contact: generousLimit,
      }),
    },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const banner = await readUntil(child.stdout, "Accounts");
  const edgeUrl = /edge\s+(http:\/\/\S+)/.exec(banner)?.[1];
  if (!edgeUrl) throw new Error(`the shop did not say where its edge is:\n${banner}`);
  const { customerPassword } = JSON.parse(await Deno.readTextFile(join(dataDir, "credentials.json")));
  return {
    edgeUrl,
    customerPassword,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** Reads a stream until `marker` has been seen, then leaves the rest to drain unread. */
async function readUntil(stream: ReadableStream<Uint8Array>, marker: string): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the shop stopped before it was running:\n${text}`);
    text += value;
  }
  (async () => {
    while (!(await reader.read()).done);
  })();
  return text;
}

async function signIn(edgeUrl: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${edgeUrl}/oauth/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "password", client_id: "storefront", username, password }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`${username} cannot sign in: ${JSON.stringify(body)}`);
  return body.access_token;
}

interface RunCounts {
  caller: string;
  operations: number;
  requests: number;
  failures: number;
  passed: boolean;
  /** What schemathesis printed. */
  output: string;
}

/**
 * One schemathesis run as one caller, with one worker: its threads share Python 3.11's parser, which
 * fails now and then when two parse at once ("AST constructor recursion depth mismatch"). The three
 * callers run side by side instead. Its output and reports go to .tools/fuzz/<caller>/.
 */
async function fuzzAs(caller: string, edgeUrl: string, headers: string[]): Promise<RunCounts> {
  const reportDir = join(ROOT, ".tools", "fuzz", caller);
  await Deno.mkdir(reportDir, { recursive: true });
  const started = performance.now();
  const { code, stdout, stderr } = await new Deno.Command(schemathesis, {
    args: [
      "run",
      `${edgeUrl}/openapi.json`,
      "--url",
      edgeUrl,
      ...headers.flatMap((header) => ["--header", header]),
      "--checks",
      checks.join(","),
      "--max-examples",
      examples,
      "--seed",
      seed,
      "--phases",
      "examples,coverage,fuzzing",
      "--workers",
      "1",
      "--request-timeout",
      "15",
      "--generation-database",
      "none",
      "--no-color",
      "--report",
      "junit,ndjson",
      "--report-junit-path",
      join(reportDir, "junit.xml"),
      "--report-ndjson-path",
      join(reportDir, "events.ndjson"),
    ],
    // Its own cache folder (.schemathesis/) lands beside the reports, not in the work tree.
    cwd: join(ROOT, ".tools"),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  await Deno.writeTextFile(join(reportDir, "output.txt"), output);
  const counts = await countsFrom(reportDir);
  say(`${caller}: done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return { caller, ...counts, passed: code === 0, output };
}

/** Operations and failures from the JUnit report; requests from the event log, one interaction each. */
async function countsFrom(reportDir: string): Promise<Omit<RunCounts, "caller" | "passed" | "output">> {
  const junit = await Deno.readTextFile(join(reportDir, "junit.xml"));
  const suite = /<testsuite [^>]*>/.exec(junit)?.[0] ?? "";
  const attribute = (name: string) => Number(new RegExp(`${name}="(\\d+)"`).exec(suite)?.[1] ?? 0);
  let requests = 0;
  for (const line of (await Deno.readTextFile(join(reportDir, "events.ndjson"))).split("\n")) {
    if (!line.includes('"ScenarioFinished"')) continue;
    requests += Object.keys(JSON.parse(line).ScenarioFinished.recorder.interactions ?? {}).length;
  }
  return { operations: attribute("tests"), requests, failures: attribute("failures") + attribute("errors") };
}

await ensureSchemathesis();
say("starting the shop ...");
const shop = await startShop();
const results: RunCounts[] = [];
try {
  const customer = await signIn(shop.edgeUrl, "demo", shop.customerPassword);
  const admin = await signIn(shop.edgeUrl, "fuzz-admin@multishop.local", adminPassword);
  say(
    `fuzzing every operation of ${shop.edgeUrl}/openapi.json as three callers at once ` +
      `(${examples} examples each, seed ${seed}; a few minutes) ...`,
  );
  results.push(
    ...await Promise.all([
      fuzzAs("anonymous", shop.edgeUrl, [`${clientAddressHeader}: 127.0.0.11`]),
      fuzzAs("customer", shop.edgeUrl, [
        `${clientAddressHeader}: 127.0.0.12`,
        `Authorization: Bearer ${customer}`,
      ]),
      fuzzAs("admin", shop.edgeUrl, [`${clientAddressHeader}: 127.0.0.13`, `Authorization: Bearer ${admin}`]),
    ]),
  );
} finally {
  await shop.stop();
}

console.log("\nfuzzing through the edge (schemathesis):");
for (const result of results) {
  console.log(
    `  ${result.caller.padEnd(10)} ${result.operations} operations, ${result.requests} requests, ` +
      `${result.failures} failures${result.passed ? "" : " (FAILED)"}`,
  );
}
const failed = results.filter((result) => !result.passed);
for (const result of failed) {
  // From schemathesis's FAILURES or ERRORS section on: what failed, and the curl that repeats it.
  const details = /^=+ (FAILURES|ERRORS) =+$/m.exec(result.output);
  console.log(`\n--- ${result.caller} ---\n${details ? result.output.slice(details.index) : result.output}`);
}
if (failed.length > 0) {
  console.log("whole output and reports: .tools/fuzz/<caller>/ (output.txt, junit.xml, events.ndjson)");
  Deno.exit(1);
}
