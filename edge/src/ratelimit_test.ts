/** The bucket arithmetic, the leases, and the limiter's persistence, alarm and fail-open path, without workerd. */
import assert from "node:assert/strict";
import type { DurableObjectKeyStorage, DurableObjectNamespace, DurableObjectState } from "./platform.ts";
import {
  type Bucket,
  bucketName,
  fullAt,
  LeaseTable,
  RateLimiter,
  shardCount,
  type ShardInspection,
  shardName,
  takeFromBucket,
  takeToken,
} from "./ratelimit.ts";

const second = 1000;

Deno.test("a new key starts full and each request takes one token until none is left", () => {
  const policy = { capacity: 3, refillPerSecond: 1 };
  let bucket: Bucket | undefined;
  const grants = [];
  for (let i = 0; i < 4; i++) {
    const result = takeFromBucket(bucket, policy, 0);
    bucket = result.bucket;
    grants.push([result.granted, result.bucket.tokens]);
  }
  assert.deepEqual(grants, [[1, 2], [1, 1], [1, 0], [0, 0]]);
});

Deno.test("a lease takes as many whole tokens as there are, up to what it asks", () => {
  const policy = { capacity: 10, refillPerSecond: 1 };
  const first = takeFromBucket(undefined, policy, 0, 4);
  assert.deepEqual(first, { granted: 4, bucket: { tokens: 6, updatedAt: 0 } });
  const short = takeFromBucket({ tokens: 2.5, updatedAt: 0 }, policy, 0, 4);
  assert.deepEqual(short, { granted: 2, bucket: { tokens: 0.5, updatedAt: 0 } }, "the fraction stays");
  assert.equal(takeFromBucket({ tokens: 0.5, updatedAt: 0 }, policy, 0, 4).granted, 0);
});

Deno.test("tokens refill with elapsed time and never beyond capacity", () => {
  const policy = { capacity: 5, refillPerSecond: 2 };
  const empty = { tokens: 0, updatedAt: 0 };
  const after1s = takeFromBucket(empty, policy, 1 * second);
  assert.equal(after1s.granted, 1);
  assert.equal(after1s.bucket.tokens, 1, "two tokens refilled, one taken");

  const afterAnHour = takeFromBucket(empty, policy, 3600 * second);
  assert.equal(afterAnHour.bucket.tokens, 4, "capped at capacity before the token is taken");
  assert.equal(afterAnHour.bucket.updatedAt, 3600 * second);
});

Deno.test("a clock going backwards adds no tokens, and the lost span is not counted twice", () => {
  const policy = { capacity: 10, refillPerSecond: 1 };
  const start = { tokens: 0, updatedAt: 100 * second };
  const back = takeFromBucket(start, policy, 40 * second);
  assert.equal(back.granted, 0);
  assert.deepEqual(back.bucket, start, "neither tokens nor the last update move");

  const forward = takeFromBucket(back.bucket, policy, 101 * second);
  assert.equal(forward.granted, 1, "one second after the later time: one token");
  assert.equal(forward.bucket.tokens, 0);
});

Deno.test("a smaller capacity in new configuration caps a fuller stored bucket", () => {
  const { bucket, granted } = takeFromBucket({ tokens: 100, updatedAt: 0 }, {
    capacity: 3,
    refillPerSecond: 1,
  }, 0);
  assert.equal(granted, 1);
  assert.equal(bucket.tokens, 2);
});

Deno.test("a bucket is full again when its missing tokens have refilled", () => {
  const login = { capacity: 10, refillPerSecond: 10 / 60 };
  assert.equal(fullAt({ tokens: 9, updatedAt: 1000 }, login), 1000 + 6 * second);
  assert.equal(fullAt({ tokens: 10, updatedAt: 1000 }, login), 1000);
});

/**
 * A Durable Object namespace that runs RateLimiter objects in this process over one shared storage,
 * recording each object's alarm and the takes the objects answered.
 */
