/**
 * The gateway: the platform's single HTTP entry point. It answers the bare
 * host with the control API and every `<workspace>--<label>` host by proxying
 * to a container of that function.
 *
 * The request path, in this order, because each step is cheaper than the
 * next and must not be skipped by it:
 *
 *   host ─▶ route ─▶ result URL? ─▶ params ─▶ queue (slot on a ready container) ─▶ proxy
 *    │        │         │            │         │                                   │
 *   404      404       the parked   422       503 queue_full / startup_failed     502 container failed
 *   unknown  unknown   call's       invalid   / stopped (Retry-After)             504 past `timeout`
 *                      answer                                                     303 to a result URL when
 *                                                                                 no answer has started
 *                                                                                 within the call delay
 *
 * `result URL` answers `/__berth/calls/<id>` from a call that was answered
 * 303 (calls.ts). `params` picks the container pool of a parametrized
 * function (params.ts).
 * WebSocket upgrades take the same steps in upgrade.ts.
 *
 * A denied request never reaches the queue, so it never starts a container.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { classifyHost } from "../control/labels.js";
import type { FunctionService, ServiceIdentity } from "../router/service.js";
import { PoolError } from "../router/pool.js";
import { CallRegistry, type Call } from "./calls.js";
import { resolveParams, type ParamsResult } from "./params.js";
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
  /** Long calls and their result URLs. */
  calls: CallRegistry;
  /** Told of every proxied request's outcome (metrics). */
  observer?: RequestObserver;
}

export interface RequestObserver {
  /** `totalMs` from arrival to the end of the response; `queueMs` waiting for a container slot. */
  requestDone(identity: ServiceIdentity, status: number, totalMs: number, queueMs: number): void;
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
  const arrived = performance.now();
  const host = classifyHost(req.headers.host, options.domain);
  if (host.kind === "control") return options.control(req, res);
  const service = host.kind === "function" ? options.routes.lookup(host.hostLabel) : undefined;
  if (!service) return sendError(res, "unknown_host", `No berth function answers at ${req.headers.host ?? "(no Host header)"}.`);

  const requestId = nextRequestId();
  const idHeader = { [REQUEST_ID_HEADER]: requestId };
  if (CallRegistry.isResultUrl(req.url)) return options.calls.follow(service.identity.hostLabel, req, res, idHeader);

  const selected = resolveParams(service.manifest, req.url);
  if (!selected.ok) return sendError(res, "invalid_input", "Invalid parameters.", idHeader, { issues: selected.issues });

  const call = options.calls.begin(req, res, service.identity.hostLabel, idHeader);
  try {
    await proxyCall(options, service, selected, call, req, requestId);
  } finally {
    call.settle();
    // 499 (nginx's "client closed request"): the client left before any answer.
    options.observer?.requestDone(service.identity, call.status || 499, performance.now() - arrived, call.queueMs);
  }
}

async function proxyCall(
  options: GatewayOptions,
  service: FunctionService<Upstream>,
  selected: Extract<ParamsResult, { ok: true }>,
  call: Call,
  req: IncomingMessage,
  requestId: string,
): Promise<void> {
  const headers = upstreamHeaders(options, req);
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  try {
    // A container that died an instant ago may still be picked; a request it never received goes to another.
    for (let attempt = 1; ; attempt += 1) {
      const queuedAt = performance.now();
      let lease;
      try {
        lease = await service.pool(selected.params, selected.key).acquire(call.signal);
      } catch (error) {
        if (!(error instanceof PoolError)) throw error;
        if (error.code === "aborted") return;
        const retry = error.code === "queue_full" || error.code === "startup_failed" || error.code === "stopped";
        return call.fail(error.code, error.message, retry ? { "retry-after": String(error.retryAfter) } : {});
      } finally {
        call.queueMs += performance.now() - queuedAt;
      }
      // `timeout` bounds the call from its first slot, not its time in the queue.
      timer ??= setTimeout(() => {
        timedOut = true;
        call.abort();
      }, service.timeoutMs);
      try {
        await lease.upstream.forward(req, call, headers, [REQUEST_ID_HEADER, requestId], call.signal);
        lease.release();
        return;
      } catch (error) {
        const resend = error instanceof UpstreamError && error.retryable && !call.signal.aborted;
        lease.release(resend);
        if (resend && attempt < MAX_ATTEMPTS) continue;
        if (timedOut) call.fail("timeout", `The function did not finish within its timeout of ${service.manifest.timeout} s.`);
        else if (!call.signal.aborted) call.fail("upstream_failed");
        else call.cut();
        return;
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/** `::ffff:127.0.0.1` → `127.0.0.1`: clients see the address family they connected with. */
export function normaliseAddress(address: string | undefined): string {
  if (!address) return "";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}
