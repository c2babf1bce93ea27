/**
 * Serves a started function's handler inside the container: an HTTP server
 * on the container's Unix socket for fetch and node handlers; a user's own
 * server (a `port` handler) is reached directly. It counts the calls it runs,
 * so the agent can tell the platform whether a call it gave up on has ended.
 */
import { createServer, type RequestListener, type Server } from "node:http";
import type { ContainerHandler } from "../sdk/contract.js";
import { fetchListener } from "./fetch-listener.js";
import type { ContainerEndpoint } from "./protocol.js";
import { withRequestId } from "./request-output.js";

export interface Serving {
  endpoint: ContainerEndpoint;
  /** Stops accepting, then resolves when in-flight requests are done (or `graceMs` passes). */
  close(graceMs: number): Promise<void>;
  /**
   * Calls running now: a fetch handler until its promise settles (it may run
   * on after its client left, if it ignores `request.signal`), a node
   * listener until its response closes. Always 0 for a user's own server.
   */
  running(): number;
}

export async function serveHandler(handler: ContainerHandler, socketPath: string): Promise<Serving> {
  if (handler.type === "port") {
    return { endpoint: { host: "127.0.0.1", port: handler.port }, close: async () => {}, running: () => 0 };
  }
  let running = 0;
  const counted: RequestListener =
    handler.type === "fetch"
      ? fetchListener(async (request) => {
          running += 1;
          try {
            return await handler.fetch(request);
          } finally {
            running -= 1;
          }
        })
      : (req, res) => {
          running += 1;
          res.once("close", () => (running -= 1));
          handler.listener(req, res);
        };
  const listener = withRequestId(counted);
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
  return { endpoint: { socketPath }, close: (graceMs) => closeServer(server, graceMs), running: () => running };
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
