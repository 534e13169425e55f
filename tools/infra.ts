/**
 * Real development infrastructure without Docker, for Debian/Ubuntu.
 *
 *   deno run -A tools/infra.ts up     install (apt-get, go) and start everything, print `export` lines
 *   deno run -A tools/infra.ts down   stop everything that `up` started
 *   deno run -A tools/infra.ts env    print the `export` lines of the last `up`
 *
 * Usage: `eval "$(deno task -q infra:up)"`. Progress goes to stderr; stdout carries only the
 * `export NAME=value` lines, which are also written to `.infra/env.sh`.
 *
 * Every server keeps its state, logs and pid file under `.infra/` (PostgreSQL elsewhere when the
 * checkout is in a folder its OS user cannot enter), listens on 127.0.0.1 only, and is
 * started detached so it outlives this process. Every step is idempotent: what already runs is left alone.
 */
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const INFRA = join(ROOT, ".infra");
const RUN = join(INFRA, "run");
const BIN = join(INFRA, "bin");
const ENV_FILE = join(INFRA, "env.sh");

const HOST = "127.0.0.1";
const PG_PORT = Number(Deno.env.get("INFRA_POSTGRES_PORT") ?? "5432");
const REDIS_PORT = 6379;
const AMQP_PORT = 5672;
const MONGO_PORT = 27017;
const GCS_PORT = 4443;

// Set by locatePostgres() once the postgres OS user exists.
let PG_DIR = join(INFRA, "postgres");
let PG_DATA = join(PG_DIR, "data");
let PG_LOG = join(PG_DIR, "postgres.log");
const REDIS_DIR = join(INFRA, "redis");
const REDIS_LOG = join(REDIS_DIR, "redis.log");
const REDIS_PID = join(RUN, "redis.pid");
const RABBIT_DIR = join(INFRA, "rabbitmq");
const RABBIT_NODE = "multishop@localhost";
const RABBIT_LOG = join(RABBIT_DIR, "log", `${RABBIT_NODE}.log`);
const RABBIT_PID = join(RUN, "rabbitmq.pid");

const isRoot = Deno.uid() === 0;

// ---------------------------------------------------------------------------------------------------------
// Small helpers: logging, running commands, processes, waiting
// ---------------------------------------------------------------------------------------------------------

function log(component: string, message: string): void {
  console.error(`[infra] ${component}: ${message}`);
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Return the result instead of throwing when the command exits non-zero. */
  allowFail?: boolean;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with its output captured (never on our stdout, which is for `export`s). */
async function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const [command, ...args] = argv;
  const output = await new Deno.Command(command, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const result = {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  if (result.code !== 0 && !options.allowFail) {
    const detail = tail(`${result.stdout}\n${result.stderr}`, 30);
    throw new Error(`\`${argv.join(" ")}\` exited with code ${result.code}\n${detail}`);
  }
  return result;
}

function tail(text: string, lines: number): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

async function logTail(file: string): Promise<string> {
  try {
    return `last lines of ${file}:\n${tail(await Deno.readTextFile(file), 20)}`;
  } catch {
    return `(no log at ${file})`;
  }
}

/** Finds an executable on PATH, also in the sbin directories that a non-root PATH usually lacks. */
function which(name: string): string | undefined {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = parseInt((await Deno.readTextFile(pidFile)).trim(), 10);
    return Number.isFinite(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `pid` is a live (non-zombie) process whose command line contains `hint`. The hint guards
 * against a stale pid file whose number the kernel has since given to an unrelated process. Leave it out
 * for a process we have just spawned: while it execs, its command line reads as empty for a moment.
 */
async function processAlive(pid: number, hint?: string): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false;
    if (hint === undefined) return true;
    const cmdline = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).replaceAll("\0", " ");
    return cmdline.includes(hint);
  } catch {
    return false;
  }
}

/** The pid from `pidFile` if that process is still running, else undefined. */
async function runningPid(pidFile: string, hint: string): Promise<number | undefined> {
  const pid = await readPid(pidFile);
  return pid !== undefined && await processAlive(pid, hint) ? pid : undefined;
}

/** Stops a process by pid: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
async function killPid(pid: number, hint: string, graceMs = 10_000): Promise<void> {
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!await processAlive(pid, hint)) return;
    await sleep(200);
  }
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // exited between the check and the kill
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface WaitOptions {
  timeoutMs: number;
  logFile: string;
  /** Checked on every round so that a crashed server fails fast instead of at the timeout. */
  stillStarting?: () => Promise<boolean>;
}

