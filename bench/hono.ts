/**
 * Requests/s of a Hono app through berth's gateway next to the same app on a
 * bare @hono/node-server in this process, measured in the same run with the
 * same closed-loop load (bench/support/load.ts, in its own process).
 *
 *   npx tsx bench/hono.ts [seconds=5] [connections=50]
 */
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { createHonoApp } from "./apps/hono-routes.js";
import { deployBench } from "./support/deploy.js";
import { LOAD_GENERATOR, runLoad } from "./support/run.js";
import { printTable } from "./support/table.js";

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 50);

const bare = serve({ fetch: createHonoApp().fetch, port: 0, hostname: "127.0.0.1" });
await new Promise((resolve) => bare.once("listening", resolve));
const barePort = (bare.address() as AddressInfo).port;
const berth = await deployBench(join(import.meta.dirname, "apps", "hono-app.ts"), "hello");

try {
  // Warm-ups: the first request through the gateway starts the container; both sides get JIT time.
  await runLoad(barePort, "127.0.0.1", connections, 1);
  await runLoad(berth.port, berth.host, connections, 1);
  const direct = await runLoad(barePort, "127.0.0.1", connections, seconds);
  const proxied = await runLoad(berth.port, berth.host, connections, seconds);
  printTable(
    `Hono "Hello world!": ${connections} connections, ${seconds} s each (same run, ${LOAD_GENERATOR})`,
    ["server", "req/s", "p50 ms", "p99 ms", "errors", "ratio"],
    [
      ["bare @hono/node-server", direct.rps, direct.p50, direct.p99, String(direct.errors), 1],
      ["through the berth gateway", proxied.rps, proxied.p50, proxied.p99, String(proxied.errors), proxied.rps / direct.rps],
    ],
  );
} finally {
  bare.close();
  await berth.close();
}
