/**
 * Serves a started function's handler inside the container: an HTTP server
 * on the container's Unix socket for fetch and node handlers; a user's own
 * server (a `port` handler) is reached directly.
 */
import { createServer, type Server } from "node:http";
import type { ContainerHandler } from "../sdk/contract.js";
import { fetchListener } from "./fetch-listener.js";
import type { ContainerEndpoint } from "./protocol.js";
import { withRequestId } from "./request-output.js";

export interface Serving {
  endpoint: ContainerEndpoint;
  /** Stops accepting, then resolves when in-flight requests are done (or `graceMs` passes). */
  close(graceMs: number): Promise<void>;
}

export async function serveHandler(handler: ContainerHandler, socketPath: string): Promise<Serving> {
  if (handler.type === "port") {
    return { endpoint: { host: "127.0.0.1", port: handler.port }, close: async () => {} };
  }
  const listener = withRequestId(handler.type === "fetch" ? fetchListener((request) => handler.fetch(request)) : handler.listener);
  const server = createServer(listener);
  handler.attach?.(server);
  server.keepAliveTimeout = 60_000;
  // The function's timeout, enforced by the gateway, is what bounds a call.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  return { endpoint: { socketPath }, close: (graceMs) => closeServer(server, graceMs) };
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
