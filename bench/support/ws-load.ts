/**
 * A closed-loop WebSocket load generator, the twin of load.ts, run in its
 * own process: `connections` sockets each send a 64-byte text message and
 * send the next as soon as the echo arrives, for `seconds`. Prints one JSON
 * line in load.ts's `LoadResult` shape (`rps` counts round trips; a round
 * trip that takes over 5 s counts as a "timeout" failure, a socket that
 * fails to open as "connect").
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
// Types only: load.ts runs its own generator when the entry file's name ends in "load.ts", as this one's does.
import type { LoadResult } from "./load.js";
import type { Failures } from "./report.js";
import { percentile } from "./rounds.js";

/** Milliseconds one round trip may take before it counts as an error. */
const ROUND_TRIP_LIMIT_MS = 5000;

async function main(): Promise<void> {
  const [url, host, connectionsText, secondsText] = process.argv.slice(2);
  const latencies: number[] = [];
  const failures: Failures = {};
  const payload = "x".repeat(64);
  const end = performance.now() + Number(secondsText) * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Number(connectionsText) }, async () => {
      const ws = new WebSocket(url!, { headers: { host: host! }, perMessageDeflate: false });
      const opened = await new Promise<boolean>((resolve) => ws.once("open", () => resolve(true)).once("error", () => resolve(false)));
      if (!opened) {
        failures.connect = (failures.connect ?? 0) + 1;
        return;
      }
      while (performance.now() < end) {
        const t0 = performance.now();
        const echoed = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), ROUND_TRIP_LIMIT_MS);
          ws.once("message", () => {
            clearTimeout(timer);
            resolve(true);
          });
          ws.send(payload);
        });
        if (!echoed) failures.timeout = (failures.timeout ?? 0) + 1;
        latencies.push(performance.now() - t0);
      }
      ws.close();
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const result: LoadResult = { requests: latencies.length, failures, rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Runs the generator against `ws://127.0.0.1:<port><path>` with `host` as the Host header. */
export function runWsLoad(port: number, path: string, host: string, connections: number, seconds: number): Promise<LoadResult> {
  return new Promise((resolveResult, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(import.meta.url), `ws://127.0.0.1:${port}${path}`, host, String(connections), String(seconds)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (data) => (out += data));
    child.once("exit", (code) => (code === 0 ? resolveResult(JSON.parse(out) as LoadResult) : reject(new Error(`WebSocket load generator exited ${code}`))));
  });
}

if (process.argv[1]?.endsWith("ws-load.ts")) await main();
