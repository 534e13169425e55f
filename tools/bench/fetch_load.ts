/**
 * The bench's fallback load generator, for machines where k6 cannot be built: `vus` fetch loops against
 * one URL for `seconds`, then one line of JSON on stdout in the shape of tools/bench/load.ts LoadResult.
 *
 *   deno run --allow-net=127.0.0.1 tools/bench/fetch_load.ts <url> <vus> <seconds> [token ...]
 *
 * With tokens, loop n sends the nth (round robin) as `Authorization: Bearer`, as k6's virtual users do.
 */
import type { LoadResult } from "./load.ts";

async function loop(
  url: string,
  headers: HeadersInit,
  until: number,
  latencies: number[],
  counts: { errors: number; hits: number },
) {
  while (performance.now() < until) {
    const started = performance.now();
    try {
      const response = await fetch(url, { headers });
      // Reading the body to its end lets the connection go back to the pool, as k6 does.
      await response.arrayBuffer();
      if (response.status >= 400) counts.errors++;
      if (response.headers.get("x-cache-status") === "HIT") counts.hits++;
    } catch {
      counts.errors++;
    }
    latencies.push(performance.now() - started);
  }
}

function percentile(sorted: number[], share: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)];
}

async function main(url: string, vus: number, seconds: number, tokens: string[]): Promise<LoadResult> {
  const latencies: number[] = [];
  const counts = { errors: 0, hits: 0 };
  const started = performance.now();
  const until = started + seconds * 1000;
  const headersOf = (index: number): HeadersInit =>
    tokens.length ? { authorization: `Bearer ${tokens[index % tokens.length]}` } : {};
  await Promise.all(
    Array.from({ length: vus }, (_, index) => loop(url, headersOf(index), until, latencies, counts)),
  );
  const elapsed = (performance.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const requests = sorted.length;
  return {
    requests,
    requestsPerSecond: requests / elapsed,
    latencyMs: {
      p50: percentile(sorted, 0.5),
      p95: percentile(sorted, 0.95),
      p99: percentile(sorted, 0.99),
      avg: requests ? sorted.reduce((sum, value) => sum + value, 0) / requests : 0,
      max: sorted.at(-1) ?? 0,
    },
    errorRate: requests ? counts.errors / requests : 0,
    cacheHitRate: requests ? counts.hits / requests : 0,
  };
}

if (import.meta.main) {
  const [url, vus, seconds, ...tokens] = Deno.args;
  if (!url || !(Number(vus) > 0) || !(Number(seconds) > 0)) {
    console.error("usage: fetch_load.ts <url> <vus> <seconds> [token ...]");
    Deno.exit(2);
  }
  console.log(JSON.stringify(await main(url, Number(vus), Number(seconds), tokens)));
}