/** Polls `check` until it returns true; on failure the error names the log file and quotes its tail. */
async function waitUntil(what: string, check: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (options.stillStarting && !await options.stillStarting()) {
      throw new Error(
        `${what} exited while starting; see ${options.logFile}\n${await logTail(options.logFile)}`,
      );
    }
    await sleep(300);
  }
  throw new Error(
    `${what} did not answer within ${options.timeoutMs / 1000} s; see ${options.logFile}\n` +
      await logTail(options.logFile),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Raw protocol checks: cheap proof that a server really speaks its protocol, not just that a port is open
// ---------------------------------------------------------------------------------------------------------

/** Sends `request` (if any) and reads until `enough(bytes)` says the reply is complete, within 2 s. */
async function exchange(
  port: number,
  request: Uint8Array | undefined,
  enough: (bytes: Uint8Array) => boolean,
): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: HOST, port });
  const timer = setTimeout(() => conn.close(), 2000);
  let received: Uint8Array = new Uint8Array(0);
  try {
    if (request) await conn.write(request);
    const buffer = new Uint8Array(4096);
    while (!enough(received)) {
      const n = await conn.read(buffer);
      if (n === null) break;
      received = concat(received, buffer.subarray(0, n));
    }
    return received;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // already closed by the timer
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function portOpen(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: HOST, port })).close();
    return true;
  } catch {
    return false;
  }
}

/** AMQP 0-9-1: after the protocol header the broker must answer with a Connection.Start method frame. */
async function amqpAnswers(port: number): Promise<boolean> {
  const header = new Uint8Array([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]); // "AMQP" 0 0 9 1
  const reply = await exchange(port, header, (bytes) => bytes.length >= 11);
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  // frame type 1 (method), channel 0, ..., class 10 (connection), method 10 (start)
  return reply.length >= 11 && reply[0] === 1 && view.getUint16(7) === 10 && view.getUint16(9) === 10;
}

/** Redis: PING must answer +PONG. */
async function redisAnswers(port: number): Promise<boolean> {
  const reply = await exchange(port, new TextEncoder().encode("PING\r\n"), (bytes) => bytes.includes(10));
  return new TextDecoder().decode(reply).startsWith("+PONG");
}

/** MongoDB wire protocol: an OP_MSG `{ping: 1, $db: "admin"}` must come back with `ok: 1`. */
async function mongoAnswers(port: number): Promise<boolean> {
  const reply = await exchange(port, mongoPing(), (bytes) => {
    return bytes.length >= 4 &&
      bytes.length >= new DataView(bytes.buffer, bytes.byteOffset).getInt32(0, true);
  });
  return reply.length > 21 && mongoReplyOk(reply.subarray(21)); // 16 header + 4 flags + 1 section kind
}

function mongoPing(): Uint8Array {
  const encoder = new TextEncoder();
  const cstring = (s: string) => [...encoder.encode(s), 0];
  const int32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
  const elements = [
    0x10,
    ...cstring("ping"),
    ...int32(1), // int32 field
    0x02,
    ...cstring("$db"),
    ...int32(6),
    ...cstring("admin"), // string field
  ];
  const document = [...int32(4 + elements.length + 1), ...elements, 0];
  const body = [...int32(0), 0, ...document]; // flagBits, section kind 0 (body), the document
  const OP_MSG = 2013;
  return new Uint8Array([...int32(16 + body.length), ...int32(1), ...int32(0), ...int32(OP_MSG), ...body]);
}

/** Finds the top-level `ok` field (double or int32) of a BSON reply and checks that it is 1. */
function mongoReplyOk(document: Uint8Array): boolean {
  const view = new DataView(document.buffer, document.byteOffset, document.byteLength);
  for (let i = 4; i + 4 < document.length; i++) {
    const isOk = document[i + 1] === 0x6f && document[i + 2] === 0x6b && document[i + 3] === 0; // "ok\0"
    if (!isOk) continue;
    if (document[i] === 0x01) return view.getFloat64(i + 4, true) === 1;
    if (document[i] === 0x10) return view.getInt32(i + 4, true) === 1;
  }
  return false;
}

async function httpAnswers(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await response.body?.cancel();
  return response.ok;
}

