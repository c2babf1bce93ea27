/**
 * A closed-loop HTTP load generator, run in its own process so that it does
 * not share an event loop with what it measures: `connections` clients each
 * send the next request as soon as the previous answer is read, for
 * `seconds`. Prints one JSON line: requests, failures by status, req/s and
 * latency percentiles in milliseconds. The fallback when wrk is missing.
 */
import { Pool } from "undici";
import type { Failures } from "./report.js";
import { percentile } from "./rounds.js";

export interface LoadResult {
  requests: number;
  /** Requests that did not get a 2xx or 3xx, by status or socket error kind. */
  failures: Failures;
  rps: number;
  p50: number;
  p99: number;
}

async function main(): Promise<void> {
  const [origin, host, connectionsText, secondsText, headersJson] = process.argv.slice(2);
  const headers = { host: host!, ...(JSON.parse(headersJson ?? "{}") as Record<string, string>) };
  const connections = Number(connectionsText);
  const pool = new Pool(origin!, { connections, pipelining: 1 });
  const latencies: number[] = [];
  const failures: Failures = {};
  const end = performance.now() + Number(secondsText) * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const { statusCode, body } = await pool.request({ path: "/", method: "GET", headers });
          await body.dump();
          if (statusCode >= 400) failures[statusCode] = (failures[statusCode] ?? 0) + 1;
        } catch {
          failures.socket = (failures.socket ?? 0) + 1;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const result: LoadResult = { requests: latencies.length, failures, rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1]?.endsWith("load.ts")) await main();
