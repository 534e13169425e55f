/** The bucket arithmetic, and the limiter's persistence and fail-open path, without workerd. */
import assert from "node:assert/strict";
import type { DurableObjectNamespace, DurableObjectState } from "./platform.ts";
import { type Bucket, RateLimiter, takeFromBucket, takeToken } from "./ratelimit.ts";

const second = 1000;

Deno.test("a new key starts full and each request takes one token until none is left", () => {
  const policy = { capacity: 3, refillPerSecond: 1 };
  let bucket: Bucket | undefined;
  const decisions = [];
  for (let i = 0; i < 4; i++) {
    const result = takeFromBucket(bucket, policy, 0);
    bucket = result.bucket;
    decisions.push(result.decision);
  }
  assert.deepEqual(decisions, [
    { allowed: true, remaining: 2, resetSeconds: 1, retryAfterSeconds: 0 },
    { allowed: true, remaining: 1, resetSeconds: 2, retryAfterSeconds: 0 },
    { allowed: true, remaining: 0, resetSeconds: 3, retryAfterSeconds: 0 },
    { allowed: false, remaining: 0, resetSeconds: 3, retryAfterSeconds: 1 },
  ]);
});

Deno.test("tokens refill with elapsed time and never beyond capacity", () => {
  const policy = { capacity: 5, refillPerSecond: 2 };
  const empty = { tokens: 0, updatedAt: 0 };
  const after1s = takeFromBucket(empty, policy, 1 * second);
  assert.equal(after1s.decision.allowed, true);
  assert.equal(after1s.bucket.tokens, 1, "two tokens refilled, one taken");
  assert.equal(after1s.decision.resetSeconds, 2);

  const afterAnHour = takeFromBucket(empty, policy, 3600 * second);
  assert.equal(afterAnHour.bucket.tokens, 4, "capped at capacity before the token is taken");
  assert.equal(afterAnHour.decision.remaining, 4);
  assert.equal(afterAnHour.bucket.updatedAt, 3600 * second);
});

Deno.test("fractional refill rates: the default login policy gives a token every 6 seconds", () => {
  const login = { capacity: 10, refillPerSecond: 10 / 60 };
  const empty = { tokens: 0, updatedAt: 0 };
  const early = takeFromBucket(empty, login, 3 * second);
  assert.equal(early.decision.allowed, false);
  assert.equal(early.decision.retryAfterSeconds, 3, "half a token is there; three seconds to the next");
  assert.equal(early.decision.resetSeconds, 57);
  assert.ok(Math.abs(early.bucket.tokens - 0.5) < 1e-9, "a refused request keeps the partial token");

  const later = takeFromBucket(early.bucket, login, 6 * second);
  assert.equal(later.decision.allowed, true);
  assert.equal(later.decision.remaining, 0);

  const contact = { capacity: 5, refillPerSecond: 5 / 3600 };
  const refused = takeFromBucket({ tokens: 0, updatedAt: 0 }, contact, 0);
  assert.equal(refused.decision.retryAfterSeconds, 720);
  assert.equal(refused.decision.resetSeconds, 3600);
});

Deno.test("Retry-After is at least one second however fast the refill", () => {
  const fast = { capacity: 1, refillPerSecond: 1000 };
  const { decision } = takeFromBucket({ tokens: 0.5, updatedAt: 0 }, fast, 0);
  assert.equal(decision.allowed, false);
  assert.equal(decision.retryAfterSeconds, 1);
});

Deno.test("a clock going backwards adds no tokens, and the lost span is not counted twice", () => {
  const policy = { capacity: 10, refillPerSecond: 1 };
  const start = { tokens: 0, updatedAt: 100 * second };
  const back = takeFromBucket(start, policy, 40 * second);
  assert.equal(back.decision.allowed, false);
  assert.deepEqual(back.bucket, start, "neither tokens nor the last update move");

  const forward = takeFromBucket(back.bucket, policy, 101 * second);
  assert.equal(forward.decision.allowed, true, "one second after the later time: one token");
  assert.equal(forward.bucket.tokens, 0);
});