/** Refuses to start when someone else already listens on our port: we would report their server as ours. */
async function ensurePortFree(component: string, port: number, hint: string): Promise<void> {
  if (await portOpen(port)) {
    throw new Error(
      `${component}: ${HOST}:${port} is already in use by a process that infra.ts did not start. ${hint}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Distribution packages
// ---------------------------------------------------------------------------------------------------------

interface Package {
  name: string;
  /** The distribution service that the package starts on install (it would take our port). */
  service: string;
  installed: () => boolean;
}

const PACKAGES: Package[] = [
  { name: "postgresql", service: "postgresql", installed: () => postgresBinDir() !== undefined },
  {
    name: "redis-server",
    service: "redis-server",
    installed: () => which("redis-server") !== undefined && which("redis-cli") !== undefined,
  },
  { name: "rabbitmq-server", service: "rabbitmq-server", installed: () => rabbitScripts() !== undefined },
];

async function ensurePackages(): Promise<void> {
  const missing = PACKAGES.filter((p) => !p.installed());
  if (missing.length === 0) {
    log("packages", `${PACKAGES.map((p) => p.name).join(", ")} already installed`);
    return;
  }
  const names = missing.map((p) => p.name).join(" ");
  if (!isRoot) {
    throw new Error(`missing packages: ${names}. Install them first: sudo apt-get install -y ${names}`);
  }
  if (!which("apt-get")) throw new Error(`missing packages: ${names}, and apt-get is not available`);
  const started = performance.now();
  log("packages", `installing ${names} with apt-get (can take a few minutes) ...`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run(["apt-get", "update", "-q"], { env });
  await run(["apt-get", "install", "-y", "-q", "--no-install-recommends", ...missing.map((p) => p.name)], {
    env,
  });
  // Debian starts a system-wide server for each new package (where an init system runs); it would hold
  // the very ports we need, so stop the ones we just installed. Failures mean there was nothing to stop.
  for (const p of missing) await run(["service", p.service, "stop"], { allowFail: true }).catch(() => {});
  log("packages", `installed ${names} (${seconds(started)})`);
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------------------

/** The bin directory of the newest PostgreSQL in /usr/lib/postgresql (Debian's versioned layout). */
function postgresBinDir(version?: string): string | undefined {
  const versions: number[] = [];
  try {
    for (const entry of Deno.readDirSync("/usr/lib/postgresql")) {
      if (/^\d+$/.test(entry.name) && isExecutable(`/usr/lib/postgresql/${entry.name}/bin/initdb`)) {
        versions.push(Number(entry.name));
      }
    }
  } catch {
    return undefined;
  }
  if (version !== undefined) {
    return versions.includes(Number(version)) ? `/usr/lib/postgresql/${version}/bin` : undefined;
  }
  versions.sort((a, b) => b - a);
  return versions.length > 0 ? `/usr/lib/postgresql/${versions[0]}/bin` : undefined;
}

/** The major version that made the cluster in .infra, if there is one. */
function readClusterVersion(): string | undefined {
  try {
    return Deno.readTextFileSync(join(PG_DATA, "PG_VERSION")).trim();
  } catch {
    return undefined;
  }
}

/** The bin directory matching an existing cluster's major version, so an upgrade does not break it. */
function clusterBinDir(): string {
  const clusterVersion = readClusterVersion(); // undefined: no cluster yet, the newest server makes it
  const bin = postgresBinDir(clusterVersion);
  if (bin) return bin;
  throw new Error(
    clusterVersion
      ? `the cluster in ${PG_DATA} was made by PostgreSQL ${clusterVersion}, which is not installed; ` +
        `remove ${PG_DIR} to start afresh`
      : "PostgreSQL is not installed (/usr/lib/postgresql/*/bin)",
  );
}

/**
 * initdb refuses to run as root, so as root the server tools run as the `postgres` OS user (created by
 * the Debian package) and the cluster belongs to it; as a normal user they run as that user.
 */
function asPostgres(bin: string, tool: string, args: string[]): string[] {
  const path = join(bin, tool);
  return isRoot ? ["runuser", "-u", "postgres", "--", path, ...args] : [path, ...args];
}

async function chownToPostgres(paths: string[]): Promise<void> {
  if (!isRoot) return;
  const uid = Number((await run(["id", "-u", "postgres"])).stdout.trim());
  const gid = Number((await run(["id", "-g", "postgres"])).stdout.trim());
  for (const path of paths) await Deno.chown(path, uid, gid);
}

async function postgresRunning(bin: string): Promise<boolean> {
  if (!exists(join(PG_DATA, "PG_VERSION"))) return false;
  const status = await run(asPostgres(bin, "pg_ctl", ["status", "-D", PG_DATA]), {
    cwd: PG_DIR,
    allowFail: true,
  });
  return status.code === 0;
}

/** The port a running cluster really listens on (line 4 of postmaster.pid), in case the setting changed. */
async function runningPostgresPort(): Promise<number> {
  try {
    const port = Number((await Deno.readTextFile(join(PG_DATA, "postmaster.pid"))).split("\n")[3]);
    return Number.isInteger(port) && port > 0 ? port : PG_PORT;
  } catch {
    return PG_PORT;
  }
}

async function initPostgres(bin: string): Promise<void> {
  if (exists(join(PG_DATA, "PG_VERSION"))) {
    log("postgres", `cluster already initialised in ${PG_DATA}`);
    return;
  }
  await Deno.mkdir(PG_DIR, { recursive: true });
  await Deno.remove(PG_DATA, { recursive: true }).catch(() => {}); // a half-made cluster from a failed run
  const pwfile = join(PG_DIR, "pwfile");
  await Deno.writeTextFile(pwfile, "postgres\n", { mode: 0o600 });
  await chownToPostgres([PG_DIR, pwfile]);
  const started = performance.now();
  log("postgres", `initdb ${PG_DATA} ...`);
  try {
    await run(
      asPostgres(bin, "initdb", [
        "-D",
        PG_DATA,
        "--username=postgres",
        `--pwfile=${pwfile}`,
        "--auth=scram-sha-256", // password auth on the socket too, same as over TCP
        "--encoding=UTF8",
        "--locale=C", // deterministic sorting, and exists on every machine
      ]),
      { cwd: PG_DIR },
    );
  } finally {
    await Deno.remove(pwfile).catch(() => {});
  }
  // Our settings live in their own file, rewritten on every `up`, so postgresql.conf stays stock.
  await Deno.writeTextFile(join(PG_DATA, "postgresql.conf"), "\ninclude = 'multishop.conf'\n", {
    append: true,
  });
  log("postgres", `initdb done (${seconds(started)})`);
}

async function writePostgresSettings(): Promise<void> {
  const file = join(PG_DATA, "multishop.conf");
  await Deno.writeTextFile(
    file,
    [
      "# Written by tools/infra.ts on every `up`: change that script, not this file.",
      `listen_addresses = '${HOST}'`,
      `port = ${PG_PORT}`,
      `unix_socket_directories = '${PG_DIR.replaceAll("'", "''")}'`,
      "max_connections = 200 # test suites open many pools at once",
      "password_encryption = 'scram-sha-256'",
      "",
    ].join("\n"),
  );
  await chownToPostgres([file]);
}

