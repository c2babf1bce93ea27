/**
 * The gateway: the platform's single HTTP entry point. It answers the bare
 * host with the control API and every `<workspace>--<label>` host by proxying
 * to a container of that function.
 *
 * The request path, in this order, because each step is cheaper than the
 * next and must not be skipped by it:
 *
 *   host ─▶ route ─▶ params ─▶ queue (slot on a ready container) ─▶ proxy
 *    │        │        │         │                                   │
 *   404      404      422       503 queue_full / startup_failed     502 container failed
 *   unknown  unknown  invalid   (Retry-After)                        504 past `timeout`
 *
 * `params` picks the container pool of a parametrized function (params.ts).
 * WebSocket upgrades take the same steps in upgrade.ts.
 *
 * A denied request never reaches the queue, so it never starts a container.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { classifyHost } from "../control/labels.js";
import type { FunctionService } from "../router/service.js";
import { PoolError } from "../router/pool.js";
import { resolveParams } from "./params.js";
import { requestHeaders } from "./proxy.js";
import { UpstreamError, type Upstream } from "./upstream.js";
import { sendError } from "./respond.js";
import { createUpgradeHandler } from "./upgrade.js";

export interface RouteLookup {
  lookup(hostLabel: string): FunctionService<Upstream> | undefined;
}

export interface GatewayOptions {
  /** Base domain of function hosts. Default "localhost". */
  domain: string;
  routes: RouteLookup;
  /** Serves the bare host: control API, dashboard, metrics. */
  control: RequestListener;
  /** Trust client-sent X-Forwarded-* headers (only behind a proxy you run). Default false. */
  trustForwarding?: boolean;
}

export const REQUEST_ID_HEADER = "berth-request-id";

/** Tries per request when containers turn out to be unreachable before answering. */
const MAX_ATTEMPTS = 3;

const idPrefix = randomBytes(4).toString("hex");
let requestCounter = 0;

export function createGateway(options: GatewayOptions): Server {
  const listener: RequestListener = (req, res) => {
    handle(options, req, res).catch((error: unknown) => {
      console.error("gateway: unexpected error", error);
      sendError(res, "internal_error");
    });
  };
  const server = createServer({ keepAliveTimeout: 65_000 }, listener);
  server.on(
    "upgrade",
    createUpgradeHandler({
      domain: options.domain,
      routes: options.routes,
      headersFor: (req) => upstreamHeaders(options, req),
      requestId: () => [REQUEST_ID_HEADER, nextRequestId()],
      plain: listener,
    }),
  );
  return server;
}

function nextRequestId(): string {
  requestCounter += 1;
  return `${idPrefix}-${requestCounter.toString(36)}`;
}

/** The client's headers plus the gateway's forwarding headers: what the container receives. */
function upstreamHeaders(options: GatewayOptions, req: IncomingMessage): string[] {
  const clientIp = normaliseAddress(req.socket.remoteAddress);
  const forwardedFor =
    options.trustForwarding && req.headers["x-forwarded-for"] ? `${req.headers["x-forwarded-for"]}, ${clientIp}` : clientIp;
  return requestHeaders(req, { forwardedFor, proto: "http", host: req.headers.host ?? "" }, options.trustForwarding ?? false);
}

async function handle(options: GatewayOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const host = classifyHost(req.headers.host, options.domain);
  if (host.kind === "control") return options.control(req, res);
  const service = host.kind === "function" ? options.routes.lookup(host.hostLabel) : undefined;
  if (!service) return sendError(res, "unknown_host", `No berth function answers at ${req.headers.host ?? "(no Host header)"}.`);

  const selected = resolveParams(service.manifest, req.url);
  if (!selected.ok) return sendError(res, "invalid_input", "Invalid parameters.", {}, { issues: selected.issues });

  const requestId = nextRequestId();

  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new Error("client disconnected"));
  };
  res.once("close", onClose);

  const headers = upstreamHeaders(options, req);

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error("timeout"));
  }, service.timeoutMs);
  try {
    // A container that died an instant ago may still be picked; a request it never received goes to another.
    for (let attempt = 1; ; attempt += 1) {
      let lease;
      try {
        lease = await service.pool(selected.params, selected.key).acquire(controller.signal);
      } catch (error) {
        if (!(error instanceof PoolError)) throw error;
        if (error.code === "aborted") return;
        const errorHeaders: Record<string, string> = { [REQUEST_ID_HEADER]: requestId };
        if (error.code === "queue_full" || error.code === "startup_failed") errorHeaders["retry-after"] = "1";
        return sendError(res, error.code, error.message, errorHeaders);
      }
      try {
        await lease.upstream.forward(req, res, headers, [REQUEST_ID_HEADER, requestId], controller.signal);
        lease.release();
        return;
      } catch (error) {
        const resend = error instanceof UpstreamError && error.retryable && !controller.signal.aborted;
        lease.release(resend);
        if (resend && attempt < MAX_ATTEMPTS) continue;
        if (timedOut) {
          sendError(res, "timeout", `The function did not finish within its timeout of ${service.manifest.timeout} s.`, {
            [REQUEST_ID_HEADER]: requestId,
          });
        } else if (!controller.signal.aborted) {
          sendError(res, "upstream_failed", undefined, { [REQUEST_ID_HEADER]: requestId });
        } else {
          res.destroy();
        }
        return;
      }
    }
  } finally {
    clearTimeout(timer);
    res.off("close", onClose);
  }
}

/** `::ffff:127.0.0.1` → `127.0.0.1`: clients see the address family they connected with. */
export function normaliseAddress(address: string | undefined): string {
  if (!address) return "";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}
