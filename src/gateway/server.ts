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
 *   one host ─▶ host ─▶ route ─▶ auth ─▶ rate limit ─▶ limits ─▶ result URL? ─▶ params ─▶ queue ─▶ proxy
 *      │          │        │        │         │            │          │            │         │        │
 *     400        404      404      429 too   429 the      431        the parked   422       503      502 container failed
 *     two Hosts, unknown  unknown  many      client's     headers    call's       invalid   full /   504 past `timeout`
 *     target vs                    failures  share, then  413 body   answer                 startup  303 to a result URL when no
 *     Host                         401       the          400 bad                           stopped  answer has started in time
 *                                  proxy     workspace's  framing                           at cap   413 chunked body over the limit
 *                                  auth      budget                                         (after   408 body stalled, or too slow
 *                                                                                           a wait)  to hold a container
 *
 * Every proxied response carries `berth-request-id` and `server-timing`
 * (`serverTiming` in proxied-call.ts: the wait for a slot, and the cold
 * start when the request waited for one). After the checks, a request is a
 * `ProxiedCall` (proxied-call.ts) until it is answered.
 *
 * "One host" runs for every request, the control API's too (request-target.ts).
 * Auth comes before the rate limit so that strangers cannot spend a
 * workspace's budget, and before result URLs and params so that they reach
 * nothing of a protected function; an address that keeps failing auth is
 * refused before its credentials are even looked at. `result URL` answers
 * `/__berth/calls/<id>` from a call that was answered 303 (calls.ts).
 * `params` picks the container pool of a parametrized function (params.ts).
 * WebSocket upgrades take the same steps in upgrade.ts. A denied request
 * never reaches the queue, so it never starts a container.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer, type Server as TlsServer } from "node:https";
import { randomBytes } from "node:crypto";
import { Server as NetServer } from "node:net";
import type { Clock } from "../clock/clock.js";
import { ERRORS } from "../errors/codes.js";
import { HostClassifier } from "../hosts/labels.js";
import type { Logger } from "../logging/logger.js";
import type { FunctionService, ServiceIdentity } from "../router/service.js";
import type { AccessLog } from "./access-log.js";
import { CallRegistry } from "./calls.js";
import { clientAddress, normaliseAddress, TrustedProxies } from "./client-ip.js";
import { guardSocket } from "./crash-guard.js";
import type { Guards } from "./guards.js";
import { hardenServer, serverOptions } from "./hardening.js";
import { resolveParams } from "./params.js";
import { hostProblem } from "./request-target.js";
import { requestHeaders } from "./proxy.js";
import { ProxiedCall, REQUEST_ID_HEADER } from "./proxied-call.js";
import type { Upstream } from "./upstream.js";
import { declaresBody, lingerAfterAnswer, ResponseScope, sendError } from "./respond.js";
import { createUpgradeHandler } from "./upgrade.js";

export interface RouteLookup {
  lookup(hostLabel: string): FunctionService<Upstream> | undefined;
}

export interface GatewayOptions {
  /** Base domain of function hosts. Default "localhost". */
  domain: string;
  /** Serve HTTPS with this certificate and key (PEM); `X-Forwarded-Proto` is then `https`. Default: plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
  routes: RouteLookup;
  /** Serves the bare host: control API, dashboard, metrics (a rejected promise is answered 500). */
  control: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
  /** Proxies whose X-Forwarded-* headers are believed (`--trust-proxy`). Default: none. */
  trustedProxies?: TrustedProxies;
  /** Proxy auth, rate limits and size limits. */
  guards: Guards;
  /** Long calls and their result URLs. */
  calls: CallRegistry;
  /** Told of every proxied request's outcome (metrics). */
  observer?: RequestObserver;
  /** Gets an access line's values per proxied request (the app's log). */
  access?: AccessLog;
  /** Times requests (metrics) and bounds each call by the function's timeout. */
  clock: Clock;
  /** Where the gateway's own failures go (a request it could not handle: 500). */
  logger: Logger;
}

export interface RequestObserver {
  /** `totalMs` from arrival to the end of the response; `queueMs` waiting for a container slot. */
  requestDone(identity: ServiceIdentity, status: number, totalMs: number, queueMs: number): void;
  /** The guards answered `status` (401, 429, 431, 413, 400) before the queue. */
  requestRefused(identity: ServiceIdentity, status: number): void;
}


