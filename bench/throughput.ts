/**
 * Warm throughput: the hello endpoint through the gateway next to the same
 * answer from a bare node:http server, measured in the same run by the same
 * load generator (a separate process, 50 connections, closed loop).
 *
 *   npx tsx bench/throughput.ts [seconds=5] [connections=50]
 */
import { LOAD_GENERATOR, benchPlatform, runLoad, startBaseline } from "./support/run.js";
import { printTable } from "./support/table.js";

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 50);

const baseline = await startBaseline();
const platform = await benchPlatform();
try {
  await runLoad(platform.server.port, platform.hosts.hello!, connections, 1);
  await runLoad(baseline.port, "localhost", connections, 1);
  const bare = await runLoad(baseline.port, "localhost", connections, seconds);
  const gateway = await runLoad(platform.server.port, platform.hosts.hello!, connections, seconds);
  printTable(
    `Warm throughput, ${connections} connections, ${seconds} s each (same run, ${LOAD_GENERATOR})`,
    ["target", "req/s", "p50 ms", "p99 ms", "errors", "ratio"],
    [
      ["bare node:http", bare.rps, bare.p50, bare.p99, String(bare.errors), "1.00"],
      ["berth gateway → container", gateway.rps, gateway.p50, gateway.p99, String(gateway.errors), (gateway.rps / bare.rps).toFixed(2)],
    ],
  );
} finally {
  baseline.child.kill();
  await platform.close();
}
