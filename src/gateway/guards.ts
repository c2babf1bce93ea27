/**
 * The gateway's guards: the steps of the request chain that refuse a
 * request before it may cost a container (failed auth per address, proxy
 * auth, the client's share and the workspace's rate limit, size limits),
 * and the watch over bodies while they stream (size of chunked bodies,
 * stalls, bodies too slow to hold a container). What the parser itself refuses is in
 * hardening.ts.
 *
 * Every refusal is answered from the error table with `Connection: close`
 * where the request body was not read, so a refused body never becomes the
 * start of the next request on the connection. Time (token refills, body
 * stalls) comes from the injected clock: test/guards.test.ts walks it.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { Cancel, Clock } from "../clock/clock.js";
import { ERRORS, type ErrorCode } from "../errors/codes.js";
import type { FailedAuthLimiter, RateLimiter } from "./rate-limiter.js";
import { declaresBody, lingerAfterAnswer, sendError } from "./respond.js";

export interface GatewayLimits {
  /** Largest request body in bytes, declared or chunked. Default 4 GiB. */
  maxBodyBytes: number;
  /** Largest request head (request line + headers) in bytes. Default 16 KiB (Node's default). */
  maxHeaderBytes: number;
  /** Most header fields in one request. Default 100. */
  maxHeaderCount: number;
  /** Milliseconds a client has to send the complete request head. Default 10 000. */
  headersTimeoutMs: number;
  /** Milliseconds between the server's sweeps for slow clients (Node checks timeouts only then). Default 1 000. */
  timeoutCheckIntervalMs: number;
  /** Milliseconds a request body may go without a byte arriving before the request is cut. Default 60 000. */
  bodyIdleTimeoutMs: number;
  /**
   * Milliseconds a request body has to finish arriving once it holds a
   * container slot, extended by one second per `bodyMinBytesPerSecond`
   * bytes received: a client trickling a byte every few seconds holds a
   * container at most this long. Default 60 000.
   */
  bodyTimeoutMs: number;
  /** Bytes per second a body must average past `bodyTimeoutMs` to keep its container. Default 16 KiB. */
  bodyMinBytesPerSecond: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  maxBodyBytes: 4 * 1024 ** 3,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  headersTimeoutMs: 10_000,
  timeoutCheckIntervalMs: 1_000,
  bodyIdleTimeoutMs: 60_000,
  bodyTimeoutMs: 60_000,
  bodyMinBytesPerSecond: 16 * 1024,
};

export interface ProxyAuthCheck {
  checkProxy(workspace: string, key: string | undefined, secret: string | undefined): boolean;
}

export interface GuardOptions {
  limits: GatewayLimits;
  /** Checks `Berth-Key`/`Berth-Secret`; without it protected endpoints refuse every request. */
  proxyAuth?: ProxyAuthCheck;
  /** Per-workspace buckets and per-client shares; without it nothing is rate limited. */
  rateLimiter?: RateLimiter;
  /** Failed proxy auth per client address; without it failures are not limited. */
  failedAuth?: FailedAuthLimiter;
  /** The client address of a request (`--trust-proxy` applied), the key of per-client limits. Default: the peer address. */
  clientOf?: (req: IncomingMessage) => string;
  /** Refills the rate limiter's buckets and times body stalls. */
  clock: Clock;
}

/** What the checks read of a request: its head. */
export type RequestHead = Pick<IncomingMessage, "headers" | "rawHeaders">;

/** A request body as `watchBody` meters it. */
export type RequestBody = Readable & { headers: IncomingHttpHeaders };

/** What a guard needs of a route: whose it is and whether it is protected. */
export interface GuardedRoute {
  workspace: string;
  requiresProxyAuth: boolean;
}

export const PROXY_KEY_HEADER = "berth-key";
export const PROXY_SECRET_HEADER = "berth-secret";

export class Guards {
  constructor(private readonly options: GuardOptions) {}

  get limits(): GatewayLimits {
    return this.options.limits;
  }

  /**
   * Runs the guards and answers the first refusal (with `headers` added);
   * true when the request may go on.
   */
  admit(route: GuardedRoute, req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): boolean {
    const client = this.options.clientOf ? this.options.clientOf(req) : (req.socket.remoteAddress ?? "");
    const denial = this.check(route, req, client);
    if (!denial) return true;
    if (denial.delayMs === undefined) {
      this.refuse(req, res, denial, headers);
      return false;
    }
    // Held back: the status is known now (metrics read it), the answer comes later unless the client leaves.
    res.statusCode = ERRORS[denial.code].status;
    const cancel = this.options.clock.after(denial.delayMs, () => {
      req.socket.off("close", cancel);
      this.refuse(req, res, denial, headers);
    });
    req.socket.once("close", cancel);
    return false;
  }