/** The gateway's HTTP server (HTTPS with `tls`). */
export type Gateway = (Server | TlsServer) & {
  /** Cuts every open WebSocket at once; `close` and `closeAllConnections` do not reach upgraded connections. */
  closeWebSockets(): void;
  /**
   * The first step of a graceful shutdown: stops accepting connections
   * (the port is closed before this returns), lets every request in
   * flight finish (each answer then carries
   * `Connection: close`, so clients leave their kept-alive connections
   * instead of having them cut under a request on its way), and resolves
   * once none is left or `graceMs` has passed, with the number still in
   * flight then. Requests that arrive meanwhile on open connections are
   * served. Idle connections are closed at the end.
   */
  finishRequests(graceMs: number): Promise<number>;
  /** Requests in flight now (proxied, control API, result URLs). */
  readonly requestsInFlight: number;
};

const idPrefix = randomBytes(4).toString("hex");
let requestCounter = 0;

export function createGateway(options: GatewayOptions): Gateway {
  const inFlight = new InFlight();
  const hosts = new HostClassifier(options.domain);
  const listener = (expectsContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res);
    try {
      // Only the control API answers asynchronously; a proxied request ends through its own callbacks (proxied-call.ts).
      const answering = handle(options, hosts, req, res, expectsContinue);
      if (answering instanceof Promise) answering.catch((error: unknown) => unexpected(options.logger, req, res, error));
    } catch (error) {
      unexpected(options.logger, req, res, error);
    }
  };
  const settings = { keepAliveTimeout: 65_000, ...serverOptions(options.guards.limits) };
  const server = options.tls ? createTlsServer({ ...settings, ...options.tls }, listener(false)) : createServer(settings, listener(false));
  hardenServer(server, options.guards.limits);
  // `Expect: 100-continue` is answered only once the guards pass, so a refused upload is never sent.
  server.on("checkContinue", listener(true));
  const upgrades = createUpgradeHandler({
    domain: options.domain,
    routes: options.routes,
    headersFor: (req) => upstreamHeaders(options, req),
    access: options.access,
    clock: options.clock,
    requestId: () => [REQUEST_ID_HEADER, nextRequestId()],
    admit: (service, req, res, idHeaders) => admit(options.guards, service, req, res, idHeaders),
    plain: listener(false),
    logger: options.logger,
  });
  server.on("upgrade", upgrades.handle);
  return Object.assign(server, {
    closeWebSockets: upgrades.closeAll,
    finishRequests: (graceMs: number) => inFlight.finish(server, graceMs),
    get requestsInFlight() {
      return inFlight.size;
    },
  });
}

/** Where a response's slot in `InFlight` is kept, on the response itself. */
const IN_FLIGHT_SLOT = Symbol("berth.inFlightSlot");
type TrackedResponse = ServerResponse & { [IN_FLIGHT_SLOT]?: number };

/**
 * The responses the gateway is writing, so a shutdown can wait for them.
 * One shared `close` listener per response, no closure: this is on every
 * request's path. They are kept in an array of reusable slots, not a `Set`:
 * a `Set` that every request enters and leaves cost the gateway 5-6 µs of
 * its main thread and ~10 µs of CPU in all per hello request (its garbage
 * collection included; A/B in one process, wrk -c50, 5 alternating rounds,
 * repeated four times), an array slot nothing measurable.
 */
