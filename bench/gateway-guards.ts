/**
 * What the gateway's guards cost: warm requests/s through the gateway with
 * proxy auth and rate limiting on, next to the same endpoint with both off,
 * in the same run (alternating rounds, median reported, with the gateway's
 * CPU time per request, which a busy machine disturbs less); then the gateway's
 * peak memory while a 1 GiB body streams through it into a function.
 *
 *   node --import tsx bench/gateway-guards.ts [seconds=5] [connections=50] [rounds=3]
 *
 * The load generator (bench/guards-load.ts) runs as a separate process; the
 * gateway and its platform run in this one, so this process's RSS is the
 * gateway's memory. Prints tables; never fails on timing.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundleApp } from "../src/bundler/bundle.js";
import { ApiClient } from "../src/cli/client.js";
import { FailedAuthLimiter, RateLimiter } from "../src/gateway/rate-limiter.js";
import { startServer, type RunningServer, type ServerOptions } from "../src/server/start.js";

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 50);
const rounds = Number(process.argv[4] ?? 3);
const REPO = resolve(import.meta.dirname, "..");

const APP = `
import { App } from "berth";
const app = new App("guards");
const many = { concurrency: { maxInputs: 1000 }, minContainers: 1 };
export const open = app.function(many).webEndpoint(() => "ok");
export const guarded = app.function(many).webEndpoint({ requiresProxyAuth: true }, () => "ok");
export const sink = app.function().nodeApp(() => (req, res) => {
  let bytes = 0;
  req.on("data", (chunk) => (bytes += chunk.length));
  req.on("end", () => res.end(String(bytes)));
});
`;

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** Microseconds of this process's CPU (the gateway's) per request: less sensitive to a busy machine than req/s. */
  cpuUs: number;
}

