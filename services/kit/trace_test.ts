import assert from "node:assert/strict";
import { nextTraceparent, traceIdOf } from "./trace.ts";
import { currentTraceparent, inSpan } from "./trace_context.ts";

const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

Deno.test("a new span keeps the trace and its flags, with a span id of its own", () => {
  const next = nextTraceparent(incoming);
  assert.match(next, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  assert.notEqual(next, incoming);
  assert.equal(traceIdOf(next), "4bf92f3577b34da6a3ce929d0e0e4736");
});

Deno.test("no trace, a malformed one or the all-zero trace id starts a new trace", () => {
  for (
    const given of [undefined, null, "", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"]
  ) {
    const next = nextTraceparent(given);
    assert.match(next, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, String(given));
    assert.notEqual(traceIdOf(next), "00000000000000000000000000000000");
  }
  assert.notEqual(traceIdOf(nextTraceparent(undefined)), traceIdOf(nextTraceparent(undefined)));
});

Deno.test("work in a span sees it across awaits; outside, there is none", async () => {
  assert.equal(currentTraceparent(), undefined);
  const seen = await inSpan(incoming, async () => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return currentTraceparent();
  });
  assert.equal(traceIdOf(seen!), traceIdOf(incoming));
  assert.equal(currentTraceparent(), undefined);
});
