/**
 * Several nodes on one PostgreSQL database, measured from outside: real
 * `berth server` processes behind the round-robin load balancer of the
 * tests (test/support/cluster.ts), on a PostgreSQL server of their own.
 *
 *   1. propagation: with 3, 2 and 1 nodes, the time from `deploy`
 *      returning to every node serving the new version (p50 and max over
 *      --deploys deploys), and from `token revoke` returning to every node
 *      refusing the token;
 *   2. kill -9 of one of 3 nodes under load: requests by status, before
 *      and after the kill;
 *   3. a control-plane-heavy mix (redeploys, token creation, authenticated
 *      API calls, revocations) on one in-process server, SQLite against
 *      PostgreSQL, alternating rounds.
 *
 * Never fails on timing.
 *
 *   node --import tsx bench/cluster.ts [--deploys 20] [--mix-seconds 10] [--rounds 4]
 *   npm run bench -- cluster [--long]      (--long: twice the mix's rounds and seconds)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bundleApp } from "../src/bundler/bundle.js";
import { ApiClient } from "../src/cli/client.js";
import { startServer } from "./support/compiled.js";
import type { DeployResult } from "../src/wire/control-api.js";
import { startCluster, type Cluster } from "../test/support/cluster.js";
import { launchPostgres } from "../test/support/postgres.js";
import { request } from "../test/support/platform.js";
import { printTable } from "./support/table.js";

const { values } = parseArgs({
  strict: false,
  options: {
    deploys: { type: "string", default: "20" },
    "mix-seconds": { type: "string", default: "10" },
    rounds: { type: "string", default: "4" },
  },
});
const DEPLOYS = Number(values.deploys);
const LONG = process.env.BERTH_BENCH_LONG ? 2 : 1;
const MIX_SECONDS = Number(values["mix-seconds"]) * LONG;
const ROUNDS = Number(values.rounds) * LONG;

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
// Inside the repository, so the apps resolve "berthjs" as users' apps do.
const work = mkdtempSync(join(import.meta.dirname, ".tmp-cluster-"));
const cleanups: (() => unknown)[] = [];

function appFile(mark: string): string {
  const file = join(work, `${mark}.ts`);
  writeFileSync(
    file,
    `import { App } from "berthjs";
const app = new App("prop");
export const f = app.function().webEndpoint(() => ${JSON.stringify(mark)});
export const guarded = app.function().webEndpoint({ requiresProxyAuth: true }, () => "in");
export const load = app.function({ concurrency: { maxInputs: 8 } }).webEndpoint(async () => { await new Promise((r) => setTimeout(r, 10)); return "ok"; });
`,
  );
  return file;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** Polls every live node until `done(status, body)` holds on all; returns ms since `since`. */
async function untilEveryNode(cluster: Cluster, url: (port: number) => string, init: RequestInit, done: (status: number, body: string) => boolean, since: number) {
  await Promise.all(
    cluster.nodes
      .filter((node) => node.alive())
      .map(async (node) => {
        for (;;) {
          const response = await request(url(node.port), init as never);
          if (done(response.status, await response.text())) return;
          if (performance.now() - since > 30_000) throw new Error(`node ${node.id} never caught up`);
          await sleep(2);
        }
      }),
  );
  return performance.now() - since;
}

async function propagation(cluster: Cluster, bundles: Awaited<ReturnType<typeof bundleApp>>[]) {
  const client = cluster.client();
  for (const bundle of bundles) await client.uploadBlob(bundle.hash, bundle.code);
  const deployMs: number[] = [];
  let last: DeployResult | undefined;
  for (let i = 0; i < DEPLOYS; i += 1) {
    const bundle = bundles[i % 2]!;
    const mark = JSON.stringify(`v${i % 2}`);
    last = await client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {});
    const returned = performance.now();
    const result = last;
    deployMs.push(await untilEveryNode(cluster, (port) => cluster.urlOn(result, "f", port), {}, (status, body) => status === 200 && body === mark, returned));
  }
  const revokeMs: number[] = [];
  for (let i = 0; i < DEPLOYS; i += 1) {
    const token = await client.createToken({ kind: "proxy" });
    const headers = { "berth-key": token.key!, "berth-secret": token.secret! };
    const url = (port: number) => cluster.urlOn(last!, "guarded", port);
    await untilEveryNode(cluster, url, { headers }, (status) => status === 200, performance.now());
    await client.revokeToken(token.id);
    revokeMs.push(await untilEveryNode(cluster, url, { headers }, (status) => status === 401, performance.now()));
  }
  return { deployMs: deployMs.sort((a, b) => a - b), revokeMs: revokeMs.sort((a, b) => a - b) };
}

async function killUnderLoad(cluster: Cluster, result: DeployResult) {
  const before = new Map<string, number>();
  const afterKill = new Map<string, number>();
  let phase: Map<string, number> = before;
  let stop = false;
  const url = cluster.urlOn(result, "load", cluster.lbPort);
  const clientLoop = async () => {
    while (!stop) {
      const status = await request(url).then(
        async (response) => (await response.text(), String(response.status)),
        (error: Error) => `error (${error.message})`,
      );
      phase.set(status, (phase.get(status) ?? 0) + 1);
    }
  };
  const clients = Array.from({ length: 16 }, clientLoop);
  await sleep(3000);
  // Before the kill, not after it resolves (once the process is gone): the requests it cuts are answered meanwhile.
  phase = afterKill;
  await cluster.nodes[1]!.kill();
  await sleep(8000);
  stop = true;
  await Promise.all(clients);
  return { before, afterKill };
}