function memoryLimiter(storage = new Map<string, unknown>()) {
  const objects = new Map<string, { limiter: RateLimiter; ready: Promise<unknown> }>();
  const alarms = new Map<string, number>();
  let takes = 0;
  const objectFor = (name: string) => {
    let object = objects.get(name);
    if (!object) {
      let ready: Promise<unknown> = Promise.resolve();
      const prefix = `${name}/`;
      const state: DurableObjectState<DurableObjectKeyStorage> = {
        storage: {
          get: <T>(key: string) => Promise.resolve(storage.get(prefix + key) as T | undefined),
          put: (key, value) => Promise.resolve(void storage.set(prefix + key, value)),
          list: () =>
            Promise.resolve(
              new Map(
                [...storage].filter(([key]) => key.startsWith(prefix)).map((
                  [key, value],
                ) => [key.slice(prefix.length), value]),
              ),
            ),
          delete: (keys) => Promise.resolve(keys.filter((key) => storage.delete(prefix + key)).length),
          deleteAll: () => {
            for (const key of [...storage.keys()]) if (key.startsWith(prefix)) storage.delete(key);
            return Promise.resolve();
          },
          setAlarm: (time) => Promise.resolve(void alarms.set(name, time)),
        },
        blockConcurrencyWhile: (work) => ready = work(),
      };
      object = { limiter: new RateLimiter(state), ready };
      objects.set(name, object);
    }
    return object;
  };
  const namespace: DurableObjectNamespace = {
    idFromName: (name) => ({ toString: () => name }),
    get: (id) => ({
      async fetch(request) {
        const object = objectFor(id.toString());
        await object.ready;
        if (request.method === "POST") takes++;
        return object.limiter.fetch(request);
      },
    }),
  };
  return {
    namespace,
    storage,
    alarms,
    takes: () => takes,
    /** The names of the objects instantiated since the last restart. */
    objectNames: () => [...objects.keys()],
    restart: () => objects.clear(),
    inspect: async (name: string) => {
      const object = objectFor(name);
      await object.ready;
      return await (await object.limiter.fetch(new Request("https://rate-limiter/inspect")))
        .json() as ShardInspection;
    },
    runAlarm: async (name: string) => {
      const object = objectFor(name);
      await object.ready;
      await object.limiter.alarm();
    },
  };
}

Deno.test("a strictly counted policy answers with the RateLimit headers, and Retry-After once refused", async () => {
  const { namespace, takes } = memoryLimiter();
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
  assert.equal(takes(), 3, "every request asked the object");

  const other = await takeToken(namespace, "login", policy, "ip:203.0.113.2");
  assert.equal(other.allowed, true, "another key has its own bucket");
  const otherPolicy = await takeToken(namespace, "contact", policy, "ip:203.0.113.1");
  assert.equal(otherPolicy.allowed, true, "another policy has its own bucket for the same key");
});

Deno.test("a leased policy asks the object once per lease and refuses an empty bucket without asking", async () => {
  const { namespace, takes } = memoryLimiter();
  const leases = new LeaseTable();
  const policy = { capacity: 30, refillPerSecond: 0.001 };
  const decisions = [];
  for (let n = 0; n < 31; n++) decisions.push(await takeToken(namespace, "default", policy, "ip:a", leases));
  assert.deepEqual(decisions.map((d) => d.allowed), [...Array(30).fill(true), false]);
  assert.equal(takes(), 10, "thirty tokens in leases of three; the refusal asked nobody");
  assert.deepEqual(decisions[0].headers, {
    "RateLimit-Policy": '"default";q=30;w=30000',
    RateLimit: '"default";r=29;t=1000',
  });
  assert.equal(decisions[30].headers.RateLimit, '"default";r=0;t=30000');
  assert.equal(decisions[30].headers["Retry-After"], "1000");
  const other = await takeToken(namespace, "default", policy, "ip:b", leases);
  assert.equal(other.allowed, true, "another key has its own bucket and lease");
});

Deno.test("concurrent requests of one key share one lease request and never exceed the bucket", async () => {
  const { namespace, takes } = memoryLimiter();
  const leases = new LeaseTable();
  const policy = { capacity: 20, refillPerSecond: 0.001 };
  const decisions = await Promise.all(
    Array.from({ length: 30 }, () => takeToken(namespace, "default", policy, "ip:a", leases)),
  );
  assert.equal(decisions.filter((d) => d.allowed).length, 20);
  assert.equal(takes(), 10, "one request per lease of two, and one that found the bucket empty");
});