  /**
   * Answers a refusal: when the body has not been read, the connection
   * closes after the answer (reading an unwanted body to keep the
   * connection would let a client make us read gigabytes), and is cut if
   * the client keeps sending.
   */
  refuse(req: IncomingMessage, res: ServerResponse, denial: Denial, extraHeaders: Record<string, string>): void {
    this.refuseThrough(req, res, denial, extraHeaders, (code, message, headers) => sendError(res, code, message, headers));
  }

  /**
   * `refuse` for a refusal that comes later in the chain (the pool's: queue
   * full, at capacity), answered through `send` (the call that owns the
   * response); the same rule closes the connection of an unread body.
   */
  refuseThrough(req: IncomingMessage, res: ServerResponse, denial: Denial, extraHeaders: Record<string, string>, send: SendError): void {
    const headers = { ...extraHeaders, ...denial.headers };
    const bodyPending = declaresBody(req) && !req.complete;
    send(denial.code, denial.message, bodyPending ? { ...headers, connection: "close" } : headers);
    if (bodyPending) lingerAfterAnswer(req, res, this.options.clock);
  }

  /**
   * The first refusal of the chain's guards, in this order, or null:
   *   failed auth from this address (429) ─▶ proxy auth (401) ─▶ the
   *   client's share and the workspace's rate limit (429) ─▶ header count,
   *   framing and declared body size (431, 400, 413)
   * (Two Host headers were refused before routing: request-target.ts.)
   * Auth comes first so that strangers cannot spend a workspace's budget: a
   * refused request takes no token. An address that failed auth too often
   * is refused before its credentials are looked at. A request that proved
   * its credentials takes from the workspace's budget only; one to a public
   * endpoint first from its client's share (`client`: its address). A
   * chunked body is metered as it streams (`watchBody`).
   */
  check(route: GuardedRoute, req: RequestHead, client = ""): Denial | null {
    const now = this.options.clock.now();
    return this.authDenial(route, req, client, now) ?? this.rateDenial(route, client, now) ?? this.limitDenial(req);
  }

  private authDenial(route: GuardedRoute, req: RequestHead, client: string, now: number): Denial | null {
    if (!route.requiresProxyAuth) return null;
    const failures = this.options.failedAuth;
    const allowed = failures?.check(client, now);
    if (allowed && !allowed.allowed) {
      return {
        code: "rate_limited",
        message: "Too many failed authentications from your address; retry later.",
        headers: { "retry-after": String(allowed.retryAfterSeconds) },
        delayMs: FAILED_AUTH_DELAY_MS,
      };
    }
    const key = header(req, PROXY_KEY_HEADER);
    const secret = header(req, PROXY_SECRET_HEADER);
    if (this.options.proxyAuth?.checkProxy(route.workspace, key, secret)) return null;
    failures?.failed(client, now);
    const message =
      key === undefined || secret === undefined
        ? "This endpoint requires proxy auth: send the Berth-Key (wk-...) and Berth-Secret (ws-...) headers of a proxy token (`berth token create --proxy`)."
        : "Invalid proxy auth credentials for this endpoint.";
    return { code: "unauthorized", message, headers: { "www-authenticate": 'Berth-Key realm="berth"' } };
  }

  private rateDenial(route: GuardedRoute, client: string, now: number): Denial | null {
    const limiter = this.options.rateLimiter;
    if (!limiter) return null;
    const decision = limiter.take(route.workspace, now, route.requiresProxyAuth ? undefined : client);
    if (decision.allowed) return null;
    const headers = { "retry-after": String(decision.retryAfterSeconds) };
    if (decision.client) return { code: "rate_limited", message: "Too many requests from your address to this workspace's endpoints; retry later.", headers };
    return { code: "rate_limited", headers };
  }