async function upPostgres(): Promise<number> {
  const bin = clusterBinDir();
  if (await postgresRunning(bin)) {
    const port = await runningPostgresPort();
    log("postgres", `already running on ${HOST}:${port}`);
    await ensureFerretDatabase(bin, port);
    return port;
  }
  await initPostgres(bin);
  await writePostgresSettings();
  await ensurePortFree("postgres", PG_PORT, "Stop it (service postgresql stop) or set INFRA_POSTGRES_PORT.");
  const started = performance.now();
  log("postgres", `starting ${bin}/postgres on ${HOST}:${PG_PORT} ...`);
  try {
    await run(asPostgres(bin, "pg_ctl", ["-D", PG_DATA, "-l", PG_LOG, "-w", "-t", "60", "start"]), {
      cwd: PG_DIR,
    });
  } catch (error) {
    throw new Error(
      `postgres did not start; see ${PG_LOG}\n${(error as Error).message}\n${await logTail(PG_LOG)}`,
    );
  }
  await waitUntil("postgres", () => pgReady(bin, PG_PORT), { timeoutMs: 30_000, logFile: PG_LOG });
  log("postgres", `ready on ${HOST}:${PG_PORT} (${seconds(started)})`);
  await ensureFerretDatabase(bin, PG_PORT);
  return PG_PORT;
}

async function pgReady(bin: string, port: number): Promise<boolean> {
  const result = await run([join(bin, "pg_isready"), "-q", "-h", HOST, "-p", String(port), "-t", "2"], {
    allowFail: true,
  });
  return result.code === 0;
}

/** Runs SQL over TCP with the password, which also proves that password authentication works. */
function psql(bin: string, port: number, sql: string): Promise<RunResult> {
  return run(
    [
      join(bin, "psql"),
      "-h",
      HOST,
      "-p",
      String(port),
      "-U",
      "postgres",
      "-d",
      "postgres",
      "-tAX",
      "-c",
      sql,
    ],
    { env: { PGPASSWORD: "postgres", PGCONNECT_TIMEOUT: "5" } },
  );
}

async function ensureFerretDatabase(bin: string, port: number): Promise<void> {
  const found = await psql(bin, port, "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'");
  if (found.stdout.trim() === "1") return;
  await psql(bin, port, "CREATE DATABASE ferretdb");
  log("postgres", "created database ferretdb");
}

async function downPostgres(): Promise<void> {
  const bin = postgresBinDir(readClusterVersion()) ?? postgresBinDir();
  if (!bin || !await postgresRunning(bin)) {
    log("postgres", "not running");
    return;
  }
  await run(asPostgres(bin, "pg_ctl", ["-D", PG_DATA, "-m", "fast", "-w", "stop"]), { cwd: PG_DIR });
  log("postgres", "stopped");
}

