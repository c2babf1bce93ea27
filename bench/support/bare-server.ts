/**
 * The baseline of the HTTP benchmarks, in its own process: a bare node:http
 * server running the shared handler (apps/hello-handler.ts). Prints its
 * port once listening; with a path argument it listens on that Unix socket
 * instead (behind bench/support/minimal-proxy.ts) and prints 0; with
 * `--mux <path>` also on a multiplexed socket there, as berth's agent does
 * (behind bench/support/minimal-mux-proxy.ts).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { hello } from "../apps/hello-handler.js";
import type * as Listener from "../../src/agent/mux-listener.js";

const server = createServer(hello);
server.keepAliveTimeout = 60_000;
const socketPath = process.argv[2];
if (socketPath === "--mux") {
  // The compiled module, as the agent runs it (bench/support/compiled.ts says why not the sources under tsx).
  const { MuxListener } = (await import(new URL("../../dist/agent/mux-listener.js", import.meta.url).href)) as typeof Listener;
  await new MuxListener(server).listen(process.argv[3]!);
  console.log(0);
} else if (socketPath) server.listen(socketPath, () => console.log(0));
else server.listen(0, "127.0.0.1", () => console.log((server.address() as AddressInfo).port));
