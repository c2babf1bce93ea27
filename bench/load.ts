/**
 * The benchmarks' load generator, run as its own process so that it does
 * not share an event loop with the server it measures. Closed loop:
 * `connections` clients each send, wait for the answer, and send again, for
 * `durationMs`; prints one JSON line with the count and latency percentiles.
 *
 *   node --import tsx bench/load.ts '{"kind":"http","url":"http://127.0.0.1:8600/","host":"x.localhost","connections":50,"durationMs":5000}'
 */
import { Pool } from "undici";
import { WebSocket } from "ws";

export interface LoadSpec {
  kind: "http" | "ws";
  /** Where to connect: `http://127.0.0.1:port/path` (for ws too; the scheme is swapped). */
  url: string;
  /** Host header to send (gateway routing); defaults to the URL's host. */
  host?: string;
  connections: number;
  durationMs: number;
}

export interface LoadResult {
  count: number;
  errors: number;
  seconds: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
}

async function httpLoad(spec: LoadSpec, record: (ms: number) => void, fail: () => void): Promise<void> {
  const target = new URL(spec.url);
  const pool = new Pool(target.origin, { connections: spec.connections, pipelining: 1 });
  const headers = spec.host ? { host: spec.host } : {};
  const deadline = performance.now() + spec.durationMs;
  await Promise.all(
    Array.from({ length: spec.connections }, async () => {
      while (performance.now() < deadline) {
        const start = performance.now();
        try {
          const response = await pool.request({ path: target.pathname + target.search, method: "GET", headers });
          await response.body.dump();
          if (response.statusCode === 200) record(performance.now() - start);
          else fail();
        } catch {
          fail();
        }
      }
    }),
  );
  await pool.close();
}

async function wsLoad(spec: LoadSpec, record: (ms: number) => void, fail: () => void): Promise<void> {
  const target = new URL(spec.url);
  target.protocol = "ws:";
  const deadline = performance.now() + spec.durationMs;
  const payload = "x".repeat(64);
  await Promise.all(
    Array.from({ length: spec.connections }, async () => {
      const ws = new WebSocket(target, { headers: spec.host ? { host: spec.host } : {}, perMessageDeflate: false });
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      });
      while (performance.now() < deadline) {
        const start = performance.now();
        const ok = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 5000);
          ws.once("message", () => {
            clearTimeout(timer);
            resolve(true);
          });
          ws.send(payload);
        });
        if (ok) record(performance.now() - start);
        else fail();
      }
      ws.close();
    }),
  );
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  await (spec.kind === "http" ? httpLoad : wsLoad)(spec, (ms) => latencies.push(ms), () => (errors += 1));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { count: latencies.length, errors, seconds, p50: at(0.5), p99: at(0.99) };
}

if (process.argv[2]) {
  const result = await runLoad(JSON.parse(process.argv[2]) as LoadSpec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