// ---------------------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------------------

async function upRedis(): Promise<void> {
  if (await runningPid(REDIS_PID, "redis-server") && await redisAnswers(REDIS_PORT).catch(() => false)) {
    log("redis", `already running on ${HOST}:${REDIS_PORT}`);
    return;
  }
  await ensurePortFree("redis", REDIS_PORT, "Stop it first (service redis-server stop).");
  await Deno.mkdir(REDIS_DIR, { recursive: true });
  await Deno.mkdir(RUN, { recursive: true });
  const started = performance.now();
  log("redis", `starting redis-server on ${HOST}:${REDIS_PORT} ...`);
  // deno-fmt-ignore
  await run([
    which("redis-server")!,
    "--daemonize", "yes",
    "--bind", HOST,
    "--port", String(REDIS_PORT),
    "--dir", REDIS_DIR,
    "--logfile", REDIS_LOG,
    "--pidfile", REDIS_PID,
    "--save", "", // a cache and basket store for development: no snapshots
    "--appendonly", "no",
  ]);
  await waitUntil("redis", () => redisAnswers(REDIS_PORT), { timeoutMs: 15_000, logFile: REDIS_LOG });
  log("redis", `ready on ${HOST}:${REDIS_PORT} (${seconds(started)})`);
}

async function downRedis(): Promise<void> {
  const pid = await runningPid(REDIS_PID, "redis-server");
  if (!pid) {
    log("redis", "not running");
    return;
  }
  const cli = which("redis-cli");
  if (cli) await run([cli, "-h", HOST, "-p", String(REDIS_PORT), "shutdown", "nosave"], { allowFail: true });
  await killPid(pid, "redis-server"); // no-op when the shutdown above worked
  await Deno.remove(REDIS_PID).catch(() => {});
  log("redis", `stopped (pid ${pid})`);
}

// ---------------------------------------------------------------------------------------------------------
// RabbitMQ
// ---------------------------------------------------------------------------------------------------------

/**
 * The directory of the real RabbitMQ scripts. Debian's /usr/sbin/rabbitmq-* are wrappers that switch to
 * the `rabbitmq` user, cd to /var/lib/rabbitmq and send output to /var/log; the scripts behind them honour
 * our RABBITMQ_* variables and run as whoever calls them.
 */
function rabbitScripts(): string | undefined {
  if (isExecutable("/usr/lib/rabbitmq/bin/rabbitmq-server")) return "/usr/lib/rabbitmq/bin";
  const onPath = which("rabbitmq-server");
  return onPath ? dirname(onPath) : undefined;
}