class InFlight {
  private readonly slots: (ServerResponse | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  private count = 0;
  private finishing = false;
  private onEmpty: (() => void) | undefined;
  /** Called with the response as `this`, so one function serves every response. */
  private readonly onClose: (this: TrackedResponse) => void;

  constructor() {
    const { slots, freeSlots } = this;
    const left = () => {
      this.count -= 1;
      if (this.count === 0) this.onEmpty?.();
    };
    this.onClose = function () {
      const slot = this[IN_FLIGHT_SLOT];
      if (slot === undefined) return;
      this[IN_FLIGHT_SLOT] = undefined;
      slots[slot] = undefined;
      freeSlots.push(slot);
      left();
    };
  }

  get size(): number {
    return this.count;
  }

  add(res: ServerResponse): void {
    const slot = this.freeSlots.pop() ?? this.slots.length;
    this.slots[slot] = res;
    (res as TrackedResponse)[IN_FLIGHT_SLOT] = slot;
    this.count += 1;
    res.on("close", this.onClose);
    if (this.finishing) res.shouldKeepAlive = false;
  }

  async finish(server: Server, graceMs: number): Promise<number> {
    this.finishing = true;
    // Only stop listening: `Server.close` would also cut idle kept-alive connections, on which a client may be sending a request right now.
    NetServer.prototype.close.call(server);
    for (const res of this.slots) if (res !== undefined && !res.headersSent) res.shouldKeepAlive = false;
    if (this.count > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.onEmpty = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.onEmpty = undefined;
    }
    server.closeIdleConnections();
    return this.count;
  }
}

function nextRequestId(): string {
  requestCounter += 1;
  return `${idPrefix}-${requestCounter.toString(36)}`;
}

/** The client's headers plus the gateway's forwarding headers: what the container receives. */
function upstreamHeaders(options: GatewayOptions, req: IncomingMessage): string[] {
  const peer = normaliseAddress(req.socket.remoteAddress);
  const trusted = options.trustedProxies ?? NO_TRUSTED_PROXIES;
  // `headersDistinct` is built on first use: only a trusted peer's X-Forwarded-For is worth that.
  const forwardedFor = trusted.has(peer) ? req.headersDistinct["x-forwarded-for"]?.join(", ") : undefined;
  const client = clientAddress(peer, forwardedFor, trusted);
  return requestHeaders(req, { forwardedFor: client.forwardedFor, proto: options.tls ? "https" : "http", host: req.headers.host ?? "" }, client.trustedPeer);
}

/** auth → rate limit → limits (guards.ts): true when the request may go on, else the refusal is answered. */
function admit(guards: Guards, service: FunctionService<Upstream>, req: IncomingMessage, res: ServerResponse, idHeaders: Record<string, string>): boolean {
  return guards.admit({ workspace: service.identity.workspace, requiresProxyAuth: service.manifest.requiresProxyAuth }, req, res, idHeaders);
}

/** A fault of the gateway's own while handling a request: logged, and 500 if nothing was sent yet. */
function unexpected(logger: Logger, req: IncomingMessage, res: ServerResponse, error: unknown): void {
  logger.error({ err: error, host: req.headers.host, method: req.method }, "unexpected error handling a request");
  sendError(res, "internal_error");
}

/** The request path (see the top of this file). A promise only from the control API. */
function handle(options: GatewayOptions, hosts: HostClassifier, req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void | Promise<void> {
  const arrived = options.clock.now();
  const ambiguous = hostProblem(req);
  if (ambiguous !== null) return options.guards.refuse(req, res, { code: "bad_request", message: ambiguous }, {});
  const host = hosts.classify(req.headers.host);
  if (host.kind === "control") {
    guardSocket(req.socket, new ResponseScope(res, options.logger));
    // The control API refuses uploads it stops reading (413, 408, 422) with `Connection: close`: that close lingers too.
    if (declaresBody(req)) lingerAfterAnswer(req, res, options.clock);
    if (expectsContinue) res.writeContinue();
    return options.control(req, res);
  }
  const service = host.kind === "function" ? options.routes.lookup(host.hostLabel) : undefined;
  if (!service) return sendError(res, "unknown_host", `No berth function answers at ${req.headers.host ?? "(no Host header)"}.`);

  const requestId = nextRequestId();
  // A plain literal (a computed key would build the object the slow way, on every request).
  const idHeader = { "berth-request-id": requestId } satisfies Record<typeof REQUEST_ID_HEADER, string>;
  if (!admit(options.guards, service, req, res, idHeader)) return options.observer?.requestRefused(service.identity, res.statusCode);
  if (CallRegistry.isResultUrl(req.url)) return options.calls.follow(service.identity.hostLabel, req, res, idHeader);

  const selected = resolveParams(service.manifest, req.url);
  if (!selected.ok) return sendError(res, "invalid_input", "Invalid parameters.", idHeader, { issues: selected.issues });
  if (expectsContinue) res.writeContinue();

  const call = options.calls.begin(req, res, service.identity.hostLabel, idHeader);
  guardSocket(req.socket, call);
  const headers = upstreamHeaders(options, req);
  headers.push(REQUEST_ID_HEADER, requestId);
  new ProxiedCall(options, service, selected, call, req, res, requestId, headers, () => {
    call.settle();
    // 499 (nginx's "client closed request"): the client left before any answer.
    const status = call.status || ERRORS.client_closed.status;
    const ended = options.clock.now();
    options.observer?.requestDone(service.identity, status, ended - arrived, call.queueMs);
    options.access?.record({
      identity: service.identity,
      requestId,
      method: req.method ?? "",
      url: req.url ?? "",
      status,
      durationMs: ended - arrived,
      coldStartMs: call.coldStartMs,
      container: call.container,
      endedAt: ended,
    });
  }).start();
}

const NO_TRUSTED_PROXIES = new TrustedProxies();
