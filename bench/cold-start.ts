/**
 * Cold-start latency of the hello endpoint: every measured request finds no
 * container running (the function retires containers 50 ms after use), so
 * each one pays for a container start. In one run, side by side: the
 * `process` and `sandbox` runtimes (their samples interleaved, alternating
 * which goes first, so load that comes and goes hits both alike), a fresh
 * `node` process serving the same answer (spawn → first response), and each
 * runtime with its warm spares turned off.
 *
 *   npx tsx bench/cold-start.ts [--samples 24] [--long]
 */
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import { request } from "undici";
import type { RuntimeName } from "../src/server/runtime.js";
import { BASELINE_SERVER } from "./support/baseline.js";
import { benchFlags } from "./support/options.js";
import { percentile } from "./support/rounds.js";
import { benchPlatform, type BenchPlatform } from "./support/run.js";
import { printTable } from "./support/table.js";

const { samples } = benchFlags({ samples: 24 });

/** One cold start: waits until the platform has no container, then times a request. */
async function coldStart(platform: BenchPlatform): Promise<number> {
  await waitForNoContainers(platform);
  const t0 = performance.now();
  const { statusCode, body } = await request(`http://127.0.0.1:${platform.server.port}/`, { headers: { host: platform.hosts.cold! } });
  await body.text();
  if (statusCode !== 200) throw new Error(`cold request answered ${statusCode}`);
  return performance.now() - t0;
}

async function waitForNoContainers(platform: BenchPlatform) {
  for (let i = 0; i < 400; i += 1) {
    const pools = platform.server.platform.stats("bench", "bench").flatMap((fn) => fn.pools);
    if (pools.every((p) => p.starting + p.ready + p.draining === 0)) {
      // Let the driver refill its warm spares, as it would between real cold starts.
      await new Promise((resolve) => setTimeout(resolve, 250));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("containers were not retired");
}

/** Cold starts of two platforms, interleaved: ABBA order over the run. */
async function sideBySide(a: BenchPlatform, b: BenchPlatform): Promise<[number[], number[]]> {
  const times: [number[], number[]] = [[], []];
  // The first request of each also pays for the one-off import of its run directory and image: not a typical cold start.
  await coldStart(a);
  await coldStart(b);
  for (let i = 0; i < samples; i += 1) {
    const order = i % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const);
    for (const which of order) times[which].push(await coldStart(which === 0 ? a : b));
  }
  return [times[0].sort((x, y) => x - y), times[1].sort((x, y) => x - y)];
}

async function alone(runtime: RuntimeName, warm: number): Promise<number[]> {
  const platform = await benchPlatform(warm, runtime);
  try {
    await coldStart(platform);
    const times: number[] = [];
    for (let i = 0; i < samples; i += 1) times.push(await coldStart(platform));
    return times.sort((x, y) => x - y);
  } finally {
    await platform.close();
  }
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

const load = loadavg()[0]!.toFixed(2);
const fresh = await freshNodeStarts();
const processPlatform = await benchPlatform(2, "process");
const sandboxPlatform = await benchPlatform(2, "sandbox");
let warm: [number[], number[]];
try {
  warm = await sideBySide(processPlatform, sandboxPlatform);
} finally {
  await processPlatform.close();
  await sandboxPlatform.close();
}
const [processWarm, sandboxWarm] = warm;
const processCold = await alone("process", 0);
const sandboxCold = await alone("sandbox", 0);
const base = percentile(fresh, 50);
const row = (what: string, times: number[]) => [what, percentile(times, 50), percentile(times, 99), (percentile(times, 50) / base).toFixed(2)];
printTable(
  `Cold start of the hello endpoint, ${samples} samples each, one run (load average ${load} at the start, ${loadavg()[0]!.toFixed(2)} at the end)`,
  ["what", "p50 ms", "p99 ms", "p50 / fresh node"],
  [
    row("fresh node process → first response (baseline)", fresh),
    row("berth, process runtime, warm agents (default)", processWarm),
    row("berth, sandbox runtime, warm sandboxes (default)", sandboxWarm),
    row("berth, process runtime, no warm agents", processCold),
    row("berth, sandbox runtime, no warm sandboxes", sandboxCold),
  ],
);
console.log(
  `\nsandbox / process, warm (interleaved samples): p50 ${(percentile(sandboxWarm, 50) / percentile(processWarm, 50)).toFixed(2)}×, ` +
    `p99 ${(percentile(sandboxWarm, 99) / percentile(processWarm, 99)).toFixed(2)}× (target: at most 1.5×)`,
);
