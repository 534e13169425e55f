/** wrangler.jsonc (what Cloudflare runs) agrees with the code and with what tests run in workerd. */
import assert from "node:assert/strict";
import { parse, type ParseError } from "jsonc-parser";
import { edgeConfigSchema } from "./src/config.ts";
import * as worker from "./src/index.ts";
import { strictlyCountedPolicies } from "./src/ratelimit.ts";
import { bundleFlags, compatibilityDate, durableObjectClasses } from "./local.ts";

const errors: ParseError[] = [];
const wrangler = parse(await Deno.readTextFile(new URL("./wrangler.jsonc", import.meta.url)), errors);

Deno.test("wrangler.jsonc parses", () => {
  assert.deepEqual(errors, []);
  assert.equal(wrangler.main, "dist/worker.js");
  assert.equal(wrangler.no_bundle, true, "Cloudflare runs the bundle deno built, as the tests do");
});

Deno.test("the bundle deployed is built as the one start and the tests run", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url))).tasks;
  assert.equal(
    tasks["build:edge"],
    `deno bundle ${bundleFlags.join(" ")} edge/src/index.ts -o edge/dist/worker.js`,
  );
});

Deno.test("its compatibility date is the one the tests run with", () => {
  assert.equal(wrangler.compatibility_date, compatibilityDate);
});

Deno.test("its Durable Object bindings are the ones the Worker exports and the tests bind", () => {
  const bindings = Object.fromEntries(
    wrangler.durable_objects.bindings.map((
      b: { name: string; class_name: string },
    ) => [b.name, b.class_name]),
  );
  assert.deepEqual(bindings, durableObjectClasses);
  for (const className of Object.values(bindings) as string[]) {
    assert.equal(
      typeof (worker as Record<string, unknown>)[className],
      "function",
      `${className} is exported`,
    );
  }
  const migrated = wrangler.migrations.flatMap((m: { new_sqlite_classes?: string[] }) =>
    m.new_sqlite_classes ?? []
  );
  assert.deepEqual([...migrated].sort(), Object.values(bindings).sort());
});

/** Each environment's variables: the top-level ones with the environment's own over them. */
const environments = {
  production: wrangler.vars,
  ...Object.fromEntries(
    Object.entries(wrangler.env ?? {}).map((
      [name, env],
    ) => [name, { ...wrangler.vars, ...(env as { vars: object }).vars }]),
  ),
};

Deno.test("its variables, in every environment, pass the edge's configuration check", () => {
  for (const [name, vars] of Object.entries(environments)) {
    const result = edgeConfigSchema.safeParse(vars);
    assert.ok(result.success, `${name}: ${JSON.stringify(result.error?.issues)}`);
  }
});

Deno.test("every environment sets the limits of the strictly counted policies, and binds no ratelimits", () => {
  // A policy missing from RATE_LIMITS falls back to the default policy's numbers: sign-in would then
  // allow 120 tries a minute.
  for (const [name, vars] of Object.entries(environments)) {
    const { RATE_LIMITS } = edgeConfigSchema.parse(vars);
    for (const policy of strictlyCountedPolicies) assert.ok(policy in RATE_LIMITS, `${name}: ${policy}`);
  }
  // The general policies are leased from RATE_LIMITER, not counted by the Workers rate-limiting binding.
  assert.equal(wrangler.ratelimits, undefined);
});