Deno.test("the lease table stays bounded: a cap, idle entries and refilled ones are dropped", async () => {
  const { namespace } = memoryLimiter();
  const slow = { capacity: 100, refillPerSecond: 0.001 };
  const capped = new LeaseTable({ maxEntries: 3 });
  for (let n = 0; n < 10; n++) await takeToken(namespace, "default", slow, `ip:${n}`, capped);
  assert.equal(capped.size, 3);

  const forgetful = new LeaseTable({ idleMs: 1 });
  for (let n = 0; n < 3; n++) {
    await takeToken(namespace, "default", slow, `ip:idle-${n}`, forgetful);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(forgetful.size, 1, "only the entry of the last request");

  // One token a millisecond: a lease of one token spent is refilled at once and has nothing to remember.
  const fast = { capacity: 1, refillPerSecond: 1000 };
  const refilled = new LeaseTable();
  await takeToken(namespace, "default", fast, "ip:x", refilled);
  await new Promise((resolve) => setTimeout(resolve, 5));
  await takeToken(namespace, "default", fast, "ip:y", refilled);
  assert.equal(refilled.size, 1);
});

Deno.test("a lease is kept while the bucket refills: a burst is bounded by the bucket and one lease", async () => {
  const { namespace, takes } = memoryLimiter();
  const leases = new LeaseTable();
  const policy = { capacity: 100, refillPerSecond: 1 };
  const realNow = Date.now;
  let now = 1_000_000;
  Date.now = () => now;
  try {
    assert.equal((await takeToken(namespace, "default", policy, "ip:a", leases)).allowed, true);
    // Nine tokens of the lease unspent while the bucket refills from 90 to 99.5 tokens.
    now += 9.5 * second;
    assert.equal((await takeToken(namespace, "default", policy, "ip:a", leases)).allowed, true);
    assert.equal(takes(), 1, "a client slower than the refill still spends its lease without asking");
    let allowed = 1;
    while ((await takeToken(namespace, "default", policy, "ip:a", leases)).allowed) allowed++;
    assert.equal(allowed, 99 + 9, "the bucket's 99 whole tokens and the lease's nine");
  } finally {
    Date.now = realNow;
  }
});

Deno.test("policy names are sent as structured-field strings", async () => {
  const { namespace } = memoryLimiter();
  const { headers } = await takeToken(namespace, 'odd "name"\\', { capacity: 1, refillPerSecond: 1 }, "k");
  assert.equal(headers["RateLimit-Policy"], '"odd \\"name\\"\\\\";q=1;w=1');
});

Deno.test("a restarted object keeps counting from its stored bucket", async () => {
  const limiter = memoryLimiter();
  const policy = { capacity: 1, refillPerSecond: 0.001 };
  assert.equal((await takeToken(limiter.namespace, "login", policy, "ip:a")).allowed, true);
  limiter.restart();
  assert.equal((await takeToken(limiter.namespace, "login", policy, "ip:a")).allowed, false);
});

Deno.test("the shard's alarm is set for when its bucket is full, and deletes it", async () => {
  const limiter = memoryLimiter();
  const policy = { capacity: 4, refillPerSecond: 2 };
  const before = Date.now();
  await takeToken(limiter.namespace, "login", policy, "ip:a");
  await takeToken(limiter.namespace, "login", policy, "ip:a");
  const name = shardName(bucketName("login", "ip:a"));
  assert.deepEqual(limiter.objectNames(), [name], "the bucket's shard, and no other object");
  const firstAlarm = limiter.alarms.get(name)!;
  assert.ok(
    firstAlarm >= before + 0.5 * second && firstAlarm <= Date.now() + 0.5 * second,
    "set by the first take",
  );
  const full = (await limiter.inspect(name)).held[bucketName("login", "ip:a")].bucket.fullAt;
  assert.ok(full >= before + 1 * second && full <= Date.now() + 1 * second, "two tokens at two a second");
  assert.equal(limiter.storage.size, 1);
  const realNow = Date.now;
  try {
    // A take only moves its bucket's fullAt later: the alarm set before finds it refilling and moves on.
    Date.now = () => firstAlarm;
    await limiter.runAlarm(name);
    assert.equal(limiter.storage.size, 1, "kept while it refills");
    assert.equal(limiter.alarms.get(name), full, "set again for when it is full");
    Date.now = () => full;
    await limiter.runAlarm(name);
  } finally {
    Date.now = realNow;
  }
  assert.equal(limiter.storage.size, 0, "nothing stored");
  assert.deepEqual((await limiter.inspect(name)).held, {}, "nothing held");
  const next = await takeToken(limiter.namespace, "login", policy, "ip:a");
  assert.equal(next.headers.RateLimit, '"login";r=3;t=1', "a deleted bucket starts full");
});

Deno.test("a key always goes to the same one of a fixed number of shards", () => {
  const name = bucketName("login", "ip:203.0.113.1");
  assert.equal(shardName(name), shardName(bucketName("login", "ip:203.0.113.1")));
  assert.match(shardName(name), /^shard:\d+$/);
  const shards = new Set(Array.from({ length: 5000 }, (_, n) => shardName(bucketName("default", `ip:${n}`))));
  assert.equal(shards.size, shardCount, "five thousand keys spread over every shard");
  for (const shard of shards) assert.ok(Number(shard.slice("shard:".length)) < shardCount, shard);
});

Deno.test("many addresses reach at most the shard count of objects, and refilled buckets leave them", async () => {
  const limiter = memoryLimiter();
  // Full again 2 ms after a take, except one slow bucket that keeps its shard's alarm set.
  const fast = { capacity: 2, refillPerSecond: 1000 };
  const slow = { capacity: 2, refillPerSecond: 0.001 };
  const leases = new LeaseTable();
  for (let n = 0; n < 500; n++) {
    const policy = n % 2 === 0 ? "default" : "login";
    assert.equal(
      (await takeToken(limiter.namespace, policy, fast, `ip:10.0.${n >> 8}.${n & 255}`, leases)).allowed,
      true,
    );
  }
  await takeToken(limiter.namespace, "login", slow, "ip:slow");
  const shards = limiter.objectNames();
  assert.ok(shards.length <= shardCount, `${shards.length} objects for 501 buckets`);
  assert.ok(shards.every((name) => /^shard:\d+$/.test(name)));
  assert.equal(limiter.storage.size, 501, "each bucket stored under its own key while it refills");
  const slowShard = shardName(bucketName("login", "ip:slow"));
  assert.ok(limiter.alarms.get(slowShard)! <= Date.now() + 2, "the shard's alarm is its earliest bucket's");

  await new Promise((resolve) => setTimeout(resolve, 20));
  for (const name of shards) await limiter.runAlarm(name);
  for (const name of shards) {
    const { held, stored } = await limiter.inspect(name);
    const left = name === slowShard ? [bucketName("login", "ip:slow")] : [];
    assert.deepEqual(Object.keys(held), left, `${name} holds only buckets still refilling`);
    assert.deepEqual(
      Object.keys(stored),
      left.map((bucket) => `bucket:${bucket}`),
      `${name} stores them only`,
    );
  }
  assert.ok(limiter.alarms.get(slowShard)! > Date.now() + 900 * second, "set again for the slow bucket");
  assert.equal(limiter.objectNames().length, shards.length, "inspecting made no new object");
});

Deno.test("a restarted shard keeps every bucket it stored, and its alarm still deletes them", async () => {
  const limiter = memoryLimiter();
  const policy = { capacity: 1, refillPerSecond: 0.001 };
  const keys = Array.from({ length: 200 }, (_, n) => `ip:${n}`);
  for (const key of keys) await takeToken(limiter.namespace, "login", policy, key);
  limiter.restart();
  for (const key of keys) {
    assert.equal((await takeToken(limiter.namespace, "login", policy, key)).allowed, false, key);
  }
  const realNow = Date.now;
  Date.now = () => realNow() + 2000 * second;
  try {
    for (const name of limiter.objectNames()) await limiter.runAlarm(name);
  } finally {
    Date.now = realNow;
  }
  assert.equal(limiter.storage.size, 0);
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
    const login = await takeToken(failing, "login", { capacity: 10, refillPerSecond: 10 / 60 }, "ip:x");
    assert.deepEqual(login, { allowed: true, headers: { "RateLimit-Policy": '"login";q=10;w=60' } });
    const leased = await takeToken(failing, "default", { capacity: 10, refillPerSecond: 1 }, "ip:x");
    assert.deepEqual(leased, { allowed: true, headers: { "RateLimit-Policy": '"default";q=10;w=10' } });
  } finally {
    console.error = consoleError;
  }
  assert.equal(logged.length, 2);
  const lines = logged.map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((line) => line.policy), ["login", "default"]);
  assert.match(lines[0].error, /storage unavailable/);
});
