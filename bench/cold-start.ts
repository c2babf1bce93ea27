/**
 * Cold-start latency of the hello endpoint: every measured request finds no
 * container running (the function retires containers 50 ms after use), so
 * each one pays for a container start. Compared in the same run with a
 * fresh `node` process serving the same answer (spawn → first response),
 * and with the platform's warm agents turned off.
 *
 *   npx tsx bench/cold-start.ts [samples=30]
 */
import { spawn } from "node:child_process";
import { request } from "undici";
import { BASELINE_SERVER } from "./support/baseline.js";
import { percentile } from "./support/load.js";
import { benchPlatform } from "./support/run.js";
import { printTable } from "./support/table.js";

const samples = Number(process.argv[2] ?? 30);

async function coldStarts(warmAgents: number): Promise<number[]> {
  const platform = await benchPlatform(warmAgents);
  const times: number[] = [];
  try {
    for (let i = 0; i < samples + 1; i += 1) {
      await waitForNoContainers(platform.server.platform);
      const t0 = performance.now();
      const { statusCode, body } = await request(`http://127.0.0.1:${platform.server.port}/`, { headers: { host: platform.hosts.cold! } });
      await body.text();
      if (statusCode !== 200) throw new Error(`cold request answered ${statusCode}`);
      // The first sample also pays for the one-off import of the run directory; it is not a typical cold start.
      if (i > 0) times.push(performance.now() - t0);
    }
  } finally {
    await platform.close();
  }
  return times.sort((a, b) => a - b);
}

async function waitForNoContainers(platform: { stats(workspace: string, name: string): { pools: { starting: number; ready: number; draining: number }[] }[] }) {
  for (let i = 0; i < 200; i += 1) {
    const pools = platform.stats("bench", "bench").flatMap((fn) => fn.pools);
    if (pools.every((p) => p.starting + p.ready + p.draining === 0)) {
      // Let the driver refill its warm agents, as it would between real cold starts.
      await new Promise((resolve) => setTimeout(resolve, 150));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("containers were not retired");
}

async function freshNodeStarts(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < samples; i += 1) {
    const t0 = performance.now();
    const child = spawn(process.execPath, ["-e", BASELINE_SERVER], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<number>((resolve) => child.stdout.once("data", (data) => resolve(Number(String(data).trim()))));
    const { body } = await request(`http://127.0.0.1:${port}/`);
    await body.text();
    times.push(performance.now() - t0);
    child.kill();
  }
  return times.sort((a, b) => a - b);
}

const fresh = await freshNodeStarts();
const warm = await coldStarts(2);
const noWarm = await coldStarts(0);
printTable(
  `Cold start of the hello endpoint, ${samples} samples each (same run)`,
  ["what", "p50 ms", "p99 ms", "ratio (p50)"],
  [
    ["fresh node process → first response (baseline)", percentile(fresh, 50), percentile(fresh, 99), "1.00"],
    ["berth cold start, warm agents (default)", percentile(warm, 50), percentile(warm, 99), (percentile(warm, 50) / percentile(fresh, 50)).toFixed(2)],
    ["berth cold start, no warm agents", percentile(noWarm, 50), percentile(noWarm, 99), (percentile(noWarm, 50) / percentile(fresh, 50)).toFixed(2)],
  ],
);
