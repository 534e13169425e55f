/**
 * Static checks of compose.yaml (no Docker needed): the mistakes that otherwise show up only when someone
 * runs `docker compose up`. Each rule is a function that returns the problems it finds; every rule is run
 * on the real file (expecting none) and on a deliberately broken copy (expecting its complaint), so a rule
 * that stopped working would fail too.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { base64url } from "jose";
import { type Document, isScalar, isSeq, parseDocument, Scalar } from "yaml";
import { type EdgeBindings, edgeConfig } from "../edge/src/config.ts";
import { loadBasketConfig } from "../services/basket/config.ts";
import { loadCatalogConfig } from "../services/catalog/config.ts";
import { loadDiscountConfig } from "../services/discount/config.ts";
import { loadInventoryConfig } from "../services/inventory/config.ts";
import { loadCargoConfig } from "../services/cargo/config.ts";
import { loadCommentConfig } from "../services/comment/config.ts";
import { loadDashboardConfig } from "../services/dashboard/config.ts";
import { loadMessageConfig } from "../services/message/config.ts";
import { loadOrderConfig } from "../services/order/config.ts";
import { loadPaymentConfig } from "../services/payment/config.ts";
import { loadIdentityConfig } from "../services/identity/config.ts";
import { loadImagesConfig } from "../services/images/config.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const COMPOSE_FILE = join(ROOT, "compose.yaml");

// deno-lint-ignore no-explicit-any
type Json = any;
type Compose = Record<string, Json>;

/** What the rules may ask of the disk; the broken-copy tests swap in a fake. */
interface Disk {
  isFile(path: string): boolean;
  isDir(path: string): boolean;
  read(path: string): string;
}

const realDisk: Disk = {
  isFile: (path) => existsSync(path) && statSync(path).isFile(),
  isDir: (path) => existsSync(path) && statSync(path).isDirectory(),
  read: (path) => readFileSync(path, "utf8"),
};

function parseYaml(text: string): Document {
  const document = parseDocument(text);
  assert.deepEqual(document.errors.map((e) => e.message), [], "compose.yaml must parse as YAML");
  return document;
}

function services(compose: Compose): [string, Json][] {
  return Object.entries(compose.services ?? {}).map(([name, service]) => [name, service ?? {}]);
}

/** depends_on comes as a list of names or as a map of name -> {condition}. */
function dependencies(service: Json): [string, string][] {
  const dependsOn = service.depends_on ?? [];
  if (Array.isArray(dependsOn)) return dependsOn.map((name: string) => [name, "service_started"]);
  return Object.entries(dependsOn).map((
    [name, spec],
  ) => [name, (spec as Json)?.condition ?? "service_started"]);
}

