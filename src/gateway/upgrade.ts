/**
 * The gateway's chain for WebSocket upgrades, the twin of the HTTP chain in
 * server.ts with the same steps and statuses. Refusals are written with a
 * `ServerResponse` bound to the upgrade's socket, so every `res`-based step
 * of the HTTP chain can run here unchanged.
 *
 *   one host ─▶ host ─▶ route ─▶ auth, rate limit, limits ─▶ handshake ─▶ params ─▶ queue ─▶ relay (websocket.ts)
 *      │          │        │         │                          │            │         │         │
 *     400        404      404       401 / 429 / 431, 413        400          422       503       502 / the app's own refusal
 *
 * The handshake step also refuses simple endpoints (webEndpoint), which
 * serve no WebSockets, and malformed `Sec-WebSocket-Protocol` lists, before
 * a container is involved. Once a lease is taken, every way out gives it
 * back: the relay's `done`, or the catch below if starting the relay throws.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { BerthError } from "../errors/codes.js";
import { classifyHost } from "../hosts/labels.js";
import type { Clock } from "../clock/clock.js";
import type { Logger } from "../logging/logger.js";
import type { FunctionService } from "../router/service.js";
import { guardSocket } from "./crash-guard.js";
import { resolveParams } from "./params.js";
import { hostProblem } from "./request-target.js";
import { declaresBody, ResponseScope, sendError } from "./respond.js";
import type { AccessLog } from "./access-log.js";
import type { Upstream } from "./upstream.js";
import { handshakeProblem, relayWebSocket, upgradeResponse } from "./websocket.js";

export interface UpgradeDeps {
  domain: string;
  routes: { lookup(hostLabel: string): FunctionService<Upstream> | undefined };
  /** The request headers the container receives (forwarding headers applied). */
  headersFor(req: IncomingMessage): string[];
  /** Gets an access line's values per connection, as it ends. */
  access?: AccessLog;
  /** Times connections for their access lines. */
  clock: Clock;
  /** The response header that carries the request id, and a fresh id. */
  requestId(): [string, string];
  /** The HTTP chain's guards (guards.ts); false when they answered a refusal. */
  admit(service: FunctionService<Upstream>, req: IncomingMessage, res: ServerResponse, idHeaders: Record<string, string>): boolean;
  /** The plain HTTP chain, for requests that offer an upgrade other than WebSocket. */
  plain(req: IncomingMessage, res: ServerResponse): void;
  logger: Logger;
}

export interface UpgradeHandler {
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Cuts every upgraded connection still open (shutdown: a WebSocket peer that ignores its close frame must not hold it up). */
  closeAll(): void;
}

export function createUpgradeHandler(deps: UpgradeDeps): UpgradeHandler {
  // Upgraded sockets leave the HTTP server's connection tracking, so `closeAllConnections` does not reach them.
  const open = new Set<Duplex>();
  return {
    handle(req, socket, head) {
      socket.on("error", () => socket.destroy());
      open.add(socket);
      socket.once("close", () => open.delete(socket));
      const res = upgradeResponse(req, socket);
      guardSocket(socket, new ResponseScope(res, deps.logger));
      // `Upgrade: h2c` (curl --http2) and the like: answered as the plain HTTP/1.1 request it also is (RFC 9110 §7.8).
      // Node stops parsing an upgrade request after its head, so only a bodiless one can be served that way.
      if (req.headers.upgrade?.toLowerCase() !== "websocket" && !declaresBody(req)) return deps.plain(req, res);
      handleUpgrade(deps, req, res, socket, head).catch((error: unknown) => {
        deps.logger.error({ err: error, host: req.headers.host }, "unexpected error in a WebSocket upgrade");
        sendError(res, "internal_error");
      });
    },
    closeAll() {
      for (const socket of open) socket.destroy();
    },
  };
}

async function handleUpgrade(deps: UpgradeDeps, req: IncomingMessage, res: ServerResponse, socket: Duplex, head: Buffer): Promise<void> {
  const ambiguous = hostProblem(req);
  if (ambiguous !== null) return sendError(res, "bad_request", ambiguous);
  const host = classifyHost(req.headers.host, deps.domain);
  const service = host.kind === "function" ? deps.routes.lookup(host.hostLabel) : undefined;
  if (!service) return sendError(res, "unknown_host", `No berth function answers at ${req.headers.host ?? "(no Host header)"}.`);
  const idHeader = deps.requestId();
  const idHeaders = { [idHeader[0]]: idHeader[1] };
  if (!deps.admit(service, req, res, idHeaders)) return;
  const problem = handshakeProblem(req);
  if (problem) return sendError(res, "bad_request", problem, idHeaders);
  if (service.manifest.kind === "endpoint") {
    return sendError(res, "bad_request", "Simple endpoints (webEndpoint) do not accept WebSockets; serve them with fetchApp, nodeApp or webServer.", idHeaders);
  }
  const selected = resolveParams(service.manifest, req.url);
  if (!selected.ok) return sendError(res, "invalid_input", "Invalid parameters.", idHeaders, { issues: selected.issues });

  const arrived = deps.clock.now();
  const controller = new AbortController();
  const onGone = () => controller.abort();
  socket.once("close", onGone);
  let lease;
  try {
    lease = await service.pool(selected.params, selected.key).acquire(controller.signal);
  } catch (error) {
    // Answered from the error itself, as the HTTP chain does (`Retry-After` included).
    if (!(error instanceof BerthError)) throw error;
    if (error.code === "client_closed") return;
    return sendError(res, error.code, error.message, { ...idHeaders, ...error.headers });
  } finally {
    socket.off("close", onGone);
  }
  const release = (status: number) => {
    lease.release();
    const ended = deps.clock.now();
    deps.access?.record({
      identity: service.identity,
      requestId: idHeader[1],
      method: req.method ?? "GET",
      url: req.url ?? "",
      status,
      durationMs: ended - arrived,
      coldStartMs: lease.coldStartMs,
      container: lease.containerId,
      endedAt: ended,
    });
  };
  try {
    relayWebSocket(req, socket, head, {
      endpoint: lease.upstream.endpoint,
      headers: [...deps.headersFor(req), ...idHeader],
      idleMs: service.timeoutMs,
      drain: service.drainSignal,
      responseHeaders: [idHeader],
      upstreamFailed: () => sendError(res, "upstream_failed", "The function's container failed to accept the WebSocket connection.", idHeaders),
      done: release,
      logger: deps.logger,
    });
  } catch (error) {
    // Releasing twice is harmless (the pool ignores it); keeping a slot forever would jam the function.
    lease.release();
    throw error;
  }
}
