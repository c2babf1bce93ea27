/**
 * WebSocket echo round trips/s through berth's gateway next to a direct
 * connection to the same `ws` server in the same container, measured in the
 * same run (bench/support/ws-load.ts in its own process).
 *
 *   npx tsx bench/websocket.ts [seconds=5] [connections=20]
 */
import { join } from "node:path";
import { request } from "undici";
import { deployBench } from "./support/deploy.js";
import { printTable } from "./support/table.js";
import { runWsLoad } from "./support/ws-load.js";

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 20);

const berth = await deployBench(join(import.meta.dirname, "apps", "ws-echo.ts"), "echo");
try {
  // The echo server answers plain GETs with its port, so it can be reached without the gateway too.
  const answer = await request(`http://127.0.0.1:${berth.port}/`, { headers: { host: berth.host } });
  const serverPort = Number(await answer.body.text());
  await runWsLoad(serverPort, "/", "127.0.0.1", connections, 1);
  await runWsLoad(berth.port, "/", berth.host, connections, 1);
  const direct = await runWsLoad(serverPort, "/", "127.0.0.1", connections, seconds);
  const proxied = await runWsLoad(berth.port, "/", berth.host, connections, seconds);
  printTable(
    `WebSocket echo (64 B): ${connections} connections, ${seconds} s each`,
    ["path", "round trips/s", "p50 ms", "p99 ms", "errors", "ratio"],
    [
      ["direct to the container's ws server", direct.rps, direct.p50, direct.p99, direct.errors, 1],
      ["through the berth gateway", proxied.rps, proxied.p50, proxied.p99, proxied.errors, proxied.rps / direct.rps],
    ],
  );
} finally {
  await berth.close();
}
