/**
 * What the gateway's guards cost: warm requests/s through the gateway with
 * proxy auth and rate limiting on (a limit no run reaches, so every request
 * pays for the check and none is refused), next to the same endpoint with
 * both off, in one run (rounds in alternating order, medians, with the
 * gateway's CPU time per request, which a busy machine disturbs less); then
 * the gateway's peak memory while a 1 GiB body streams through it into a
 * function; then the checks alone.
 *
 *   npx tsx bench/gateway-guards.ts [--seconds 2] [--rounds 4] [--connections 50] [--long]
 *
 * The load generator runs as a separate process; the gateway and its
 * platform run in this one, so this process's RSS is the gateway's memory.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundleApp } from "../src/bundler/bundle.js";
import { ApiClient } from "../src/cli/client.js";
import { FailedAuthLimiter, RateLimiter } from "../src/gateway/rate-limiter.js";
import type { RunningServer, ServerOptions } from "../src/server/start.js";
import { startServer } from "./support/compiled.js";
import type { LoadResult } from "./support/load.js";
import { benchFlags } from "./support/options.js";
import { addFailures, failureText, loadAverage, ratioText, withheldNote, type Failures } from "./support/report.js";
import { alternate, median } from "./support/rounds.js";
import { LOAD_GENERATOR, runLoad } from "./support/run.js";
import { printTable } from "./support/table.js";

const { seconds, rounds, connections } = benchFlags({ seconds: 2, rounds: 4, connections: 50 });
const REPO = resolve(import.meta.dirname, "..");

const APP = `
import { App } from "berthjs";
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

interface Measured extends LoadResult {
  /** Microseconds of this process's CPU (the gateway's) per request. */
  cpuUs: number;
}

async function platform(options: Partial<ServerOptions>): Promise<{ server: RunningServer; hosts: Record<string, string>; client: ApiClient; home: string }> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-"));
  const server = await startServer({ home, port: 0, workspace: "bench", warmAgents: 1, ephemeralState: true, onLog: () => {}, ...options });
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

function upload(port: number, host: string, bytes: number): Promise<{ seconds: number; status: number; body: string }> {
  return new Promise((resolveUpload, reject) =>
    execFile(process.execPath, ["--import", "tsx", join(REPO, "bench/support/upload.ts"), String(port), host, String(bytes)], (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolveUpload(JSON.parse(stdout) as { seconds: number; status: number; body: string }),
    ),
  );
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

const loadBefore = loadAverage();
const plain = await platform({ rateLimit: null });
const guarded = await platform({ requireAuth: true, rateLimit: { rate: 1e9, burst: 1e9 } });
try {
  const proxy = await guarded.client.createToken({ kind: "proxy" });
  const credentials = { "berth-key": proxy.key!, "berth-secret": proxy.secret! };
  const SIDES = ["plain", "guarded"] as const;
  type Side = (typeof SIDES)[number];
  const LABELS: Record<Side, string> = { plain: "no proxy auth, no rate limit", guarded: "proxy auth + rate limit" };
  const load = (side: Side, duration: number) =>
    side === "plain"
      ? runLoad(plain.server.port, plain.hosts.open!, connections, duration)
      : runLoad(guarded.server.port, guarded.hosts.guarded!, connections, duration, credentials);
  for (const side of SIDES) await load(side, 1);

  const results = await alternate(SIDES, rounds, async (side): Promise<Measured> => {
    const before = process.cpuUsage();
    const result = await load(side, seconds);
    const used = process.cpuUsage(before);
    return { ...result, cpuUs: (used.user + used.system) / result.requests };
  });
  const failures = (side: Side) => results[side].reduce((all, r) => addFailures(all, r.failures), {} as Failures);
  const pick = (side: Side, key: "rps" | "p50" | "p99" | "cpuUs") => median(results[side].map((r) => r[key]));
  const anyFailed = withheldNote(SIDES.map((side) => [LABELS[side], failures(side)]));
  // Each round's two runs are back to back, so their ratio cancels most of a busy machine's swings.
  const pairRatio = anyFailed ? "withheld" : `${fmt(median(results.guarded.map((r, i) => r.rps / results.plain[i]!.rps)), 2)}×`;
  const pairCpu = median(results.guarded.map((r, i) => r.cpuUs - results.plain[i]!.cpuUs));
  printTable(
    `Gateway guards: ${connections} connections, ${rounds} rounds of ${seconds} s in alternating order, medians (${LOAD_GENERATOR}; load average ${loadBefore} before, ${loadAverage()} after)`,
    ["gateway", "req/s", "p50 ms", "p99 ms", "ratio", "gateway CPU µs/req", "failed", "req/s per round"],
    SIDES.map((side) => [
      LABELS[side],
      pick(side, "rps"),
      pick(side, "p50"),
      pick(side, "p99"),
      ratioText(pick(side, "rps"), pick("plain", "rps"), failures(side), failures("plain")),
      fmt(pick(side, "cpuUs")),
      failureText(failures(side)),
      results[side].map((r) => Math.round(r.rps)).join(" "),
    ]),
  );
  if (anyFailed) console.log(anyFailed);
  console.log(`Median of the per-round ratios (guarded / plain): ${pairRatio}; median per-round difference in gateway CPU: ${fmt(pairCpu)} µs/request`);

  const GiB = 1024 ** 3;
  const MiB = 1024 * 1024;
  globalThis.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const sent = await upload(plain.server.port, plain.hosts.sink!, GiB);
  clearInterval(sampler);
  printTable(
    "1 GiB request body streamed through the gateway into a function",
    ["status", "bytes counted by the function", "seconds", "MiB/s", "gateway RSS before", "gateway RSS peak", "growth"],
    [[sent.status, sent.body, fmt(sent.seconds, 2), fmt(GiB / MiB / sent.seconds, 0), `${fmt(baseline / MiB, 0)} MiB`, `${fmt(peak / MiB, 0)} MiB`, `${fmt((peak - baseline) / MiB, 0)} MiB`]],
  );

  // The same checks without HTTP around them: what each request pays, in a number load noise barely moves.
  // Last, so that its garbage does not show in the memory figures above.
  const limiter = new RateLimiter({ rate: 1e9, burst: 1e9 });
  const iterations = 200_000;
  const timeIt = (check: () => unknown) => {
    for (let i = 0; i < 10_000; i++) check();
    const started = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) check();
    return Number(process.hrtime.bigint() - started) / iterations;
  };
  const failedAuth = new FailedAuthLimiter();
  printTable(
    `Guard checks alone, ${iterations} calls each`,
    ["check", "ns per request"],
    [
      ["proxy auth, valid key and secret", fmt(timeIt(() => guarded.server.tokens.checkProxy("bench", proxy.key!, proxy.secret!)), 0)],
      ["proxy auth, unknown key (in-memory index, no store read)", fmt(timeIt(() => guarded.server.tokens.checkProxy("bench", "wk-0000000000000000", proxy.secret!)), 0)],
      ["rate limit (the workspace's bucket)", fmt(timeIt(() => limiter.take("bench", performance.now())), 0)],
      ["rate limit, public endpoint (the client's share, then the workspace's)", fmt(timeIt(() => limiter.take("bench", performance.now(), "127.0.0.1")), 0)],
      ["failed-auth check of an address that never failed", fmt(timeIt(() => failedAuth.check("127.0.0.1", performance.now())), 0)],
    ],
  );
} finally {
  for (const p of [plain, guarded]) {
    await p.server.close();
    rmSync(p.home, { recursive: true, force: true });
  }
}
