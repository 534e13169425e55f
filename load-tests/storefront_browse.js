/**
 * Shoppers browsing the storefront through the edge, as a browser does: the home page, then a product page
 * of a product it lists, then a pause to read. Each virtual user is one anonymous shopper; run with
 * `--local-ips` so that each has its own address (and rate-limit bucket), as shoppers do.
 *
 *   k6 run --local-ips=127.0.0.2-127.0.0.250 -e URL=http://127.0.0.1:8787 -e SHOPPERS=24 -e DURATION=60s \
 *     load-tests/storefront_browse.js
 *
 * THINK (seconds, default 1) is the pause after each product page. The run fails (thresholds) if any
 * answer is a 5xx or a page is not a 200; the summary shows each page's latency (the `page` tag).
 */

// `require`, not `import`, for the reason bench_get.js gives.
const http = require("k6/http");
const { check, sleep } = require("k6");
const { Counter } = require("k6/metrics");

const base = (__ENV.URL ?? "http://127.0.0.1:8787").replace(/\/$/, "");
const think = Number(__ENV.THINK ?? 1);
const serverErrors = new Counter("server_errors");

export const options = {
  scenarios: {
    browse: {
      executor: "constant-vus",
      vus: Number(__ENV.SHOPPERS ?? 24),
      duration: __ENV.DURATION ?? "60s",
      gracefulStop: "10s",
    },
  },
  thresholds: {
    server_errors: ["count==0"],
    checks: ["rate==1"],
    "http_req_duration{page:home}": [],
    "http_req_duration{page:product}": [],
  },
  summaryTrendStats: ["med", "p(95)", "p(99)", "max"],
};

function page(name, path) {
  const response = http.get(`${base}${path}`, { tags: { page: name }, timeout: "30s" });
  if (response.status >= 500) serverErrors.add(1, { page: name, status: String(response.status) });
  check(response, { [`${name}: 200`]: (r) => r.status === 200 });
  return response;
}

export default function () {
  const home = page("home", "/v1/storefront/home");
  if (home.status !== 200) return sleep(think);
  // The shopper opens one of the newest products the home page shows.
  const ids = (home.json("newestProducts") ?? []).map((product) => product.id);
  if (ids.length > 0) {
    page("product", `/v1/storefront/products/${ids[Math.floor(Math.random() * ids.length)]}`);
  }
  sleep(think);
}
