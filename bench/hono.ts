/**
 * Requests/s of a Hono app through berth's gateway next to the same app on a
 * bare @hono/node-server, measured in the same run with the same closed-loop
 * load (bench/load.ts, in its own process).
 *
 *   npx tsx bench/hono.ts [--seconds=5] [--connections=50]
 */
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { createHonoApp } from "./apps/hono-routes.js";
import { deployBench } from "./platform.js";
import { load, numberArg, printTable } from "./support.js";

const durationMs = numberArg("seconds", 5) * 1000;
const connections = numberArg("connections", 50);

const bare = serve({ fetch: createHonoApp().fetch, port: 0, hostname: "127.0.0.1" });
await new Promise((resolve) => bare.once("listening", resolve));
const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
const berth = await deployBench(fileURLToPath(new URL("./apps/hono-app.ts", import.meta.url)), "hello");

try {
  const gateway = { url: berth.origin, host: berth.host };
  // Warm-ups: the first request to the gateway starts the container; both sides get JIT time.
  await load({ kind: "http", url: bareUrl, connections, durationMs: 1000 });
  await load({ kind: "http", ...gateway, connections, durationMs: 1000 });
  const direct = await load({ kind: "http", url: bareUrl, connections, durationMs });
  const proxied = await load({ kind: "http", ...gateway, connections, durationMs });
  printTable(`Hono "Hello world!", ${connections} connections, ${durationMs / 1000} s each`, "req/s", [
    { name: "bare @hono/node-server", result: direct },
    { name: "through the berth gateway", result: proxied },
  ]);
} finally {
  bare.close();
  await berth.close();
}
