/**
 * The gateway's chain for WebSocket upgrades, the twin of the HTTP chain in
 * server.ts with the same steps and statuses (answered as raw HTTP on the
 * socket, since an upgrade has no ServerResponse):
 *
 *   host ─▶ route ─▶ handshake ─▶ params ─▶ queue ─▶ relay (websocket.ts)
 *    │        │         │            │         │         │
 *   404      404       400          422       503       502 / the app's own refusal
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Dispatcher } from "undici";
import { classifyHost } from "../control/labels.js";
import { ERRORS, errorBody, type ErrorCode } from "../errors/codes.js";
import { PoolError } from "../router/pool.js";
import type { FunctionService } from "../router/service.js";
import { resolveParams } from "./params.js";
import { endpointOf } from "./proxy.js";
import { isWebSocketHandshake, refuseUpgrade, relayWebSocket } from "./websocket.js";

export interface UpgradeDeps {
  domain: string;
  routes: { lookup(hostLabel: string): FunctionService<Dispatcher> | undefined };
  /** The request headers the container receives (forwarding headers applied). */
  headersFor(req: IncomingMessage): string[];
  /** The response header that carries the request id, and a fresh id. */
  requestId(): [string, string];
}

export function createUpgradeHandler(deps: UpgradeDeps): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    socket.on("error", () => socket.destroy());
    handleUpgrade(deps, req, socket, head).catch((error: unknown) => {
      console.error("gateway: unexpected error in a WebSocket upgrade", error);
      refuse(socket, "internal_error");
    });
  };
}

async function handleUpgrade(deps: UpgradeDeps, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const host = classifyHost(req.headers.host, deps.domain);
  const service = host.kind === "function" ? deps.routes.lookup(host.hostLabel) : undefined;
  if (!service) return refuse(socket, "unknown_host", `No berth function answers at ${req.headers.host ?? "(no Host header)"}.`);
  if (!isWebSocketHandshake(req)) {
    return refuse(socket, "bad_request", "Only RFC 6455 WebSocket upgrades (GET, Upgrade: websocket, Sec-WebSocket-Version: 13, a valid key) are accepted.");
  }
  const selected = resolveParams(service.manifest, req.url);
  if (!selected.ok) return refuse(socket, "invalid_input", "Invalid parameters.", { issues: selected.issues });

  const idHeader = deps.requestId();
  const controller = new AbortController();
  const onGone = () => controller.abort();
  socket.once("close", onGone);
  let lease;
  try {
    lease = await service.pool(selected.params, selected.key).acquire(controller.signal);
  } catch (error) {
    if (!(error instanceof PoolError)) throw error;
    if (error.code === "aborted") return;
    const headers: Record<string, string> = { [idHeader[0]]: idHeader[1] };
    if (error.code === "queue_full" || error.code === "startup_failed") headers["retry-after"] = "1";
    return refuse(socket, error.code, error.message, {}, headers);
  } finally {
    socket.off("close", onGone);
  }
  relayWebSocket(req, socket, head, {
    endpoint: endpointOf(lease.upstream),
    headers: deps.headersFor(req),
    idleMs: service.timeoutMs,
    drain: service.drainSignal,
    responseHeaders: [idHeader],
    done: () => lease.release(),
  });
}

function refuse(socket: Duplex, code: ErrorCode, message?: string, details: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
  refuseUpgrade(socket, ERRORS[code].status, JSON.stringify(errorBody(code, message, details)), headers);
}