async function controlPlaneMix(database: string | undefined, seconds: number): Promise<{ cycles: number; ops: number; seconds: number }> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-mix-"));
  const server = await startServer({ home, port: 0, workspace: "bench", requireAuth: true, database, warmAgents: 1, onLog: () => {} });
  try {
    const client = new ApiClient(server.url, undefined, server.bootstrapToken);
    const bundle = await bundleApp(appFile("mix"));
    await client.uploadBlob(bundle.hash, bundle.code);
    let cycles = 0;
    const end = performance.now() + seconds * 1000;
    const started = performance.now();
    // One cycle: a redeploy, a new API token used for five authenticated calls, its revocation. Four clients at once.
    const loop = async () => {
      while (performance.now() < end) {
        await client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {});
        const issued = await client.createToken({ kind: "api", name: "mix" });
        const as = new ApiClient(server.url, undefined, issued.token);
        for (let i = 0; i < 5; i += 1) await as.listApps();
        await client.revokeToken(issued.id);
        cycles += 1;
      }
    };
    await Promise.all([loop(), loop(), loop(), loop()]);
    const elapsed = (performance.now() - started) / 1000;
    return { cycles, ops: cycles * 8, seconds: elapsed };
  } finally {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  }
}

async function main() {
  console.log(`load average before: ${loadAverage()}`);
  const bundles = [await bundleApp(appFile("v0")), await bundleApp(appFile("v1"))];
  const cluster = await startCluster({ after: (fn) => cleanups.push(fn) }, { nodes: 3 });
  const rows: (string | number)[][] = [];
  const measure = async (nodes: number) => {
    const { deployMs, revokeMs } = await propagation(cluster, bundles);
    rows.push([nodes, percentile(deployMs, 50), deployMs.at(-1)!, percentile(revokeMs, 50), revokeMs.at(-1)!]);
  };
  await measure(3);
  await cluster.nodes[2]!.stop();
  await measure(2);
  await cluster.nodes[1]!.stop();
  await measure(1);
  printTable(
    `Propagation (${DEPLOYS} deploys, ${DEPLOYS} revocations per row; ms from the call returning to every node; load average ${loadAverage()})`,
    ["nodes", "deploy p50", "deploy max", "revoke p50", "revoke max"],
    rows,
  );

  cluster.nodes[1] = await cluster.startNode({ id: "n2", home: cluster.nodes[1]!.home, port: cluster.nodes[1]!.port });
  cluster.nodes[2] = await cluster.startNode({ id: "n3", home: cluster.nodes[2]!.home, port: cluster.nodes[2]!.port });
  const last = await cluster.client().deploy({ bundleHash: bundles[0]!.hash, manifest: bundles[0]!.manifest, ephemeral: false }, () => {});
  // Every request comes from the load balancer's one address, and while the dead node still counts as live (up to the 5 s node
  // timeout) the others enforce only their third of each limit: lift the workspace's and the client's, so what is counted is what
  // the kill costs.
  await cluster.client().setWorkspaceLimit("local", { rate: 1_000_000, burst: 1_000_000, clientRate: 1_000_000, clientBurst: 1_000_000 });
  await sleep(2000);
  const { before, afterKill } = await killUnderLoad(cluster, last);
  const statuses = [...new Set([...before.keys(), ...afterKill.keys()])].sort();
  printTable(
    `kill -9 of n2 (of 3) under load: 16 clients through the load balancer, 3 s before and 8 s after (load average ${loadAverage()})`,
    ["status", "before the kill", "after the kill"],
    statuses.map((status) => [status, before.get(status) ?? 0, afterKill.get(status) ?? 0]),
  );
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();

  const pg = await launchPostgres();
  cleanups.push(() => pg.close());
  const mix: Record<string, number[]> = { sqlite: [], postgres: [] };
  // A round of each, not counted: the first deploys of a run pay for cold caches (bundling, images, JIT).
  await controlPlaneMix(undefined, 3);
  await controlPlaneMix(await pg.createDatabase("mix_warmup"), 3);
  for (let round = 0; round < ROUNDS; round += 1) {
    // ABBA: the second of a pair runs on a warmer machine.
    const order = round % 2 === 0 ? ["sqlite", "postgres"] : ["postgres", "sqlite"];
    for (const engine of order) {
      const database = engine === "postgres" ? await pg.createDatabase(`mix_${round}`) : undefined;
      const { ops, seconds } = await controlPlaneMix(database, MIX_SECONDS);
      mix[engine]!.push(ops / seconds);
    }
  }
  const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
  printTable(
    `Control-plane mix, one node, 4 clients, ${ROUNDS} rounds of ${MIX_SECONDS} s (ops: a redeploy, a token creation, 5 authenticated calls, a revocation = 8 per cycle; load average ${loadAverage()})`,
    ["engine", "ops/s (median)", "rounds", "vs sqlite"],
    ["sqlite", "postgres"].map((engine) => [engine, median(mix[engine]!), mix[engine]!.map((v) => v.toFixed(0)).join(", "), `${(median(mix[engine]!) / median(mix.sqlite!)).toFixed(2)}×`]),
  );
}

try {
  await main();
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(work, { recursive: true, force: true });
}
