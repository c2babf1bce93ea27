/**
 * The gateway: the platform's single HTTP entry point. It answers the bare
 * host with the control API and every `<workspace>--<label>` host by proxying
 * to a container of that function.
 *
 * The request path, in this order, because each step is cheaper than the
 * next and must not be skipped by it (the parser's own refusals come first:
 * 400 malformed or smuggling-shaped messages, 431 oversized heads, 408 slow
 * heads; see hardening.ts):
 *
 *   host ─▶ route ─▶ auth ─▶ rate limit ─▶ limits ─▶ params ─▶ queue ─▶ proxy
 *    │        │        │         │            │         │         │        │
 *   404      404      401       429          431       422       503      502 container failed
 *   unknown  unknown  proxy     Retry-After  headers   invalid   full /   504 past `timeout`
 *                     auth                   413 body            startup  413 chunked body over the limit
 *                                            400 two Hosts,                408 body stalled
 *                                            bad framing
 *
 * Auth comes before the rate limit so that strangers cannot spend a
 * workspace's budget, and before params so they learn nothing of the
 * function. `params` picks the container pool of a parametrized function
 * (params.ts). WebSocket upgrades take the same steps in upgrade.ts. A
 * denied request never reaches the queue, so it never starts a container.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { classifyHost } from "../control/labels.js";
import type { FunctionService } from "../router/service.js";
import { PoolError } from "../router/pool.js";
import { clientAddress, normaliseAddress, TrustedProxies } from "./client-ip.js";
import type { BodyWatch, Guards } from "./guards.js";
import { hardenServer, serverOptions } from "./hardening.js";
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
  /** Proxies whose X-Forwarded-* headers are believed (`--trust-proxy`). Default: none. */
  trustedProxies?: TrustedProxies;
  /** Proxy auth, rate limits and size limits. */
  guards: Guards;
}

export const REQUEST_ID_HEADER = "berth-request-id";

/** Tries per request when containers turn out to be unreachable before answering. */
const MAX_ATTEMPTS = 3;

const idPrefix = randomBytes(4).toString("hex");
let requestCounter = 0;

export function createGateway(options: GatewayOptions): Server {
  const listener = (expectsContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    handle(options, req, res, expectsContinue).catch((error: unknown) => {
      console.error("gateway: unexpected error", error);
      sendError(res, "internal_error");
    });
  };
  const server = createServer({ keepAliveTimeout: 65_000, ...serverOptions(options.guards.limits) }, listener(false));
  hardenServer(server, options.guards.limits);
  // `Expect: 100-continue` is answered only once the guards pass, so a refused upload is never sent.
  server.on("checkContinue", listener(true));
  server.on(
    "upgrade",
    createUpgradeHandler({
      domain: options.domain,
      routes: options.routes,
      headersFor: (req) => upstreamHeaders(options, req),
      requestId: () => [REQUEST_ID_HEADER, nextRequestId()],
      admit: (service, req, res, idHeaders) => admit(options.guards, service, req, res, idHeaders),
      plain: listener(false),
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
  const peer = normaliseAddress(req.socket.remoteAddress);
  const client = clientAddress(peer, req.headersDistinct["x-forwarded-for"]?.join(", "), options.trustedProxies ?? NO_TRUSTED_PROXIES);
  return requestHeaders(req, { forwardedFor: client.forwardedFor, proto: "http", host: req.headers.host ?? "" }, client.trustedPeer);
}

/** auth → rate limit → limits: each answers its own refusal; true when the request may go on. */
function admit(guards: Guards, service: FunctionService<Upstream>, req: IncomingMessage, res: ServerResponse, idHeaders: Record<string, string>): boolean {
  const route = { workspace: service.identity.workspace, requiresProxyAuth: service.manifest.requiresProxyAuth };
  return guards.authorize(route, req, res, idHeaders) && guards.admitRate(route, req, res, idHeaders) && guards.checkLimits(req, res, idHeaders);
}

async function handle(options: GatewayOptions, req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
  const host = classifyHost(req.headers.host, options.domain);
  if (host.kind === "control") {
    if (expectsContinue) res.writeContinue();
    return options.control(req, res);
  }
  const service = host.kind === "function" ? options.routes.lookup(host.hostLabel) : undefined;
  if (!service) return sendError(res, "unknown_host", `No berth function answers at ${req.headers.host ?? "(no Host header)"}.`);

  const requestId = nextRequestId();
  const idHeaders = { [REQUEST_ID_HEADER]: requestId };
  if (!admit(options.guards, service, req, res, idHeaders)) return;

  const selected = resolveParams(service.manifest, req.url);
  if (!selected.ok) return sendError(res, "invalid_input", "Invalid parameters.", idHeaders, { issues: selected.issues });
  if (expectsContinue) res.writeContinue();

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
  let body: BodyWatch | undefined;
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
        // Attached in the same tick as the upstream's reader, so neither misses a chunk.
        body ??= options.guards.watchBody(req, () => controller.abort(new Error("request body refused")));
        await lease.upstream.forward(req, res, headers, [REQUEST_ID_HEADER, requestId], controller.signal);
        lease.release();
        return;
      } catch (error) {
        const resend = error instanceof UpstreamError && error.retryable && !controller.signal.aborted;
        lease.release(resend);
        if (resend && attempt < MAX_ATTEMPTS) continue;
        const stopped = body?.stopped();
        if (stopped) {
          options.guards.refuseBody(req, res, stopped, idHeaders);
        } else if (timedOut) {
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

const NO_TRUSTED_PROXIES = new TrustedProxies();
