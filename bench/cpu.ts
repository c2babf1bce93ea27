/**
 * CPU per request of each process on the warm path: the gateway (this
 * process), the containers' agents (its child processes) and a bare
 * node:http server giving the same answer, measured in the same run. On a
 * small shared machine this is steadier than req/s, which moves with
 * whatever else runs. Reads utime + stime from /proc (Linux only).
 *
 *   npx tsx bench/cpu.ts [seconds=4] [connections=50] [rounds=2]
 */
import { readFileSync, readdirSync } from "node:fs";
import { LOAD_GENERATOR, benchPlatform, runLoad, startBaseline } from "./support/run.js";
import { printTable } from "./support/table.js";

const seconds = Number(process.argv[2] ?? 4);
const connections = Number(process.argv[3] ?? 50);
const rounds = Number(process.argv[4] ?? 2);
/** /proc counts CPU time in clock ticks of 10 ms (USER_HZ 100). */
const MICROSECONDS_PER_TICK = 10_000;

/** User + system CPU time of a process in microseconds. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * MICROSECONDS_PER_TICK;
}

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

const baseline = await startBaseline();
const platform = await benchPlatform();
try {
  const host = platform.hosts.hello!;
  await runLoad(platform.server.port, host, connections, 1);
  await runLoad(baseline.port, "localhost", connections, 1);
  const rows: (string | number)[][] = [];
  for (let round = 1; round <= rounds; round += 1) {
    const agents = childrenOf(process.pid).filter((pid) => pid !== baseline.child.pid);
    const agentsBefore = agents.map(cpuOf);
    const gatewayBefore = cpuOf(process.pid);
    const proxied = await runLoad(platform.server.port, host, connections, seconds);
    const gateway = (cpuOf(process.pid) - gatewayBefore) / proxied.requests;
    // The busiest agent is the one that served (the hello function has one container; the others are the warm pool).
    const agent = Math.max(...agents.map((pid, i) => cpuOf(pid) - agentsBefore[i]!)) / proxied.requests;
    const bareBefore = cpuOf(baseline.child.pid!);
    const bare = await runLoad(baseline.port, "localhost", connections, seconds);
    const bareCpu = (cpuOf(baseline.child.pid!) - bareBefore) / bare.requests;
    rows.push([String(round), proxied.rps, gateway, agent, bare.rps, bareCpu, (proxied.rps / bare.rps).toFixed(2)]);
  }
  printTable(
    `CPU per request, hello endpoint, ${connections} connections, ${seconds} s per run (same run, ${LOAD_GENERATOR})`,
    ["round", "gateway req/s", "gateway µs/req", "agent µs/req", "bare req/s", "bare µs/req", "ratio"],
    rows,
  );
} finally {
  baseline.child.kill();
  await platform.close();
}