/** build comes as a context path or as {context, dockerfile, args}. */
function buildSpec(
  service: Json,
): { context: string; dockerfile: string; args: Record<string, string> } | undefined {
  if (service.build === undefined) return undefined;
  if (typeof service.build === "string") {
    return { context: service.build, dockerfile: "Dockerfile", args: {} };
  }
  const args = Array.isArray(service.build.args)
    ? Object.fromEntries(service.build.args.map((a: string) => a.split("=", 2)))
    : service.build.args ?? {};
  return {
    context: service.build.context ?? ".",
    dockerfile: service.build.dockerfile ?? "Dockerfile",
    args,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------------------

const KNOWN_TOP_LEVEL = new Set(["name", "services", "networks", "volumes", "configs", "secrets", "include"]);

function checkTopLevelKeys(compose: Compose): string[] {
  const problems = Object.keys(compose)
    .filter((key) => !KNOWN_TOP_LEVEL.has(key) && !key.startsWith("x-")) // x-* are compose extensions
    .map((key) => `unknown top-level key "${key}"`);
  if (typeof compose.services !== "object" || compose.services === null) problems.push("no services");
  return problems;
}

function checkImageOrBuild(compose: Compose): string[] {
  return services(compose)
    .filter(([, service]) => !service?.image && !service?.build)
    .map(([name]) => `service "${name}" has neither image nor build`);
}

const CONDITIONS = new Set(["service_started", "service_healthy", "service_completed_successfully"]);

function checkDependsOn(compose: Compose): string[] {
  const problems: string[] = [];
  for (const [name, service] of services(compose)) {
    for (const [target, condition] of dependencies(service)) {
      if (!compose.services[target]) {
        problems.push(`service "${name}" depends on missing service "${target}"`);
      }
      if (!CONDITIONS.has(condition)) {
        problems.push(`service "${name}": unknown depends_on condition "${condition}"`);
      }
    }
  }
  return problems;
}

/** Services that others wait for with service_healthy must define how their health is tested. */
function checkHealthchecks(compose: Compose): string[] {
  const problems: string[] = [];
  for (const [name, service] of services(compose)) {
    for (const [target, condition] of dependencies(service)) {
      const test = compose.services[target]?.healthcheck?.test;
      if (condition !== "service_healthy" || !compose.services[target]) continue;
      const valid = typeof test === "string" ? test.trim() !== "" : Array.isArray(test) &&
        ["CMD", "CMD-SHELL"].includes(test[0]) && test.length > 1;
      if (!valid) {
        problems.push(
          `service "${name}" waits for "${target}" to be healthy, but it has no healthcheck test`,
        );
      }
    }
  }
  return problems;
}

function checkBuildPaths(compose: Compose, disk: Disk): string[] {
  const problems: string[] = [];
  for (const [name, service] of services(compose)) {
    const build = buildSpec(service);
    if (!build) continue;
    const context = join(ROOT, build.context);
    if (!disk.isDir(context)) {
      problems.push(`service "${name}": build context ${build.context} does not exist`);
    } else if (!disk.isFile(join(context, build.dockerfile))) {
      problems.push(`service "${name}": Dockerfile ${build.dockerfile} does not exist`);
    }
  }
  return problems;
}

/** A volume source that is not a path is a named volume and must be declared under top-level volumes. */
function checkVolumes(compose: Compose, disk: Disk): string[] {
  const declared = new Set(Object.keys(compose.volumes ?? {}));
  const problems: string[] = [];
  for (const [name, service] of services(compose)) {
    for (const volume of service.volumes ?? []) {
      const source = typeof volume === "string" ? volume.split(":")[0] : volume.source;
      const isPath = /^[./~]/.test(source ?? "");
      if (typeof volume === "string" && !volume.includes(":")) continue; // anonymous volume
      if (isPath) {
        if (!disk.isFile(join(ROOT, source)) && !disk.isDir(join(ROOT, source))) {
          problems.push(`service "${name}": bind mount source ${source} does not exist`);
        }
      } else if (!declared.has(source)) {
        problems.push(`service "${name}" uses volume "${source}", which is not declared under volumes`);
      }
    }
  }
  return problems;
}

/** Ports are "[address:]host:container" strings of numbers in range, each host port published once. */
function checkPorts(compose: Compose): string[] {
  const problems: string[] = [];
  const hostPorts = new Map<string, string>();
  for (const [name, service] of services(compose)) {
    for (const port of service.ports ?? []) {
      const match = typeof port === "string" ? /^(?:(\d+\.\d+\.\d+\.\d+):)?(\d+):(\d+)$/.exec(port) : null;
      if (!match) {
        problems.push(`service "${name}": port ${JSON.stringify(port)} is not a "host:container" string`);
        continue;
      }
      for (const n of [match[2], match[3]]) {
        if (Number(n) < 1 || Number(n) > 65535) problems.push(`service "${name}": port ${n} is out of range`);
      }
      const owner = hostPorts.get(match[2]);
      if (owner) problems.push(`services "${owner}" and "${name}" both publish host port ${match[2]}`);
      hostPorts.set(match[2], name);
    }
  }
  return problems;
}

/**
 * Clients reach the shop through the edge alone: a service published on the host could be called
 * around the edge's authentication and rate limits. Only the edge is published on every interface;
 * the infrastructure (images that are not built here) only on 127.0.0.1, for tests on the host; the
 * services not at all.
 */
function checkExposure(compose: Compose): string[] {
  const problems: string[] = [];
  for (const [name, service] of services(compose)) {
    const ports: string[] = (service.ports ?? []).map(String);
    if (name === "edge") continue;
    if (buildSpec(service)) {
      if (ports.length > 0) {
        problems.push(`service "${name}" publishes ${ports.join(", ")}; only the edge may`);
      }
    } else {
      for (const port of ports.filter((port) => !port.startsWith("127.0.0.1:"))) {
        problems.push(`service "${name}" publishes ${port} beyond 127.0.0.1`);
      }
    }
  }
  if (!(compose.services.edge?.ports ?? []).length) problems.push(`the edge is not published`);
  return problems;
}

/**
 * Ports must be quoted in the file itself: YAML 1.1 readers take an unquoted `22:22` for the base-60
 * number 1342, and the parsed value cannot show whether quotes were there.
 */
function checkPortsQuoted(document: Document): string[] {
  const problems: string[] = [];
  for (const name of Object.keys(document.toJS().services ?? {})) {
    const ports = document.getIn(["services", name, "ports"], true);
    if (!isSeq(ports)) continue;
    for (const item of ports.items) {
      const quoted = isScalar(item) &&
        (item.type === Scalar.QUOTE_DOUBLE || item.type === Scalar.QUOTE_SINGLE);
      if (!quoted) problems.push(`service "${name}": port ${String(item)} must be a quoted string`);
    }
  }
  return problems;
}

/**
 * Compose interpolates `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`,
 * `${NAME?error}`, `${NAME:+alt}` and `${NAME+alt}`; `$$` is a literal dollar. Anything else is an error
 * at `docker compose up`, e.g. `${NAME:default}` or an unclosed `${NAME`.
 */
const INTERPOLATION = /\$(?:\$|\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)/y;

function checkInterpolation(compose: Compose): string[] {
  const problems: string[] = [];
  const visit = (value: Json, path: string) => {
    if (typeof value === "string") {
      for (let i = value.indexOf("$"); i !== -1; i = value.indexOf("$", i)) {
        INTERPOLATION.lastIndex = i;
        const match = INTERPOLATION.exec(value);
        if (!match) {
          problems.push(`${path}: malformed variable substitution in ${JSON.stringify(value)}`);
          break;
        }
        i += match[0].length;
      }
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => visit(item, `${path}[${index}]`));
    } else if (value && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) visit(item, path ? `${path}.${key}` : key);
    }
  };
  visit(compose, "");
  return problems;
}