Deno.test("a smaller capacity in new configuration caps a fuller stored bucket", () => {
  const { bucket, decision } = takeFromBucket({ tokens: 100, updatedAt: 0 }, {
    capacity: 3,
    refillPerSecond: 1,
  }, 0);
  assert.equal(bucket.tokens, 2);
  assert.equal(decision.remaining, 2);
});

/** A Durable Object namespace that runs RateLimiter objects in this process over one shared storage. */
function memoryLimiter(storage = new Map<string, unknown>()) {
  const objects = new Map<string, { limiter: RateLimiter; ready: Promise<unknown> }>();
  const namespace: DurableObjectNamespace = {
    idFromName: (name) => ({ toString: () => name }),
    get: (id) => ({
      async fetch(request) {
        const name = id.toString();
        let object = objects.get(name);
        if (!object) {
          let ready: Promise<unknown> = Promise.resolve();
          const state: DurableObjectState = {
            storage: {
              get: <T>(key: string) => Promise.resolve(storage.get(`${name}/${key}`) as T | undefined),
              put: (key, value) => Promise.resolve(void storage.set(`${name}/${key}`, value)),
            },
            blockConcurrencyWhile: (work) => ready = work(),
          };
          object = { limiter: new RateLimiter(state), ready };
          objects.set(name, object);
        }
        await object.ready;
        return object.limiter.fetch(request);
      },
    }),
  };
  return { namespace, storage, restart: () => objects.clear() };
}

Deno.test("takeToken answers with the RateLimit headers, and Retry-After once refused", async () => {
  const { namespace } = memoryLimiter();
  const policy = { capacity: 2, refillPerSecond: 0.01 };
  const first = await takeToken(namespace, "login", policy, "ip:203.0.113.1");
  assert.deepEqual(first, {
    allowed: true,
    headers: { "RateLimit-Policy": '"login";q=2;w=200', RateLimit: '"login";r=1;t=100' },
  });
  await takeToken(namespace, "login", policy, "ip:203.0.113.1");
  const refused = await takeToken(namespace, "login", policy, "ip:203.0.113.1");
  assert.equal(refused.allowed, false);
  assert.equal(refused.headers.RateLimit, '"login";r=0;t=200');
  assert.match(refused.headers["Retry-After"], /^(99|100)$/);

  const other = await takeToken(namespace, "login", policy, "ip:203.0.113.2");
  assert.equal(other.allowed, true, "another key has its own bucket");
  const otherPolicy = await takeToken(namespace, "contact", policy, "ip:203.0.113.1");
  assert.equal(otherPolicy.allowed, true, "another policy has its own bucket for the same key");
});

Deno.test("policy names are sent as structured-field strings", async () => {
  const { namespace } = memoryLimiter();
  const { headers } = await takeToken(namespace, 'odd "name"\\', { capacity: 1, refillPerSecond: 1 }, "k");
  assert.equal(headers["RateLimit-Policy"], '"odd \\"name\\"\\\\";q=1;w=1');
});

Deno.test("a restarted object keeps counting from its stored bucket", async () => {
  const limiter = memoryLimiter();
  const policy = { capacity: 1, refillPerSecond: 0.001 };
  assert.equal((await takeToken(limiter.namespace, "default", policy, "user:a")).allowed, true);
  limiter.restart();
  assert.equal((await takeToken(limiter.namespace, "default", policy, "user:a")).allowed, false);
});

Deno.test("when the limiter fails the request is allowed and one JSON line is logged", async () => {
  const failing: DurableObjectNamespace = {
    idFromName: (name) => ({ toString: () => name }),
    get: () => ({ fetch: () => Promise.reject(new Error("storage unavailable")) }),
  };
  const logged: string[] = [];
  const consoleError = console.error;
  console.error = (line: string) => logged.push(line);
  try {
    const decision = await takeToken(failing, "login", { capacity: 10, refillPerSecond: 10 / 60 }, "ip:x");
    assert.deepEqual(decision, { allowed: true, headers: { "RateLimit-Policy": '"login";q=10;w=60' } });
  } finally {
    console.error = consoleError;
  }
  assert.equal(logged.length, 1);
  const line = JSON.parse(logged[0]);
  assert.equal(line.policy, "login");
  assert.match(line.error, /storage unavailable/);
});
