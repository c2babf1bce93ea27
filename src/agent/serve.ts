/**
 * Serves a started function's handler inside the container: an HTTP server
 * for fetch and node handlers, reached on the container's Unix socket and,
 * for the gateway's requests, on its multiplexed socket (mux-listener.ts). A user's own
 * server (a `port` handler) is reached directly when the container shares the
 * host's network, and through the socket, relayed byte for byte to the port,
 * when it has a network namespace of its own. It counts the calls it runs, so
 * the agent can tell the platform whether a call it gave up on has ended.
 */
import { createServer, type RequestListener, type Server } from "node:http";
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { ContainerHandler } from "../sdk/container.js";
import { fetchListener } from "./fetch-listener.js";
import { MuxListener } from "./mux-listener.js";
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

export async function serveHandler(handler: ContainerHandler, socketPath: string, muxSocketPath: string, isolatedNetwork: boolean): Promise<Serving> {
  if (handler.type === "port") {
    if (!isolatedNetwork) return { endpoint: { host: "127.0.0.1", port: handler.port }, close: async () => {}, running: () => 0 };
    const { server, destroyAll } = relayToPort(handler.port);
    await listen(server, socketPath);
    return { endpoint: { socketPath }, close: (graceMs) => closeServer(server, graceMs, destroyAll), running: () => 0 };
  }
  let running = 0;
  // One listener for every response (a response closes once): no closure and no `once` wrapper per request.
  const responseClosed = () => {
    running -= 1;
  };
  const counted: RequestListener =
    handler.type === "fetch"
      ? fetchListener((request) => {
          running += 1;
          let answer: Response | Promise<Response>;
          try {
            answer = handler.fetch(request);
          } catch (error) {
            running -= 1;
            throw error;
          }
          if (!(answer instanceof Promise)) {
            running -= 1;
            return answer;
          }
          return answer.finally(() => (running -= 1));
        })
      : (req, res) => {
          running += 1;
          res.on("close", responseClosed);
          handler.listener(req, res);
        };
  const labelled = withRequestId(counted);
  const server = createServer((req, res) => {
    // The gateway dates every answer itself (node:http adds a Date to a response without one): a Date from here
    // would only be one more field for the gateway to parse and check on every request.
    res.sendDate = false;
    labelled(req, res);
  });
  handler.attach?.(server);
  // No idle timeout: the gateway closes the connections it no longer uses (upstream.ts), so none can race a request
  // here, and answers carry no `Keep-Alive` field for it to read and drop.
  server.keepAliveTimeout = 0;
  // The function's timeout, enforced by the gateway, is what bounds a call.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  const mux = new MuxListener(server);
  await listen(server, socketPath);
  await mux.listen(muxSocketPath);
  return {
    endpoint: { socketPath, muxSocketPath },
    close: (graceMs) => closeHttp(server, mux, graceMs),
    running: () => running,
  };
}

function listen(server: Server | NetServer, socketPath: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
}

/** Each connection to the socket becomes a TCP connection to the user's server; HTTP and WebSocket bytes pass untouched. */
function relayToPort(port: number): { server: NetServer; destroyAll(): void } {
  const connections = new Set<Socket>();
  const server = createNetServer((client) => {
    const upstream = connect({ host: "127.0.0.1", port });
    connections.add(client);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => {
      connections.delete(client);
      upstream.destroy();
    });
    upstream.on("close", () => client.destroy());
  });
  return { server, destroyAll: () => connections.forEach((client) => client.destroy()) };
}

/**
 * Stops accepting, then waits for the requests under way on sockets and on
 * streams alike: `server.close` waits only for the sockets it accepted
 * itself, so the streams (connections it was handed) are counted down here,
 * each closed as soon as it is idle.
 */
async function closeHttp(server: Server, mux: MuxListener, graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs;
  mux.stopAccepting();
  let socketsClosed = false;
  const sockets = closeServer(server, graceMs, () => server.closeAllConnections()).then(() => (socketsClosed = true));
  while (mux.openStreams > 0 && Date.now() < deadline) {
    server.closeIdleConnections();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (mux.openStreams > 0) {
    server.closeAllConnections();
    mux.destroy();
  }
  if (!socketsClosed) await sockets;
  mux.destroy();
}

function closeServer(server: Server | NetServer, graceMs: number, destroyAll: () => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      destroyAll();
      resolve();
    }, graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    if ("closeIdleConnections" in server) server.closeIdleConnections();
  });
}
