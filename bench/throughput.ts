/**
 * Warm throughput of one handler (apps/hello-handler.ts) seven ways, in one run:
 *
 *   bare          a bare node:http server running it: the baseline
 *   gateway→node  through berth's gateway to the `node` function (nodeApp) running it
 *   gateway→hello through the gateway to the `hello` simple endpoint (same answer, through the SDK)
 *   undici proxy  node:http + undici `Pool.request`, body buffered (support/undici-proxy.ts), in front of the bare server: a reference
 *   undici dispatch  node:http + undici `Pool#dispatch` with a raw handler, streaming (support/undici-dispatch-proxy.ts): the
 *                 leanest use of a general client, the comparison for the gateway's own (src/gateway/upstream.ts)
 *   minimal proxy the least a node:http proxy can do (support/minimal-proxy.ts), in front of the bare server on a Unix socket
 *   minimal mux   the same over berth's multiplexed wire (support/minimal-mux-proxy.ts) to the bare server behind a MuxListener:
 *                 the floor of a gateway on node:http with berth's wire
 *
 * Closed loop (wrk -t1, 50 connections), rounds in alternating order,
 * medians. Also the CPU each process spent per request, read from /proc:
 * the proxy's (gateway or undici proxy) and the server's (agent or bare
 * server), which a busy machine moves less than req/s. A ratio is printed
 * only when no request failed.
 *
 *   npx tsx bench/throughput.ts [--seconds 2] [--rounds 4] [--connections 50] [--long]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchFlags } from "./support/options.js";
import { addFailures, failureText, loadAverage, ratioText, withheldNote, type Failures } from "./support/report.js";
import { alternate, median } from "./support/rounds.js";
import { LOAD_GENERATOR, benchPlatform, cpuMicros, runLoad, startBare, startHelper } from "./support/run.js";
import { printTable } from "./support/table.js";
import type { LoadResult } from "./support/load.js";

const { seconds, rounds, connections } = benchFlags({ seconds: 2, rounds: 4, connections: 50 });

const SIDES = ["bare", "gateway→node", "gateway→hello", "undici proxy", "undici dispatch", "minimal proxy", "minimal mux"] as const;
type Side = (typeof SIDES)[number];
const LABELS: Record<Side, string> = {
  bare: "bare node:http (the handler)",
  "gateway→node": "berth gateway → nodeApp (the same handler)",
  "gateway→hello": "berth gateway → webEndpoint hello (same answer)",
  "undici proxy": "undici proxy (buffering) → bare node:http",
  "undici dispatch": "undici proxy (dispatch, raw handler, streaming) → bare node:http",
  "minimal proxy": "minimal node:http proxy → bare node:http (Unix socket)",
  "minimal mux": "minimal node:http proxy → bare node:http (berth's multiplexed socket)",
};

interface Measured {
  load: LoadResult;
  /** Microseconds of CPU per request of the proxy in front (gateway or undici proxy); NaN for the bare server. */
  proxyUs: number;
  /** Microseconds of CPU per request of the process that ran the handler (agent or bare server). */
  serverUs: number;
}

/** The platform's container processes: children of this process (the gateway forks them). */
function childrenOf(parent: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        return Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]) === parent;
      } catch {
        return false;
      }
    });
}

