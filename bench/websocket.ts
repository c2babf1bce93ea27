/**
 * WebSocket echo round trips/s through berth's gateway next to a direct
 * connection to the same `ws` server in the same container, measured in the
 * same run (bench/load.ts in its own process: each connection sends 64 bytes
 * and waits for the echo before sending again).
 *
 *   npx tsx bench/websocket.ts [--seconds=5] [--connections=20]
 */
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { deployBench } from "./platform.js";
import { load, numberArg, printTable } from "./support.js";

const durationMs = numberArg("seconds", 5) * 1000;
const connections = numberArg("connections", 20);

const berth = await deployBench(fileURLToPath(new URL("./apps/ws-echo.ts", import.meta.url)), "echo");
try {
  const answer = await request(berth.origin, { headers: { host: berth.host } });
  const port = Number(await answer.body.text());
  const directUrl = `http://127.0.0.1:${port}/`;
  const gateway = { url: berth.origin, host: berth.host };
  await load({ kind: "ws", url: directUrl, connections, durationMs: 1000 });
  await load({ kind: "ws", ...gateway, connections, durationMs: 1000 });
  const direct = await load({ kind: "ws", url: directUrl, connections, durationMs });
  const proxied = await load({ kind: "ws", ...gateway, connections, durationMs });
  printTable(`WebSocket echo (64 B), ${connections} connections, ${durationMs / 1000} s each`, "round trips/s", [
    { name: "direct to the container's ws server", result: direct },
    { name: "through the berth gateway", result: proxied },
  ]);
} finally {
  await berth.close();
}
