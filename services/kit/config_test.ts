import assert from "node:assert/strict";
import { z } from "zod";
import { commonEnv, ConfigError, flag, loadConfig, port } from "./config.ts";

const schema = z.object({ ...commonEnv, PORT: port(5000), DEBUG: flag(false) });

Deno.test("no variables at all gives the embedded defaults", () => {
  const config = loadConfig(schema, {});
  assert.equal(config.PORT, 5000);
  assert.equal(config.HOST, "127.0.0.1");
  assert.equal(config.DEBUG, false);
});

Deno.test("a bad variable is named with what was wrong and what was given", () => {
  assert.throws(
    () => loadConfig(schema, { PORT: "eighty", LOG_LEVEL: "loud" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.problems.length, 2);
      assert.match(error.message, /PORT: .*\(got "eighty"\)/);
      assert.match(error.message, /LOG_LEVEL: .*\(got "loud"\)/);
      return true;
    },
  );
});

Deno.test("empty variables count as unset", () => {
  assert.equal(loadConfig(schema, { PORT: "" }).PORT, 5000);
});