/** The Dockerfile builds one image per service: it needs FROM, an ARG SERVICE it uses, and compose must pass it. */
function checkDockerfiles(compose: Compose, disk: Disk): string[] {
  const problems: string[] = [];
  for (const [name, service] of services(compose)) {
    const build = buildSpec(service);
    if (!build) continue;
    const path = join(ROOT, build.context, build.dockerfile);
    if (!disk.isFile(path)) continue; // reported by checkBuildPaths
    const lines = disk.read(path).split("\n").map((line) => line.trim()).filter((l) =>
      l && !l.startsWith("#")
    );
    if (!lines.some((line) => /^FROM\s+\S/i.test(line))) problems.push(`${build.dockerfile} has no FROM`);
    const argLine = lines.findIndex((line) => /^ARG\s+SERVICE(=|\s|$)/i.test(line));
    if (argLine === -1) {
      problems.push(`${build.dockerfile} does not declare ARG SERVICE`);
    } else if (!lines.slice(argLine + 1).some((line) => /\$\{?SERVICE\b/.test(line))) {
      problems.push(`${build.dockerfile} declares ARG SERVICE but never uses it`);
    }
    if (!build.args.SERVICE) {
      problems.push(`service "${name}" builds ${build.dockerfile} without args.SERVICE`);
    } else {
      // The entry point the container runs: ENTRY when given, else the service's main.ts.
      const entry = build.args.ENTRY ?? `services/${build.args.SERVICE}/main.ts`;
      if (!disk.isFile(join(ROOT, entry))) {
        problems.push(`service "${name}": its entry point ${entry} does not exist`);
      }
    }
  }
  return problems;
}

/** Every database that a service's POSTGRES_URL names is created by the postgres init script. */
function checkDatabases(compose: Compose, disk: Disk): string[] {
  const initScript = join(ROOT, "infra/postgres-init.sql");
  const created = new Set(
    [...(disk.isFile(initScript) ? disk.read(initScript) : "").matchAll(/CREATE DATABASE\s+"?(\w+)"?/gi)]
      .map((m) => m[1]),
  );
  const problems: string[] = [];
  for (const [name, service] of services(compose)) {
    const url = service.environment?.POSTGRES_URL;
    if (typeof url !== "string") continue;
    const database = new URL(url).pathname.slice(1);
    if (database !== "postgres" && !created.has(database)) {
      problems.push(
        `service "${name}" uses database "${database}", which infra/postgres-init.sql does not create`,
      );
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------
// Tests: the real file passes every rule...
// ---------------------------------------------------------------------------------------------------------

const composeDocument = parseYaml(readFileSync(COMPOSE_FILE, "utf8"));
const compose: Compose = composeDocument.toJS();

Deno.test("compose.yaml parses to a mapping with services", () => {
  assert.equal(typeof compose, "object");
  assert.ok(Object.keys(compose.services).length > 0);
});

Deno.test("compose.yaml has only known top-level keys", () => {
  assert.deepEqual(checkTopLevelKeys(compose), []);
});

Deno.test("every service has an image or a build", () => {
  assert.deepEqual(checkImageOrBuild(compose), []);
});

Deno.test("every depends_on target exists, with a known condition", () => {
  assert.deepEqual(checkDependsOn(compose), []);
});

Deno.test("services waited for with service_healthy have a healthcheck test", () => {
  assert.deepEqual(checkHealthchecks(compose), []);
});

Deno.test("build contexts and Dockerfiles exist", () => {
  assert.deepEqual(checkBuildPaths(compose, realDisk), []);
});

Deno.test("named volumes are declared and bind mounts exist", () => {
  assert.deepEqual(checkVolumes(compose, realDisk), []);
});

Deno.test("ports are unique, quoted host:container strings", () => {
  assert.deepEqual(checkPorts(compose), []);
  assert.deepEqual(checkPortsQuoted(composeDocument), []);
});

Deno.test("only the edge is published; the infrastructure on 127.0.0.1 only", () => {
  assert.deepEqual(checkExposure(compose), []);
});

Deno.test("variable substitutions are well-formed", () => {
  assert.deepEqual(checkInterpolation(compose), []);
});

Deno.test("the Dockerfile has FROM and uses ARG SERVICE, which compose passes", () => {
  assert.deepEqual(checkDockerfiles(compose, realDisk), []);
});

Deno.test("every POSTGRES_URL database is created by the init script", () => {
  assert.deepEqual(checkDatabases(compose, realDisk), []);
});

Deno.test("the infrastructure the services need is all there", () => {
  const images = services(compose).map(([, service]) => String(service.image ?? ""));
  for (const expected of ["postgres:", "mongo:", "redis:", "rabbitmq:", "fsouza/fake-gcs-server"]) {
    assert.ok(images.some((image) => image.startsWith(expected)), `no ${expected} image in compose.yaml`);
  }
});

// ---------------------------------------------------------------------------------------------------------
// ... and each rule catches its mistake in a broken copy
// ---------------------------------------------------------------------------------------------------------

function broken(change: (copy: Compose) => void): Compose {
  const copy = structuredClone(compose);
  change(copy);
  return copy;
}

/** A disk on which some paths are missing, or some files read differently. */
function fakeDisk(missing: string[], contents: Record<string, string> = {}): Disk {
  const gone = (path: string) => missing.some((m) => path === join(ROOT, m));
  return {
    isFile: (path) => !gone(path) && (path in contents || realDisk.isFile(path)),
    isDir: (path) => !gone(path) && realDisk.isDir(path),
    read: (path) => contents[path] ?? realDisk.read(path),
  };
}

function assertComplains(problems: string[], pattern: RegExp): void {
  assert.ok(problems.some((p) => pattern.test(p)), `expected a problem matching ${pattern}, got ${problems}`);
}

Deno.test("rules catch an unknown top-level key", () => {
  assertComplains(checkTopLevelKeys(broken((c) => c.service = {})), /unknown top-level key "service"/);
});

Deno.test("rules catch a service without image or build", () => {
  assertComplains(checkImageOrBuild(broken((c) => c.services.empty = { ports: [] })), /"empty" has neither/);
});

Deno.test("rules catch a dangling depends_on, in map and list form", () => {
  const asMap = broken((c) => c.services.identity.depends_on = { ghost: { condition: "service_healthy" } });
  assertComplains(checkDependsOn(asMap), /missing service "ghost"/);
  const asList = broken((c) => c.services.identity.depends_on = ["postgres", "ghost"]);
  assertComplains(checkDependsOn(asList), /missing service "ghost"/);
  const badCondition = broken((c) => c.services.identity.depends_on = { postgres: { condition: "healthy" } });
  assertComplains(checkDependsOn(badCondition), /unknown depends_on condition/);
});

Deno.test("rules catch service_healthy on a service without healthcheck", () => {
  assertComplains(
    checkHealthchecks(broken((c) => delete c.services.postgres.healthcheck)),
    /no healthcheck test/,
  );
});

Deno.test("rules catch a missing build context or Dockerfile", () => {
  const identity = buildSpec(compose.services.identity)!;
  assertComplains(checkBuildPaths(compose, fakeDisk([identity.dockerfile])), /Dockerfile .* does not exist/);
  const elsewhere = broken((c) => c.services.identity.build.context = "./no-such-dir");
  assertComplains(checkBuildPaths(elsewhere, realDisk), /build context .* does not exist/);
});

Deno.test("rules catch an undeclared named volume and a missing bind mount", () => {
  const undeclared = broken((c) => delete c.volumes["postgres-data"]);
  assertComplains(checkVolumes(undeclared, realDisk), /"postgres-data", which is not declared/);
  assertComplains(checkVolumes(compose, fakeDisk(["infra/postgres-init.sql"])), /bind mount source/);
});

Deno.test("rules catch malformed and duplicate ports", () => {
  assertComplains(
    checkPorts(broken((c) => c.services.redis.ports = [6379])),
    /not a "host:container" string/,
  );
  assertComplains(
    checkPorts(broken((c) => c.services.redis.ports = ["63a9:6379"])),
    /not a "host:container"/,
  );
  assertComplains(
    checkPorts(broken((c) => c.services.redis.ports = ["5432:6379"])),
    /both publish host port 5432/,
  );
});

Deno.test("rules catch a published service and infrastructure published beyond 127.0.0.1", () => {
  assertComplains(
    checkExposure(broken((c) => c.services.identity.ports = ["5001:5001"])),
    /"identity" publishes 5001:5001; only the edge may/,
  );
  assertComplains(
    checkExposure(broken((c) => c.services.postgres.ports = ["5432:5432"])),
    /"postgres" publishes 5432:5432 beyond 127.0.0.1/,
  );
  assertComplains(checkExposure(broken((c) => delete c.services.edge.ports)), /the edge is not published/);
});

Deno.test("rules catch malformed variable substitutions", () => {
  for (const bad of ["${ADMIN_EMAIL", "${ADMIN_EMAIL:admin}", "${}", "${1X}", "cost: $5"]) {
    const problems = checkInterpolation(broken((c) => c.services.identity.environment.ADMIN_EMAIL = bad));
    assertComplains(problems, /malformed variable substitution/);
  }
  for (const good of ["${A}", "${A:-x}", "${A-x}", "${A:?set A}", "${A:+y}", "$A", "$$5", "plain"]) {
    assert.deepEqual(checkInterpolation(broken((c) => c.services.identity.environment.X = good)), [], good);
  }
});

Deno.test("rules catch a Dockerfile without FROM or without a used ARG SERVICE", () => {
  const identity = buildSpec(compose.services.identity)!;
  const dockerfile = join(ROOT, identity.context, identity.dockerfile);
  const withoutFrom = fakeDisk([], {
    [dockerfile]: "ARG SERVICE\nCMD deno run services/${SERVICE}/main.ts\n",
  });
  assertComplains(checkDockerfiles(compose, withoutFrom), /has no FROM/);
  const unusedArg = fakeDisk([], { [dockerfile]: "FROM denoland/deno\nARG SERVICE\nCMD deno run main.ts\n" });
  assertComplains(checkDockerfiles(compose, unusedArg), /never uses it/);
  const noArg = fakeDisk([], { [dockerfile]: "FROM denoland/deno\nCMD deno run main.ts\n" });
  assertComplains(checkDockerfiles(compose, noArg), /does not declare ARG SERVICE/);
  assertComplains(
    checkDockerfiles(broken((c) => delete c.services.identity.build.args.SERVICE), realDisk),
    /without args.SERVICE/,
  );
});

Deno.test("rules catch a POSTGRES_URL database that nobody creates", () => {
  const renamed = broken((c) =>
    c.services.identity.environment.POSTGRES_URL = "postgres://postgres:postgres@postgres:5432/identty"
  );
  assertComplains(
    checkDatabases(renamed, realDisk),
    /"identty", which infra\/postgres-init.sql does not create/,
  );
});

/** Each built service's configuration loader, to check the environment compose gives it. */
const configLoaders: Record<string, (env: Record<string, string>) => unknown> = {
  identity: loadIdentityConfig,
  catalog: loadCatalogConfig,
  images: loadImagesConfig,
  basket: loadBasketConfig,
  discount: loadDiscountConfig,
  inventory: loadInventoryConfig,
  payment: loadPaymentConfig,
  order: loadOrderConfig,
  message: loadMessageConfig,
  cargo: loadCargoConfig,
  comment: loadCommentConfig,
  dashboard: loadDashboardConfig,
  // As the Worker reads its variables: an empty one (an unset `${NAME:-}`) counts as left out.
  edge: (env) => edgeConfig(env as unknown as EdgeBindings),
};

/** `${NAME:-default}` as compose would fill it with NAME unset. */
/** Values an operator must supply (`${NAME:?message}`), as the test's stand-in for their `.env`. */
const requiredSamples: Record<string, string> = {
  SIGNING_KEY_ENCRYPTION_KEY: base64url.encode(new Uint8Array(32)),
};

function withDefaults(value: unknown): string {
  return String(value)
    .replace(/\$\{[A-Z_][A-Z0-9_]*:?-([^}]*)\}/g, "$1")
    .replace(/\$\{([A-Z_][A-Z0-9_]*):?\?[^}]*\}/g, (_, name: string) => {
      assert.ok(requiredSamples[name], `compose requires ${name}; give the test a sample value for it`);
      return requiredSamples[name];
    });
}

Deno.test("each service's container environment passes that service's own configuration check", () => {
  for (const [name, service] of services(compose)) {
    const serviceName = buildSpec(service)?.args?.SERVICE;
    if (!serviceName) continue;
    const load = configLoaders[serviceName];
    assert.ok(load, `compose builds ${serviceName}, which this test does not know; add its config loader`);
    const env = Object.fromEntries(
      Object.entries(service.environment ?? {}).map(([key, value]) => [key, withDefaults(value)]),
    );
    assert.doesNotThrow(() => load(env), `${name}'s environment`);
  }
});