/** Everything that keeps the node's state, config and Erlang cookie under .infra/rabbitmq. */
function rabbitEnv(): Record<string, string> {
  return {
    HOME: RABBIT_DIR, // the Erlang cookie is $HOME/.erlang.cookie, for the server and for rabbitmqctl
    RABBITMQ_NODENAME: RABBIT_NODE,
    RABBITMQ_NODE_IP_ADDRESS: HOST,
    RABBITMQ_NODE_PORT: String(AMQP_PORT),
    // Erlang distribution (CLI tools talk to the node through it) on loopback too, not on every interface.
    RABBITMQ_DIST_PORT: String(AMQP_PORT + 20000),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
    RABBITMQ_MNESIA_BASE: join(RABBIT_DIR, "mnesia"),
    RABBITMQ_LOG_BASE: join(RABBIT_DIR, "log"),
    RABBITMQ_PID_FILE: RABBIT_PID,
    // Our own (empty) files, so that the machine's /etc/rabbitmq does not leak into this node.
    RABBITMQ_CONF_ENV_FILE: join(RABBIT_DIR, "rabbitmq-env.conf"),
    RABBITMQ_CONFIG_FILE: join(RABBIT_DIR, "rabbitmq.conf"),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(RABBIT_DIR, "advanced.config"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(RABBIT_DIR, "enabled_plugins"),
    ERL_EPMD_ADDRESS: HOST, // the Erlang port mapper that the node starts listens on loopback only
  };
}

async function writeRabbitFiles(): Promise<void> {
  await Deno.mkdir(join(RABBIT_DIR, "log"), { recursive: true });
  await Deno.mkdir(RUN, { recursive: true });
  const note = "Written by tools/infra.ts";
  await Deno.writeTextFile(
    join(RABBIT_DIR, "rabbitmq-env.conf"),
    `# ${note}: settings come from the environment\n`,
  );
  await Deno.writeTextFile(
    join(RABBIT_DIR, "rabbitmq.conf"),
    `# ${note}: defaults (guest/guest on localhost)\n`,
  );
  await Deno.writeTextFile(join(RABBIT_DIR, "enabled_plugins"), "[].\n");
}

async function upRabbit(): Promise<void> {
  const scripts = rabbitScripts();
  if (!scripts) throw new Error("rabbitmq-server is not installed");
  if (await runningPid(RABBIT_PID, "beam") && await amqpAnswers(AMQP_PORT).catch(() => false)) {
    log("rabbitmq", `already running on ${HOST}:${AMQP_PORT}`);
    return;
  }
  await ensurePortFree("rabbitmq", AMQP_PORT, "Stop it first (service rabbitmq-server stop).");
  await writeRabbitFiles();
  const started = performance.now();
  log("rabbitmq", `starting node ${RABBIT_NODE} on ${HOST}:${AMQP_PORT} (takes 10-30 s) ...`);
  const start = await run([join(scripts, "rabbitmq-server"), "-detached"], {
    env: rabbitEnv(),
    cwd: RABBIT_DIR,
    allowFail: true,
  });
  if (start.code !== 0) {
    throw new Error(`rabbitmq-server -detached failed:\n${tail(start.stdout + start.stderr, 20)}`);
  }
  await waitUntil("rabbitmq", () => amqpAnswers(AMQP_PORT), {
    timeoutMs: 120_000,
    logFile: RABBIT_LOG,
    // The pid file appears early in the boot; once it exists, a dead pid means the boot failed.
    stillStarting: async () => !exists(RABBIT_PID) || await runningPid(RABBIT_PID, "beam") !== undefined,
  });
  log("rabbitmq", `ready on ${HOST}:${AMQP_PORT} (${seconds(started)})`);
}

async function downRabbit(): Promise<void> {
  const pid = await runningPid(RABBIT_PID, "beam");
  if (!pid) {
    log("rabbitmq", "not running");
    return;
  }
  const scripts = rabbitScripts();
  if (scripts) {
    // A clean stop lets the node flush its queues; kill only if it does not manage within a minute.
    await run([join(scripts, "rabbitmqctl"), "-n", RABBIT_NODE, "-t", "60", "stop", RABBIT_PID], {
      env: rabbitEnv(),
      cwd: RABBIT_DIR,
      allowFail: true,
    });
  }
  await killPid(pid, "beam");
  await Deno.remove(RABBIT_PID).catch(() => {});
  // The node started an Erlang port mapper (epmd); `epmd -kill` ends it only if no other node uses it.
  const epmd = which("epmd");
  if (epmd) await run([epmd, "-kill"], { allowFail: true, env: { ERL_EPMD_ADDRESS: HOST } });
  log("rabbitmq", `stopped (pid ${pid})`);
}

// ---------------------------------------------------------------------------------------------------------
// Go tools: FerretDB and fake-gcs-server
// ---------------------------------------------------------------------------------------------------------

interface GoTool {
  name: string;
  module: string;
  version: string;
  /** The main package, relative to the module root. */
  pkg: string;
  /** Arguments that make a working binary exit 0 quickly; a broken build is rebuilt. */
  probeArgs?: string[];
  /** Prepares a writable copy of the module source before `go build` (see buildFromSource). */
  prepareSource?: (dir: string) => Promise<void>;
}

const FERRETDB: GoTool = {
  name: "ferretdb",
  module: "github.com/FerretDB/FerretDB",
  version: "v1.24.0",
  pkg: "cmd/ferretdb",
  probeArgs: ["--version"],
  // A plain `go install ...@v1.24.0` builds a binary that panics at start ("Invalid
  // build/version/version.txt"): the release module lacks that generated file, so we provide it.
  prepareSource: (dir) => Deno.writeTextFile(join(dir, "build/version/version.txt"), "v1.24.0\n"),
};

const FAKE_GCS: GoTool = {
  name: "fake-gcs-server",
  module: "github.com/fsouza/fake-gcs-server",
  version: "v1.56.1",
  pkg: ".",
};

async function ensureGoTool(go: string, tool: GoTool): Promise<string> {
  const binary = join(BIN, tool.name);
  if (isExecutable(binary) && await probe(binary, tool)) {
    log(tool.name, `already built (${binary})`);
    return binary;
  }
  await Deno.mkdir(BIN, { recursive: true });
  const started = performance.now();
  log(tool.name, `building ${tool.module}@${tool.version} with go (a few minutes on a cold cache) ...`);
  if (tool.prepareSource) {
    await buildFromSource(go, tool, binary);
  } else {
    const target = `${tool.module}${tool.pkg === "." ? "" : `/${tool.pkg}`}@${tool.version}`;
    const installed = await run([go, "install", target], { env: { GOBIN: BIN }, allowFail: true });
    // `go install pkg@version` also asks the module proxy for the version list (to report deprecations);
    // proxies that refuse that listing make it fail, while building from the downloaded module works.
    if (installed.code !== 0) {
      log(tool.name, `go install failed (${tail(installed.stderr, 1)}); building from the module source`);
      await buildFromSource(go, tool, binary);
    }
  }
  if (!await probe(binary, tool)) throw new Error(`${binary} was built but does not run`);
  log(tool.name, `built ${binary} (${seconds(started)})`);
  return binary;
}

async function probe(binary: string, tool: GoTool): Promise<boolean> {
  if (!tool.probeArgs) return true;
  return (await run([binary, ...tool.probeArgs], { allowFail: true })).code === 0;
}

/** Downloads the module at its exact version, builds its main package from a writable copy. */
async function buildFromSource(go: string, tool: GoTool, binary: string): Promise<void> {
  const download = await run([go, "mod", "download", "-json", `${tool.module}@${tool.version}`]);
  const moduleDir = (JSON.parse(download.stdout) as { Dir: string }).Dir;
  const work = await Deno.makeTempDir({ prefix: `infra-${tool.name}-` });
  try {
    const source = join(work, "src");
    await run(["cp", "-r", moduleDir, source]);
    await run(["chmod", "-R", "u+w", source]); // the module cache is read-only
    await tool.prepareSource?.(source);
    // -buildvcs=false: the copy has no VCS metadata worth stamping (and may sit inside another repository).
    await run([go, "build", "-buildvcs=false", "-trimpath", "-o", binary, `./${tool.pkg}`], { cwd: source });
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/**
 * Starts a server detached: its own session (setsid) and immune to hangups (nohup), output to a log file,
 * so it outlives this process. `$!` of the background job is the server itself, since both setsid
 * (not a group leader here) and nohup exec in place.
 */
async function startDetached(argv: string[], logFile: string, pidFile: string): Promise<number> {
  await Deno.mkdir(RUN, { recursive: true });
  const script = 'setsid nohup "$@" >>"$LOG_FILE" 2>&1 </dev/null & echo $!';
  const { stdout } = await run(["sh", "-c", script, "sh", ...argv], { env: { LOG_FILE: logFile } });
  const pid = parseInt(stdout.trim(), 10);
  await Deno.writeTextFile(pidFile, `${pid}\n`);
  return pid;
}

interface GoServer {
  tool: GoTool;
  port: number;
  logFile: string;
  args: string[];
  answers: () => Promise<boolean>;
}

async function upGoServer(go: string, server: GoServer): Promise<void> {
  const name = server.tool.name;
  const pidFile = join(RUN, `${name}.pid`);
  const binary = await ensureGoTool(go, server.tool);
  if (await runningPid(pidFile, binary) && await server.answers().catch(() => false)) {
    log(name, `already running on ${HOST}:${server.port}`);
    return;
  }
  await ensurePortFree(name, server.port, "Stop it first.");
  const started = performance.now();
  log(name, `starting on ${HOST}:${server.port} (log ${server.logFile}) ...`);
  const pid = await startDetached([binary, ...server.args], server.logFile, pidFile);
  await waitUntil(name, server.answers, {
    timeoutMs: 30_000,
    logFile: server.logFile,
    stillStarting: () => processAlive(pid),
  });
  log(name, `ready on ${HOST}:${server.port} (${seconds(started)})`);
}

function ferretServer(pgPort: number): GoServer {
  return {
    tool: FERRETDB,
    port: MONGO_PORT,
    logFile: join(INFRA, "ferretdb.log"),
    args: [
      `--listen-addr=${HOST}:${MONGO_PORT}`,
      "--handler=postgresql",
      `--postgresql-url=postgres://postgres:postgres@${HOST}:${pgPort}/ferretdb`,
      `--state-dir=${join(INFRA, "ferretdb")}`,
      "--telemetry=disable",
      "--debug-addr=-", // no metrics/pprof listener (it would take port 8088)
    ],
    answers: () => mongoAnswers(MONGO_PORT),
  };
}

const GCS_SERVER: GoServer = {
  tool: FAKE_GCS,
  port: GCS_PORT,
  logFile: join(INFRA, "fake-gcs-server.log"),
  // deno-fmt-ignore
  args: [
    "-scheme", "http",
    "-host", HOST,
    "-port", String(GCS_PORT),
    "-backend", "filesystem",
    "-filesystem-root", join(INFRA, "gcs"),
    "-public-host", `${HOST}:${GCS_PORT}`,
    "-external-url", `http://${HOST}:${GCS_PORT}`,
  ],
  answers: () => httpAnswers(`http://${HOST}:${GCS_PORT}/storage/v1/b`),
};

async function downGoServer(tool: GoTool): Promise<void> {
  const pidFile = join(RUN, `${tool.name}.pid`);
  const pid = await runningPid(pidFile, join(BIN, tool.name));
  if (!pid) {
    log(tool.name, "not running");
  } else {
    await killPid(pid, join(BIN, tool.name));
    log(tool.name, `stopped (pid ${pid})`);
  }
  await Deno.remove(pidFile).catch(() => {});
}

// ---------------------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------------------

/** Runs independent chains concurrently and reports every failure, not just the first. */
async function all(tasks: Promise<unknown>[]): Promise<void> {
  const failures = (await Promise.allSettled(tasks)).filter((r) => r.status === "rejected");
  if (failures.length > 0) {
    throw new Error(failures.map((f) => ((f as PromiseRejectedResult).reason as Error).message).join("\n\n"));
  }
}

/**
 * As root, PostgreSQL runs as the postgres OS user, which must be able to enter its data folder. A
 * checkout in a private folder (`mktemp -d`, a home directory) does not allow that; its cluster then
 * lives under postgres's own home, in a folder named after the checkout's path.
 */
async function locatePostgres(): Promise<void> {
  if (!isRoot) return;
  const canEnter = await run(["runuser", "-u", "postgres", "--", "test", "-x", ROOT], { allowFail: true })
    .then((result) => result.code === 0, () => false);
  if (canEnter) return;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(ROOT));
  const name = Array.from(new Uint8Array(digest).slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
  PG_DIR = join("/var/lib/postgresql/multishop", name);
  PG_DATA = join(PG_DIR, "data");
  PG_LOG = join(PG_DIR, "postgres.log");
  if (!exists(PG_DIR)) {
    log("postgres", `the postgres OS user cannot enter ${ROOT}; its cluster goes to ${PG_DIR}`);
  }
  await Deno.mkdir("/var/lib/postgresql/multishop", { recursive: true });
}

async function up(): Promise<void> {
  const started = performance.now();
  await Deno.mkdir(RUN, { recursive: true });
  await ensurePackages();
  await locatePostgres();
  const env: Record<string, string> = {};
  const go = which("go");
  if (!go) {
    log("go", "not found: skipping FerretDB and fake-gcs-server (MONGO_URL, STORAGE_EMULATOR_HOST unset)");
  }

  // Independent chains run concurrently, so RabbitMQ's slow boot overlaps the rest.
  const chains: Promise<unknown>[] = [
    (async () => {
      const pgPort = await upPostgres();
      env.POSTGRES_URL = `postgres://postgres:postgres@${HOST}:${pgPort}/postgres`;
      if (go) {
        await upGoServer(go, ferretServer(pgPort));
        env.MONGO_URL = `mongodb://${HOST}:${MONGO_PORT}`;
      }
    })(),
    upRedis().then(() => env.REDIS_URL = `redis://${HOST}:${REDIS_PORT}`),
    upRabbit().then(() => env.AMQP_URL = `amqp://guest:guest@${HOST}:${AMQP_PORT}`),
  ];
  if (go) {
    chains.push(
      upGoServer(go, GCS_SERVER).then(() => env.STORAGE_EMULATOR_HOST = `http://${HOST}:${GCS_PORT}`),
    );
  }
  await all(chains);

  const order = ["POSTGRES_URL", "REDIS_URL", "AMQP_URL", "MONGO_URL", "STORAGE_EMULATOR_HOST"];
  const lines = order.filter((name) => env[name]).map((name) => `export ${name}=${env[name]}`).join("\n") +
    "\n";
  await Deno.writeTextFile(ENV_FILE, lines);
  log("done", `all up in ${seconds(started)}; the variables are also in ${ENV_FILE}`);
  await Deno.stdout.write(new TextEncoder().encode(lines));
}

async function down(): Promise<void> {
  await locatePostgres();
  await all([
    downGoServer(FERRETDB).then(downPostgres), // FerretDB holds connections to PostgreSQL
    downGoServer(FAKE_GCS),
    downRedis(),
    downRabbit(),
  ]);
  await Deno.remove(ENV_FILE).catch(() => {}); // its variables now point at nothing
}

async function printEnv(): Promise<void> {
  try {
    await Deno.stdout.write(await Deno.readFile(ENV_FILE));
  } catch {
    throw new Error(`${ENV_FILE} does not exist: run \`deno task infra:up\` first`);
  }
}

if (import.meta.main) {
  const commands: Record<string, () => Promise<void>> = { up, down, env: printEnv };
  const command = commands[Deno.args[0] ?? ""];
  if (!command) {
    console.error("usage: deno run -A tools/infra.ts up|down|env");
    Deno.exit(2);
  }
  try {
    await command();
  } catch (error) {
    console.error(`[infra] error: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
