/**
 * One GET from each of ADDRESSES distinct client addresses: what `deno task bench:edge` sends to measure
 * the edge's memory as it meets new clients. The address goes in the header named HEADER (the edge runs
 * with TRUSTED_CLIENT_IP_HEADER set to it for this), 10.x.y.z counted from the FIRSTth, since k6 gives
 * each virtual user one source address and 100,000 virtual users are out of reach.
 *
 *   k6 run -e URL=http://127.0.0.1:8787/v1/products?limit=20 -e HEADER=x-real-ip -e FIRST=0 \
 *     -e ADDRESSES=100000 -e VUS=32 -e SUMMARY=/tmp/result.json load-tests/edge_addresses.js
 *
 * SUMMARY (optional) is where the result goes, as JSON: requests, seconds, errorRate.
 */

// `require`, not `import`, for the reason bench_get.js gives.
const http = require("k6/http");
const execution = require("k6/execution");

const first = Number(__ENV.FIRST ?? 0);

export const options = {
  scenarios: {
    addresses: {
      executor: "shared-iterations",
      vus: Number(__ENV.VUS ?? 32),
      iterations: Number(__ENV.ADDRESSES ?? 100000),
      maxDuration: "3m",
    },
  },
  discardResponseBodies: true,
};

export default function () {
  const n = first + execution.scenario.iterationInTest;
  const address = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  http.get(__ENV.URL, { headers: { [__ENV.HEADER]: address } });
}

export function handleSummary(data) {
  if (!__ENV.SUMMARY) return {};
  const metrics = data.metrics;
  const result = {
    requests: metrics.http_reqs.values.count,
    seconds: data.state.testRunDurationMs / 1000,
    errorRate: metrics.http_req_failed.values.rate,
  };
  return { [__ENV.SUMMARY]: JSON.stringify(result) };
}
