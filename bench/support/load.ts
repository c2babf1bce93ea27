/**
 * A closed-loop HTTP load generator, run in its own process so that it does
 * not share an event loop with what it measures: `connections` clients each
 * send the next request as soon as the previous answer is read, for
 * `seconds`. Prints one JSON line: requests, errors, req/s and latency
 * percentiles in milliseconds.
 */
import { Pool } from "undici";

export interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const [origin, host, connectionsText, secondsText] = process.argv.slice(2);
  const connections = Number(connectionsText);
  const pool = new Pool(origin!, { connections, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + Number(secondsText) * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const { statusCode, body } = await pool.request({ path: "/", method: "GET", headers: { host: host! } });
          await body.dump();
          if (statusCode !== 200) errors += 1;
        } catch {
          errors += 1;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const result: LoadResult = {
    requests: latencies.length,
    errors,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1]?.endsWith("load.ts")) await main();
