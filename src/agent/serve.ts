/**
 * Serves a started function's handler inside the container: an HTTP server
 * on the container's Unix socket for fetch and node handlers, or, for a
 * user's own server, a wait until its port accepts connections.
 */
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { ContainerHandler } from "../sdk/contract.js";
import type { ContainerEndpoint } from "./protocol.js";

export interface Serving {
  endpoint: ContainerEndpoint;
  /** Stops accepting, then resolves when in-flight requests are done (or `graceMs` passes). */
  close(graceMs: number): Promise<void>;
}

/**
 * Refuses to start a server function whose port is taken: otherwise a second
 * replica's requests would silently reach the first replica's server.
 */
export async function assertPortFree(port: number): Promise<void> {
  if (await acceptsConnections(port)) {
    throw new Error(
      `port ${port} is already in use on this machine (another container of this function, or another program): ` +
        "the process runtime shares the host's network, so give each replica its own port, set maxContainers: 1, or use the sandbox runtime",
    );
  }
}

export async function serveHandler(handler: ContainerHandler, socketPath: string): Promise<Serving> {
  if (handler.type === "port") {
    return { endpoint: { host: "127.0.0.1", port: handler.port }, close: async () => {} };
  }
  const listener =
    handler.type === "fetch"
      ? getRequestListener((request: Request) => handler.fetch(request), { overrideGlobalObjects: false })
      : handler.listener;
  const server = createServer(listener);
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

/** Resolves once `port` accepts a TCP connection on loopback, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (await acceptsConnections(port)) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `nothing accepted connections on port ${port} within ${Math.round(timeoutMs / 1000)} s: ` +
          "make the server listen on 0.0.0.0 (not only 127.0.0.1 of another interface) on that port, or raise startupTimeout",
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
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
