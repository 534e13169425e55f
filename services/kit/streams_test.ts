import assert from "node:assert/strict";
import { createStreamSlots, streamRetryAfterSeconds } from "./streams.ts";
import { ProblemError } from "./problem.ts";

Deno.test("stream slots: up to the bound per holder, each given back once", () => {
  const slots = createStreamSlots(2);
  const first = slots.take("ada");
  slots.take("ada");
  assert.throws(() => slots.take("ada"), (error: unknown) => {
    assert.ok(error instanceof ProblemError);
    assert.equal(error.problem.status, 429);
    assert.equal(error.problem.kind, "too-many-streams");
    assert.deepEqual(error.problem.headers, { "retry-after": String(streamRetryAfterSeconds) });
    return true;
  });
  assert.equal(slots.held("ada"), 2, "a refused take holds nothing");
  slots.take("bob");
  assert.equal(slots.held("bob"), 1, "holders are counted apart");

  first();
  first();
  assert.equal(slots.held("ada"), 1, "giving a slot back twice frees it once");
  slots.take("ada");
  assert.equal(slots.held("ada"), 2);
});