const loadBefore = loadAverage();
const bare = await startBare();
const proxy = await startHelper("undici-proxy.ts", [String(bare.port)]);
const dispatchProxy = await startHelper("undici-dispatch-proxy.ts", [String(bare.port)]);
const socketDir = mkdtempSync(join(tmpdir(), "berth-bench-"));
const bareBehind = await startHelper("bare-server.ts", [join(socketDir, "bare.sock")]);
const minimal = await startHelper("minimal-proxy.ts", [join(socketDir, "bare.sock")]);
const bareMux = await startHelper("bare-server.ts", ["--mux", join(socketDir, "bare.mux.sock")]);
const minimalMux = await startHelper("minimal-mux-proxy.ts", [join(socketDir, "bare.mux.sock")]);
const platform = await benchPlatform();
try {
  const gatewayPort = platform.server.port;
  const target: Record<Side, [number, string]> = {
    bare: [bare.port, "localhost"],
    "gateway→node": [gatewayPort, platform.hosts.node!],
    "gateway→hello": [gatewayPort, platform.hosts.hello!],
    "undici proxy": [proxy.port, "localhost"],
    "undici dispatch": [dispatchProxy.port, "localhost"],
    "minimal proxy": [minimal.port, "localhost"],
    "minimal mux": [minimalMux.port, "localhost"],
  };
  // Warm-up: the first requests start the containers; every side gets JIT time.
  for (const side of SIDES) await runLoad(...target[side], connections, 1);
  const helpers = new Set([bare.child.pid, proxy.child.pid, dispatchProxy.child.pid, bareBehind.child.pid, minimal.child.pid, bareMux.child.pid, minimalMux.child.pid]);
  const agents = childrenOf(process.pid).filter((pid) => !helpers.has(pid));

  const results = await alternate(SIDES, rounds, async (side): Promise<Measured> => {
    const proxyPid = side === "undici proxy" ? proxy.child.pid! : side === "undici dispatch" ? dispatchProxy.child.pid! : side === "minimal proxy" ? minimal.child.pid! : side === "minimal mux" ? minimalMux.child.pid! : process.pid;
    const serverPid = side === "minimal proxy" ? bareBehind.child.pid! : side === "minimal mux" ? bareMux.child.pid! : bare.child.pid!;
    const proxyBefore = cpuMicros(proxyPid);
    const bareBefore = cpuMicros(serverPid);
    const agentsBefore = agents.map(cpuMicros);
    const load = await runLoad(...target[side], connections, seconds);
    const proxyUs = side === "bare" ? NaN : (cpuMicros(proxyPid) - proxyBefore) / load.requests;
    // The agent that served is the busiest one (the others are the other functions' containers and warm spares).
    const agentUs = Math.max(...agents.map((pid, i) => cpuMicros(pid) - agentsBefore[i]!)) / load.requests;
    const serverUs = side.startsWith("gateway") ? agentUs : (cpuMicros(serverPid) - bareBefore) / load.requests;
    return { load, proxyUs, serverUs };
  });

  const summary = (side: Side) => {
    const runs = results[side];
    return {
      rps: median(runs.map((r) => r.load.rps)),
      p50: median(runs.map((r) => r.load.p50)),
      p99: median(runs.map((r) => r.load.p99)),
      proxyUs: median(runs.map((r) => r.proxyUs)),
      serverUs: median(runs.map((r) => r.serverUs)),
      failures: runs.reduce((all, r) => addFailures(all, r.load.failures), {} as Failures),
      perRound: runs.map((r) => Math.round(r.load.rps)).join(" "),
    };
  };
  const base = summary("bare");
  const rows = SIDES.map((side) => {
    const s = summary(side);
    return [
      LABELS[side],
      s.rps,
      s.p50,
      s.p99,
      ratioText(s.rps, base.rps, s.failures, base.failures),
      Number.isNaN(s.proxyUs) ? "-" : s.proxyUs.toFixed(1),
      s.serverUs.toFixed(1),
      failureText(s.failures),
      s.perRound,
    ];
  });
  printTable(
    `Warm throughput, one handler seven ways: ${connections} connections, ${rounds} rounds of ${seconds} s in alternating order, medians (${LOAD_GENERATOR}; load average ${loadBefore} before, ${loadAverage()} after)`,
    ["path", "req/s", "p50 ms", "p99 ms", "ratio", "proxy CPU µs/req", "server CPU µs/req", "failed", "req/s per round"],
    rows,
  );
  const note = withheldNote(SIDES.map((side) => [LABELS[side], summary(side).failures]));
  if (note) console.log(note);
  console.log("Target (issue 9): gateway → nodeApp ≥ 0.50× bare node:http.");
} finally {
  bare.stop();
  proxy.stop();
  dispatchProxy.stop();
  minimal.stop();
  bareBehind.stop();
  minimalMux.stop();
  bareMux.stop();
  await platform.close();
  rmSync(socketDir, { recursive: true, force: true });
}