/** Runs a load and measures the CPU this process (the gateway) spent on it. */
async function measure(args: string[], seconds: number): Promise<Load> {
  const before = process.cpuUsage();
  const load = JSON.parse(await run(args)) as Omit<Load, "cpuUs">;
  const used = process.cpuUsage(before);
  return { ...load, cpuUs: (used.user + used.system) / (load.rps * seconds) };
}

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ["--import", "tsx", join(REPO, "bench/guards-load.ts"), ...args], { maxBuffer: 1 << 20 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

async function platform(options: Partial<ServerOptions>): Promise<{ server: RunningServer; hosts: Record<string, string>; client: ApiClient; home: string }> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-"));
  const server = await startServer({ home, port: 0, workspace: "bench", warmAgents: 1, ...options });
  const client = new ApiClient(server.url, undefined, server.bootstrapToken ?? server.sessionToken);
  const dir = mkdtempSync(join(REPO, "bench", ".tmp-"));
  try {
    writeFileSync(join(dir, "guards.ts"), APP);
    const bundle = await bundleApp(join(dir, "guards.ts"));
    await client.uploadBlob(bundle.hash, bundle.code);
    const result = await client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {});
    const hosts = Object.fromEntries(result.functions.map((fn) => [fn.name, new URL(fn.url).host]));
    return { server, hosts, client, home };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const fmt = (n: number, digits = 1) => n.toFixed(digits);

function table(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  process.stdout.write(`\n${title}\n${line(header)}\n| ${widths.map((w) => "-".repeat(w)).join(" | ")} |\n${rows.map((r) => line(r.map(String))).join("\n")}\n`);
}

const plain = await platform({ rateLimit: null });
// Rate limiting on with a limit no run reaches, so every request pays for the check and none is refused.
const guarded = await platform({ requireAuth: true, rateLimit: { rate: 1e9, burst: 1e9 } });
try {
  const proxy = await guarded.client.createToken({ kind: "proxy" });
  const credentials = JSON.stringify({ "berth-key": proxy.key, "berth-secret": proxy.secret });
  const off = ["requests", String(plain.server.port), plain.hosts.open!, String(connections)];
  const on = ["requests", String(guarded.server.port), guarded.hosts.guarded!, String(connections)];
  await run([...off, "1"]);
  await run([...on, "1", credentials]);

  const results: { off: Load[]; on: Load[] } = { off: [], on: [] };
  // ABBA order: which of the two runs goes first alternates, so a drift within a round does not favour either.
  for (let round = 0; round < rounds; round++) {
    const runOff = async () => results.off.push(await measure([...off, String(seconds)], seconds));
    const runOn = async () => results.on.push(await measure([...on, String(seconds), credentials], seconds));
    if (round % 2 === 0) {
      await runOff();
      await runOn();
    } else {
      await runOn();
      await runOff();
    }
  }
  const summary = (loads: Load[]) => ({
    rps: median(loads.map((l) => l.rps)),
    p50: median(loads.map((l) => l.p50)),
    p99: median(loads.map((l) => l.p99)),
    errors: loads.reduce((sum, l) => sum + l.errors, 0),
    cpuUs: median(loads.map((l) => l.cpuUs)),
  });
  const a = summary(results.off);
  const b = summary(results.on);
  // Each round's two runs are back to back, so their ratio cancels most of a busy machine's swings.
  const pairRatio = median(results.on.map((load, i) => load.rps / results.off[i]!.rps));
  const pairCpu = median(results.on.map((load, i) => load.cpuUs - results.off[i]!.cpuUs));
  table(
    `Gateway guards, ${connections} connections, ${rounds} rounds of ${seconds} s, ABBA order (medians, same run)`,
    ["gateway", "req/s", "p50 ms", "p99 ms", "non-200", "ratio", "gateway CPU µs/req", "req/s per round"],
    [
      ["no proxy auth, no rate limit", fmt(a.rps, 0), fmt(a.p50, 2), fmt(a.p99, 2), a.errors, "1.00", fmt(a.cpuUs, 1), results.off.map((l) => fmt(l.rps, 0)).join(" ")],
      ["proxy auth + rate limit", fmt(b.rps, 0), fmt(b.p50, 2), fmt(b.p99, 2), b.errors, fmt(b.rps / a.rps, 2), fmt(b.cpuUs, 1), results.on.map((l) => fmt(l.rps, 0)).join(" ")],
    ],
  );
  process.stdout.write(
    `Median of the per-round ratios (guarded / plain): ${fmt(pairRatio, 2)}; median per-round difference in gateway CPU: ${fmt(pairCpu, 1)} µs/request\n`,
  );

  const GiB = 1024 ** 3;
  globalThis.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const upload = JSON.parse(await run(["upload", String(plain.server.port), plain.hosts.sink!, String(GiB)])) as { seconds: number; status: number; body: string };
  clearInterval(sampler);
  const MiB = 1024 * 1024;
  table(
    "1 GiB request body streamed through the gateway into a function",
    ["status", "bytes counted by the function", "seconds", "MiB/s", "gateway RSS before", "gateway RSS peak", "growth"],
    [[upload.status, upload.body, fmt(upload.seconds, 2), fmt(GiB / MiB / upload.seconds, 0), `${fmt(baseline / MiB, 0)} MiB`, `${fmt(peak / MiB, 0)} MiB`, `${fmt((peak - baseline) / MiB, 0)} MiB`]],
  );
  // The same checks without HTTP around them: what each request pays, in a
  // number that load noise barely moves. Last, so that its garbage does not
  // show in the memory figures above.
  const limiter = new RateLimiter({ rate: 1e9, burst: 1e9 });
  const iterations = 200_000;
  const timeIt = (check: () => unknown) => {
    for (let i = 0; i < 10_000; i++) check();
    const started = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) check();
    return Number(process.hrtime.bigint() - started) / iterations;
  };
  const authNs = timeIt(() => guarded.server.tokens.checkProxy("bench", proxy.key, proxy.secret));
  const wrongNs = timeIt(() => guarded.server.tokens.checkProxy("bench", "wk-0000000000000000", proxy.secret));
  const rateNs = timeIt(() => limiter.take("bench", performance.now()));
  const clientNs = timeIt(() => limiter.take("bench", performance.now(), "127.0.0.1"));
  const failures = new FailedAuthLimiter();
  const failedNs = timeIt(() => failures.check("127.0.0.1", performance.now()));
  table(
    `Guard checks alone, ${iterations} calls each`,
    ["check", "ns per request"],
    [
      ["proxy auth, valid key and secret", fmt(authNs, 0)],
      ["proxy auth, unknown key (in-memory index, no store read)", fmt(wrongNs, 0)],
      ["rate limit (the workspace's bucket)", fmt(rateNs, 0)],
      ["rate limit, public endpoint (the client's share, then the workspace's)", fmt(clientNs, 0)],
      ["failed-auth check of an address that never failed", fmt(failedNs, 0)],
    ],
  );
} finally {
  for (const p of [plain, guarded]) {
    await p.server.close();
    rmSync(p.home, { recursive: true, force: true });
  }
}