  private limitDenial(req: RequestHead): Denial | null {
    const { maxHeaderCount, maxBodyBytes } = this.options.limits;
    if (req.rawHeaders.length / 2 > maxHeaderCount) {
      return { code: "headers_too_large", message: `A request may carry at most ${maxHeaderCount} header fields.` };
    }
    // llhttp hands such a request over before failing on its body; RFC 9112 §6.3 says 400 and close.
    const codings = req.headers["transfer-encoding"];
    if (codings !== undefined && !FINAL_CHUNKED.test(codings)) return { code: "bad_request", message: "Transfer-Encoding must end with chunked." };
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > maxBodyBytes) return { code: "payload_too_large", message: tooLarge(maxBodyBytes) };
    return null;
  }

  /**
   * Watches a request body as it streams: a chunked one is counted against
   * the size limit (a declared length needs nothing: it was checked above
   * and the parser stops there), and any body that stalls for
   * `bodyIdleTimeoutMs` is cut, so a client trickling bytes cannot hold a
   * container slot until the function's timeout. `onStop` aborts the
   * forward; `stopped()` then says why. Call it in the same tick as the code
   * that reads the body starts listening: a `data` listener starts the flow.
   */
  watchBody(req: RequestBody, onStop: () => void): BodyWatch {
    const chunked = req.headers["transfer-encoding"] !== undefined;
    if (!chunked && (req.headers["content-length"] ?? "0") === "0") return NOT_WATCHED;
    const { maxBodyBytes, bodyIdleTimeoutMs, bodyTimeoutMs, bodyMinBytesPerSecond } = this.options.limits;
    const { clock } = this.options;
    let count = 0;
    let lastData = clock.now();
    let lastCheck = lastData;
    /** When the body is due if no byte more arrives; each byte received moves it later (see `bodyMinBytesPerSecond`). */
    let base = lastData + bodyTimeoutMs;
    let stopped: BodyStop | null = null;
    const stop = (reason: BodyStop) => {
      stopped = reason;
      done();
      // Stop reading: an endless or stalled body must not keep this process busy.
      req.pause();
      onStop();
    };
    const onData = (chunk: Buffer) => {
      lastData = clock.now();
      count += chunk.length;
      if (chunked && count > maxBodyBytes) stop("too_large");
    };
    // One timer per request, re-armed only when it fires: no timer work per chunk.
    const check = () => {
      const now = clock.now();
      // Paused means the container reads slowly and we hold the client back: not the client's stall, nor its slowness.
      if (req.isPaused()) {
        lastData = now;
        base += now - lastCheck;
      }
      lastCheck = now;
      const idle = now - lastData;
      const due = base + (count * 1000) / bodyMinBytesPerSecond;
      if (idle >= bodyIdleTimeoutMs) stop("stalled");
      else if (now >= due) stop("too_slow");
      else cancel = clock.after(Math.min(bodyIdleTimeoutMs - idle, due - now), check);
    };
    let cancel: Cancel = clock.after(Math.min(bodyIdleTimeoutMs, bodyTimeoutMs), check);
    const done = () => {
      cancel();
      req.off("data", onData);
      req.off("end", done);
      req.off("close", done);
    };
    req.on("data", onData);
    req.once("end", done);
    req.once("close", done);
    return { stopped: () => stopped };
  }

  /**
   * Answers a request whose body `watchBody` stopped, through `send` (the
   * call that owns the response), and closes the connection after it.
   */
  refuseBody(req: IncomingMessage, res: ServerResponse, reason: BodyStop, send: SendError): void {
    const { maxBodyBytes, bodyIdleTimeoutMs, bodyTimeoutMs, bodyMinBytesPerSecond } = this.options.limits;
    if (reason === "too_large") send("payload_too_large", tooLarge(maxBodyBytes), { connection: "close" });
    else if (reason === "stalled") send("request_timeout", `No part of the request body arrived for ${bodyIdleTimeoutMs / 1000} s.`, { connection: "close" });
    else {
      const message = `The request body did not arrive in time: it gets ${bodyTimeoutMs / 1000} s, plus 1 s per ${bodyMinBytesPerSecond} bytes received.`;
      send("request_timeout", message, { connection: "close" });
    }
    lingerAfterAnswer(req, res, this.options.clock);
  }
}

/** Sends an error answer from the error table. */
export type SendError = (code: ErrorCode, message: string | undefined, headers: Record<string, string>) => void;

const FINAL_CHUNKED = /(?:^|,)[ \t]*chunked[ \t]*$/i;

/** Why a guard refused a request: a code of the error table, with extra detail and headers. */
export interface Denial {
  code: ErrorCode;
  message?: string;
  headers?: Record<string, string>;
  /** Milliseconds to hold the answer back (a tarpit for addresses over their failed-auth limit); absent: answer at once. */
  delayMs?: number;
}

/**
 * Milliseconds the answer to an address over its failed-auth limit is held
 * back. An HTTP/1.1 client waits for each answer before it sends the next
 * request on a connection, so a flood of wrong keys slows to one request
 * per second per connection instead of costing the gateway a refusal at
 * full speed; what it costs meanwhile is one timer per connection.
 */
export const FAILED_AUTH_DELAY_MS = 1_000;

/** Why `watchBody` stopped a body: over the size limit (413), stalled or too slow (408). */
export type BodyStop = "too_large" | "stalled" | "too_slow";

export interface BodyWatch {
  /** Why the body was stopped (the forward then fails and the caller answers), or null. */
  stopped(): BodyStop | null;
}

const NOT_WATCHED: BodyWatch = { stopped: () => null };

function header(req: RequestHead, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function tooLarge(limit: number): string {
  return `Request bodies are limited to ${limit} bytes.`;
}

