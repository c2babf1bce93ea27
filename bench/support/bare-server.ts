/**
 * The baseline of the HTTP benchmarks, in its own process: a bare node:http
 * server running the shared handler (apps/hello-handler.ts). Prints its
 * port once listening; with a path argument it listens on that Unix socket
 * instead (behind bench/support/minimal-proxy.ts) and prints 0.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { hello } from "../apps/hello-handler.js";

const server = createServer(hello);
server.keepAliveTimeout = 60_000;
const socketPath = process.argv[2];
if (socketPath) server.listen(socketPath, () => console.log(0));
else server.listen(0, "127.0.0.1", () => console.log((server.address() as AddressInfo).port));
