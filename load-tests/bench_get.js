/**
 * One GET, repeated by a fixed number of virtual users for a fixed time: what `deno task bench:edge` runs
 * against the catalog directly, through nginx and through the edge. No thresholds: the bench compares
 * numbers, it does not pass or fail them.
 *
 *   k6 run -e URL=http://127.0.0.1:8787/v1/products?limit=20 -e VUS=64 -e DURATION=8s \
 *     -e SUMMARY=/tmp/result.json load-tests/bench_get.js
 *
 * TOKENS (optional, comma-separated): virtual user n sends the nth as `Authorization: Bearer` (round
 * robin), so each is its own signed-in user. Run with `--local-ips` for each to be its own address too.
 *
 * SUMMARY (optional) is where the result goes, as JSON: requests, requestsPerSecond, latencyMs {p50, p95,
 * p99, avg, max}, errorRate and cacheHitRate (the share of answers with `X-Cache-Status: HIT`).
 */

// `require`, not `import`: k6 resolves its built-in modules either way, and `deno check .` in this
// repository would otherwise try (and fail) to resolve "k6/http" as a dependency.
const http = require("k6/http");
const { Rate } = require("k6/metrics");

const cacheHits = new Rate("cache_hits");
const tokens = (__ENV.TOKENS ?? "").split(",").filter(Boolean);

export const options = {
  scenarios: {
    get: {
      executor: "constant-vus",
      vus: Number(__ENV.VUS ?? 1),
      duration: __ENV.DURATION ?? "10s",
      gracefulStop: "2s",
    },
  },
  // Bodies are not looked at; reading them into JS would only cost the load generator CPU.
  discardResponseBodies: true,
  summaryTrendStats: ["avg", "med", "p(95)", "p(99)", "max"],
};

export default function () {
  const params = tokens.length
    ? { headers: { authorization: `Bearer ${tokens[(__VU - 1) % tokens.length]}` } }
    : {};
  const response = http.get(__ENV.URL, params);
  cacheHits.add(response.headers["X-Cache-Status"] === "HIT");
}

export function handleSummary(data) {
  if (!__ENV.SUMMARY) return {};
  const metrics = data.metrics;
  const duration = metrics.http_req_duration.values;
  const result = {
    requests: metrics.http_reqs.values.count,
    requestsPerSecond: metrics.http_reqs.values.rate,
    latencyMs: {
      p50: duration.med,
      p95: duration["p(95)"],
      p99: duration["p(99)"],
      avg: duration.avg,
      max: duration.max,
    },
    // k6 counts a status outside 200-399, or no answer at all, as a failed request.
    errorRate: metrics.http_req_failed.values.rate,
    cacheHitRate: metrics.cache_hits.values.rate,
  };
  return { [__ENV.SUMMARY]: JSON.stringify(result) };
}
