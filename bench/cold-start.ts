/**
 * Cold-start latency of the hello endpoint: every measured request finds no
 * container running (the `cold` function retires its container 50 ms after
 * use), so each one pays for a container start. Compared in the same run
 * with a fresh `node` process serving the same answer (spawn → first
 * response) and with the platform's warm agents turned off. Rounds in
 * alternating order; p50 is the median of the rounds' medians, p99 is over
 * every sample.
 *
 *   npx tsx bench/cold-start.ts [--samples 24] [--rounds 3] [--long]
 */
import { spawn } from "node:child_process";
import { request } from "undici";
import { BASELINE_SERVER } from "./support/baseline.js";
import { benchFlags } from "./support/options.js";
import { loadAverage } from "./support/report.js";
import { alternate, median, percentile } from "./support/rounds.js";
import { benchPlatform, type BenchPlatform } from "./support/run.js";
import { printTable } from "./support/table.js";

const { samples, rounds } = benchFlags({ samples: 24, rounds: 3 });
const perRound = Math.max(1, Math.round(samples / rounds));

async function coldStarts(platform: BenchPlatform): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < perRound; i += 1) {
    await waitForNoContainers(platform.server.platform);
    const t0 = performance.now();
    const { statusCode, body } = await request(`http://127.0.0.1:${platform.server.port}/`, { headers: { host: platform.hosts.cold! } });
    await body.text();
    if (statusCode !== 200) throw new Error(`cold request answered ${statusCode}`);
    times.push(performance.now() - t0);
  }
  return times;
}

async function waitForNoContainers(platform: { stats(workspace: string, name: string): { function: string; pools: { starting: number; ready: number; draining: number }[] }[] }) {
  for (let i = 0; i < 200; i += 1) {
    const pools = platform.stats("bench", "bench").filter((fn) => fn.function === "cold").flatMap((fn) => fn.pools);
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
  for (let i = 0; i < perRound; i += 1) {
    const t0 = performance.now();
    const child = spawn(process.execPath, ["-e", BASELINE_SERVER], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<number>((resolve) => child.stdout.once("data", (data) => resolve(Number(String(data).trim()))));
    const { body } = await request(`http://127.0.0.1:${port}/`);
    await body.text();
    times.push(performance.now() - t0);
    child.kill();
  }
  return times;
}

const SIDES = ["fresh", "warm", "noWarm"] as const;
type Side = (typeof SIDES)[number];
const LABELS: Record<Side, string> = {
  fresh: "fresh node process → first response (baseline)",
  warm: "berth cold start, warm agents (default)",
  noWarm: "berth cold start, no warm agents",
};

const loadBefore = loadAverage();
const warm = await benchPlatform(2);
const noWarm = await benchPlatform(0);
try {
  // The first cold request of a platform also pays for the one-off import of its run directory: not a typical cold start.
  await coldStarts(warm);
  await coldStarts(noWarm);
  const results = await alternate(SIDES, rounds, (side) => (side === "fresh" ? freshNodeStarts() : coldStarts(side === "warm" ? warm : noWarm)));
  const p50 = (side: Side) => median(results[side].map((round) => median(round)));
  const p99 = (side: Side) => percentile(results[side].flat().sort((a, b) => a - b), 99);
  printTable(
    `Cold start of the hello endpoint: ${rounds} rounds of ${perRound} samples per side in alternating order (load average ${loadBefore} before, ${loadAverage()} after)`,
    ["what", "p50 ms", "p99 ms", "ratio (p50)", "p50 per round"],
    SIDES.map((side) => [
      LABELS[side],
      p50(side),
      p99(side),
      `${(p50(side) / p50("fresh")).toFixed(2)}×`,
      results[side].map((round) => median(round).toFixed(1)).join(" "),
    ]),
  );
  console.log("Target (DESIGN.md): a cold start of a hello endpoint at p50 ≤ 25 ms.");
} finally {
  await warm.close();
  await noWarm.close();
}
