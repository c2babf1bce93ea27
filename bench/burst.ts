/**
 * Burst from zero: 100 concurrent requests of a 300 ms handler hit a function
 * with no container (maxInputs 1, maxContainers 10). Prints the time until
 * all are done next to the ideal for this machine, measured in the same run:
 * one cold start (a single request to a fresh deployment, minus the handler's
 * 300 ms) plus 10 waves of 300 ms. Also per-request latency and how many
 * containers served the burst. Which of the two is measured first alternates
 * from round to round; the rate limit is off; the burst / ideal ratio is
 * withheld when any request failed. Never fails on timing.
 *
 *   npx tsx bench/burst.ts [--rounds 2] [--requests 100] [--work-ms 300] [--max-containers 10] [--long]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Agent, request } from "undici";
import { bundleApp } from "../src/bundler/bundle.js";
import { ApiClient } from "../src/cli/client.js";
import { startServer } from "./support/compiled.js";
import { benchFlags } from "./support/options.js";
import { failureText, loadAverage, ratioText, type Failures } from "./support/report.js";
import { printTable } from "./support/table.js";

const flags = benchFlags({ rounds: 2, requests: 100, "work-ms": 300, "max-containers": 10 });
const RUNS = flags.rounds;
const REQUESTS = flags.requests;
const WORK_MS = flags["work-ms"];
const MAX = flags["max-containers"];

const REPO = resolve(import.meta.dirname, "..");
const loopback = new Agent({
  connections: null,
  connect: { lookup: (_host, _options, callback) => callback(null, [{ address: "127.0.0.1", family: 4 }]) },
});

const source = (name: string) => `
import { App } from "berthjs";
const app = new App(${JSON.stringify(name)});
export const work = app.function({ maxContainers: ${MAX}, concurrency: { maxInputs: 1 } }).webEndpoint(async () => {
  await new Promise((resolve) => setTimeout(resolve, ${WORK_MS}));
  return { pid: process.pid };
});
`;

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-"));
  const appDir = mkdtempSync(join(REPO, "bench", ".tmp-"));
  const loadBefore = loadAverage();
  const server = await startServer({ home, port: 0, workspace: "bench", rateLimit: null, onLog: () => {} });
  const client = new ApiClient(server.url, undefined, server.sessionToken);
  try {
    const deploy = async (name: string) => {
      const file = join(appDir, `${name}.ts`);
      writeFileSync(file, source(name));
      const bundle = await bundleApp(file);
      await client.uploadBlob(bundle.hash, bundle.code);
      const result = await client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {});
      return result.functions[0]!.url;
    };
    const call = async (url: string) => {
      const started = performance.now();
      const response = await request(url, { dispatcher: loopback });
      const body = (await response.body.json()) as { pid: number };
      return { status: response.statusCode, ms: performance.now() - started, pid: body.pid };
    };

    const coldStarts: number[] = [];
    const totals: number[] = [];
    const latencies: number[] = [];
    const containers: number[] = [];
    const failures: Failures = {};
    const single = async (run: number) => {
      const url = await deploy(`cold-${run}`);
      const result = await call(url);
      if (result.status !== 200) failures[result.status] = (failures[result.status] ?? 0) + 1;
      coldStarts.push(result.ms - WORK_MS);
      await client.stopApp(`cold-${run}`);
    };
    const burst = async (run: number) => {
      const url = await deploy(`burst-${run}`);
      const started = performance.now();
      const results = await Promise.all(Array.from({ length: REQUESTS }, () => call(url)));
      totals.push(performance.now() - started);
      for (const r of results) {
        latencies.push(r.ms);
        if (r.status !== 200) failures[r.status] = (failures[r.status] ?? 0) + 1;
      }
      containers.push(new Set(results.map((r) => r.pid)).size);
      await client.stopApp(`burst-${run}`);
    };
    for (let run = 0; run < RUNS; run += 1) {
      if (run % 2 === 0) {
        await single(run);
        await burst(run);
      } else {
        await burst(run);
        await single(run);
      }
    }

    const waves = Math.ceil(REQUESTS / MAX);
    const ideal = median(coldStarts) + waves * WORK_MS;
    const rows: string[][] = [
      ["cold start (one request, minus the handler)", ms(median(coldStarts)), ms(percentile(coldStarts, 0.99))],
      [`ideal: cold start + ${waves} waves × ${WORK_MS} ms`, ms(ideal), ""],
      [`burst: ${REQUESTS} concurrent, time to all done`, ms(median(totals)), ms(percentile(totals, 0.99))],
      ["burst / ideal", ratioText(median(totals), ideal, failures), ratioText(percentile(totals, 0.99), ideal, failures)],
      ["per-request latency in the burst", ms(median(latencies)), ms(percentile(latencies, 0.99))],
      [`containers that served the burst (max ${MAX})`, String(median(containers)), String(Math.max(...containers))],
      ["failed requests", failureText(failures), ""],
    ];
    printTable(
      `Burst from zero: ${RUNS} rounds, ${REQUESTS} requests, maxInputs 1, maxContainers ${MAX}, handler ${WORK_MS} ms (load average ${loadBefore} before, ${loadAverage()} after)`,
      ["", "median", "p99 (worst run)"],
      rows,
    );
  } finally {
    await server.close();
    await loopback.close();
    rmSync(home, { recursive: true, force: true });
    rmSync(appDir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  return percentile(values, 0.5);
}

/** Nearest rank; with few runs the p99 is the worst run. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

await main();
