/**
 * Long calls and their result URLs (Modal's long-request behaviour). Every
 * proxied request is a `Call` that owns where its response goes: to the
 * client that asked, or, when no response has started within the deferral
 * delay (default 150 s), to whoever follows the 303 it was answered with.
 * The call itself keeps running exactly once; a result URL only waits for it.
 *
 *   client ─▶ call ──(no headers after delay)──▶ 303 Location: /__berth/calls/<id>
 *                                                  │
 *   GET /__berth/calls/<id> ─▶ waits ──(done)──▶ the call's response, streamed
 *                                └──(another delay)──▶ 303 to itself
 *
 * A response that has started is never cut by the delay. A parked response
 * streams into a small buffer and then holds its upstream by backpressure, so
 * an unclaimed large result pins its container only until it expires
 * (`resultTtlMs` after it became ready). Results are handed out once, to a
 * GET; a HEAD answers the result's status and headers and leaves it there. The
 * delays and expiries run on the injected clock (unit-tested with a fake one
 * in test/calls.test.ts).
 *
 * With several nodes, the call id names the node that runs the call
 * (`<node>.<32 hex>`): a result URL that reaches another node (through the
 * load balancer) is forwarded to that one, with the client's headers and
 * the answer streamed through unchanged. A forwarded request is never
 * forwarded again.
 */
import { randomBytes } from "node:crypto";
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import { PassThrough, Readable, pipeline, type Writable } from "node:stream";
import { systemClock, type Cancel, type Clock } from "../clock/clock.js";
import { DeadlineQueue, type Deadline } from "../clock/deadlines.js";
import { ERRORS, errorBody, systemCode, type ErrorCode } from "../errors/codes.js";
import { silentLogger, type Logger } from "../logging/logger.js";
import { AbortFlag } from "./abort-flag.js";
import type { CrashScope } from "./crash-guard.js";
import { sendError } from "./respond.js";
import type { ResponseSink } from "./upstream.js";

export const CALLS_PATH = "/__berth/calls/";
/** Set on a result URL request one node forwards to another; such a request is answered where it lands. */
export const FORWARDED_HEADER = "berth-forwarded-by";

/** The nodes that may own a call: this one, and where to reach the others. */
export interface CallNodes {
  /** This node's id, the first part of the ids of the calls it parks. */
  readonly id: string;
  /** The base URL of another node (`http://10.0.0.5:8600`), or undefined if unknown. */
  urlOf(id: string): string | undefined;
}

export interface CallOptions {
  /** Milliseconds a call may go without starting its response before the client gets a 303. Default 150 000. */
  delayMs?: number;
  /** Milliseconds a finished, unclaimed result is kept. Default 60 000. */
  resultTtlMs?: number;
  /** Runs the delays and expiries. Default the system clock. */
  clock?: Clock;
  /** Which node this is, and how to reach the others. Default: a node alone, named "local". */
  nodes?: CallNodes;
  /** The gateway's log, for a call that failed on an unexpected exception. Default: none. */
  logger?: Logger;
}

interface Result {
  status: number;
  headers: OutgoingHttpHeaders | string[];
  body: Readable;
}

interface Follower {
  res: ServerResponse;
  cancelRedirect: Cancel;
  onClose: () => void;
}

export class CallRegistry {
  readonly delayMs: number;
  readonly resultTtlMs: number;
  readonly clock: Clock;
  readonly nodes: CallNodes;
  readonly logger: Logger;
  private readonly parked = new Map<string, Call>();
  /** @internal Each call's deferral: one timer for all of them (deadlines.ts). */
  readonly deferrals: DeadlineQueue<Call>;
  /** Function timeouts, one queue per length (a handful of distinct values). */
  private readonly timeouts = new Map<number, DeadlineQueue<Call>>();

  constructor(options: CallOptions = {}) {
    this.delayMs = options.delayMs ?? 150_000;
    this.resultTtlMs = options.resultTtlMs ?? 60_000;
    this.clock = options.clock ?? systemClock;
    this.nodes = options.nodes ?? { id: "local", urlOf: () => undefined };
    this.logger = options.logger ?? silentLogger();
    this.deferrals = new DeadlineQueue(this.clock, this.delayMs, deferCall);
  }

  /** Starts tracking one proxied request; `extraHeaders` go on every answer (the request id). */
  begin(req: IncomingMessage, res: ServerResponse, hostLabel: string, extraHeaders: Record<string, string>): Call {
    return new Call(this, req, res, hostLabel, extraHeaders);
  }

  /** Whether `url` is a result URL, so the gateway answers it instead of the function. */
  static isResultUrl(url: string | undefined): boolean {
    return url !== undefined && url.startsWith(CALLS_PATH);
  }

  /** Answers `GET /__berth/calls/<id>`: waits for the call's result and streams it. */
  follow(hostLabel: string, req: IncomingMessage, res: ServerResponse, extraHeaders: Record<string, string>): void {
    const target = req.url ?? CALLS_PATH;
    const query = target.indexOf("?");
    const id = target.slice(CALLS_PATH.length, query === -1 ? undefined : query);
    const call = this.parked.get(id);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return sendError(res, "method_not_allowed", "Result URLs answer GET only.", { ...extraHeaders, allow: "GET" });
    }
    const owner = id.slice(0, Math.max(0, id.lastIndexOf(".")));
    if (!call && owner !== "" && owner !== this.nodes.id && req.headers[FORWARDED_HEADER] === undefined) {
      return this.forward(owner, req, res, extraHeaders);
    }
    if (!call || call.hostLabel !== hostLabel) {
      return sendError(
        res,
        "not_found",
        `No pending call ${id}: its result was already fetched, it expired ${this.resultTtlMs / 1000} s after it finished, or the id is wrong.`,
        extraHeaders,
      );
    }
    call.attach(res, extraHeaders);
  }

  /**
   * Streams a result URL request to the node that runs the call, and its
   * answer back. The owner's own gateway checks the request again (auth,
   * host, the call's function).
   */
  private forward(owner: string, req: IncomingMessage, res: ServerResponse, extraHeaders: Record<string, string>): void {
    const base = this.nodes.urlOf(owner);
    if (base === undefined) {
      return sendError(res, "not_found", `No pending call here: it ran on node ${owner}, which this platform does not know (any more).`, extraHeaders);
    }
    const target = new URL(req.url ?? "/", base);
    // A node serving TLS (--tls) advertises an https:// URL; its certificate must be one this node trusts.
    const upstream = (target.protocol === "https:" ? httpsRequest : httpRequest)(target, {
      method: req.method,
      headers: { ...req.headers, [FORWARDED_HEADER]: this.nodes.id },
    });
    upstream.on("response", (answer) => {
      res.writeHead(answer.statusCode ?? 502, endToEnd(answer.rawHeaders));
      pipeline(answer, res, () => {});
    });
    upstream.on("error", (error) => {
      if (res.headersSent) return void res.destroy();
      sendError(res, "upstream_failed", `Node ${owner}, which runs this call, did not answer (${systemCode(error) ?? error.message}).`, extraHeaders);
    });
    res.once("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.end();
  }

  /** Abandons every parked call (the platform is shutting down). */
  close(): void {
    for (const call of this.parked.values()) {
      call.abort();
      call.cut();
    }
    this.parked.clear();
  }

  /** @internal The deadline that times a call out `ms` from now. */
  timeout(call: Call, ms: number): Deadline {
    let queue = this.timeouts.get(ms);
    if (!queue) this.timeouts.set(ms, (queue = new DeadlineQueue(this.clock, ms, timeOutCall)));
    return queue.add(call);
  }

  /** @internal */
  park(call: Call): void {
    this.parked.set(call.id, call);
  }

  /** @internal */
  forget(call: Call): void {
    this.parked.delete(call.id);
  }
}

function deferCall(call: Call): void {
  call.defer();
}

function timeOutCall(call: Call): void {
  call.timeOut();
}

/** Where a call's response finds its call: one `close` listener serves every response (this is on every request's path). */
const CALL_OF = Symbol("berth.call");
type CallResponse = ServerResponse & { [CALL_OF]?: Call };

function destroyResponse(res: ServerResponse): void {
  res.destroy();
}

function onResponseClose(this: CallResponse): void {
  this[CALL_OF]?.responseClosed();
}

/**
 * One proxied request. The proxy writes the response into it as into a
 * `ServerResponse`; where the bytes go is decided when the head arrives.
 * It is its own abort flag (`signal`): that aborts the upstream work, when
 * the client left before a 303, the call timed out, an unclaimed result
 * expired, or a follower left mid-stream.
 */
export class Call extends AbortFlag implements ResponseSink, CrashScope {
  /** The result URL's id, drawn only when the call is parked (most calls never are). */
  id = "";
  /** Status of the call's answer once known (0 until then), for metrics. */
  status = 0;
  /** Milliseconds the call waited for a container slot, for metrics. */
  queueMs = 0;
  /** The container that served it ("" while none has), and the part of `queueMs` spent on its start: for its access line. */
  container = "";
  coldStartMs = 0;
  /** The call ran past the timeout `limit` set, and was aborted for it. */
  timedOut = false;
  private parked = false;
  private result: Result | undefined;
  private follower: Follower | undefined;
  private readonly deferral: Deadline;
  private timeout: Deadline | undefined;
  private cancelExpiry: Cancel | undefined;
  /** Where the body goes once the head is written: the client, or the parked result's buffer. */
  private sink: Writable | undefined;
  /** Made when the proxy first waits for a drain (most responses fit the socket's buffer). */
  private drainListeners: Set<() => void> | undefined;

  constructor(
    private readonly registry: CallRegistry,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    readonly hostLabel: string,
    private readonly extraHeaders: Record<string, string>,
  ) {
    super();
    (res as CallResponse)[CALL_OF] = this;
    res.on("close", onResponseClose);
    this.deferral = registry.deferrals.add(this);
  }

  /** The abort flag the pool's wait and the upstream's forward watch. */
  get signal(): AbortFlag {
    return this;
  }

  /**
   * Bounds the call by `ms` from now (the function's timeout, from its
   * first container slot): then it is aborted and `timedOut` says why. Only
   * the first call counts; `settle` ends it.
   */
  limit(ms: number): void {
    this.timeout ??= this.registry.timeout(this, ms);
  }

  /** @internal Its timeout passed. */
  timeOut(): void {
    this.timedOut = true;
    this.abort();
  }

  /** @internal The client's response closed. */
  responseClosed(): void {
    if (!this.parked && !this.res.writableFinished) this.abort();
  }

  writeHead(status: number, headers: string[]): void {
    this.deferral.cancel();
    if (!this.parked) {
      this.res.writeHead(status, headers);
      this.sink = this.res;
    } else {
      const body = new PassThrough();
      this.sink = body;
      this.ready({ status, headers, body });
    }
    // Only once the head is out: a head that could not be written still leaves room for an error answer.
    this.status = status;
    if (this.drainListeners) for (const listener of this.drainListeners) this.sink.on("drain", listener);
  }

  write(chunk: Buffer): boolean {
    return this.headWritten().write(chunk);
  }

  end(chunk?: Buffer): void {
    if (chunk === undefined) this.headWritten().end();
    else this.headWritten().end(chunk);
  }

  /** Where the body goes; the proxy writes the head first, always. */
  private headWritten(): Writable {
    if (!this.sink) throw new Error("a call's body was written before its head");
    return this.sink;
  }

  on(_event: "drain", listener: () => void): void {
    (this.drainListeners ??= new Set()).add(listener);
    this.sink?.on("drain", listener);
  }

  off(_event: "drain", listener: () => void): void {
    this.drainListeners?.delete(listener);
    this.sink?.off("drain", listener);
  }

  /** The call ended without a response of its own: answer with the error, now or at the result URL. */
  fail(code: ErrorCode, message?: string, headers: Record<string, string> = {}): void {
    this.deferral.cancel();
    if (this.status !== 0) return this.cut();
    this.status = ERRORS[code].status;
    if (!this.parked) return sendError(this.res, code, message, { ...headers, ...this.extraHeaders });
    const text = JSON.stringify(errorBody(code, message));
    this.ready({
      status: this.status,
      headers: { ...headers, ...this.extraHeaders, "content-type": "application/json", "content-length": Buffer.byteLength(text) },
      body: Readable.from([text]),
    });
  }

  /** A response under way broke: whoever receives it sees a cut connection, as from any proxy. */
  cut(): void {
    this.deferral.cancel();
    if (this.result) this.result.body.destroy();
    // An answer already complete (an error just sent) is left to reach the client. Cut on the next tick: what node:http
    // holds back until then (it corks a chunked response's socket for a tick) still goes out, as a proxy's would.
    else if (!this.parked && !this.res.writableEnded) process.nextTick(destroyResponse, this.res);
  }

  /** An unexpected exception while serving this call (crash-guard.ts): 500, or a cut response; the upstream work stops. */
  crashed(error: unknown): void {
    this.registry.logger.error({ err: error, requestId: this.extraHeaders["berth-request-id"] }, "unexpected error in a request; it got 500 or was cut");
    this.fail("internal_error");
    this.abort();
  }

  /** Stops the delay and the timeout once the call is over, however it ended. */
  settle(): void {
    this.deferral.cancel();
    this.timeout?.cancel();
  }

  /** @internal A follower arrived at the result URL. */
  attach(res: ServerResponse, extraHeaders: Record<string, string>): void {
    if (this.follower) {
      return sendError(res, "result_busy", "Another client is already waiting for this call's result.", extraHeaders);
    }
    const onClose = () => {
      if (this.follower?.res === res) this.detach();
    };
    const cancelRedirect = this.registry.clock.after(this.registry.delayMs, () => {
      this.detach();
      redirect(res, this.id, "The call is still running.", extraHeaders);
    });
    this.follower = { res, cancelRedirect, onClose };
    res.once("close", onClose);
    this.deliver();
  }

  private detach(): void {
    if (!this.follower) return;
    this.follower.cancelRedirect();
    this.follower.res.off("close", this.follower.onClose);
    this.follower = undefined;
  }

  /** @internal No response started within the delay: a 303 to the result URL, once the request body is in. */
  defer(): void {
    if (this.res.headersSent || this.aborted) return;
    // Answering before the body is read would make Node discard the rest of
    // it, and the call needs it: wait until the client has sent it all.
    if (!this.req.complete) {
      this.req.once("end", () => this.defer());
      return;
    }
    this.parked = true;
    this.id = `${this.registry.nodes.id}.${randomBytes(16).toString("hex")}`;
    this.registry.park(this);
    redirect(this.res, this.id, "The call has not answered yet.", this.extraHeaders);
  }

  private ready(result: Result): void {
    this.result = result;
    this.cancelExpiry = this.registry.clock.after(this.registry.resultTtlMs, () => {
      this.registry.forget(this);
      result.body.destroy();
      this.abort();
    });
    this.deliver();
  }

  private deliver(): void {
    const follower = this.follower;
    const result = this.result;
    if (!follower || !result) return;
    this.detach();
    // A HEAD only looks (RFC 9110 §9.3.2: safe): the result stays for the GET that takes it, until it expires.
    if (follower.res.req?.method === "HEAD") {
      follower.res.writeHead(result.status, result.headers);
      follower.res.end();
      return;
    }
    this.cancelExpiry?.();
    this.registry.forget(this);
    follower.res.writeHead(result.status, result.headers);
    pipeline(result.body, follower.res, (error) => {
      if (error) this.abort();
    });
  }
}

/** A raw header list without the hop-by-hop fields, which describe the connection to the other node, not this one. */
function endToEnd(raw: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) kept.push(raw[i]!, raw[i + 1]!);
  }
  return kept;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"]);

function redirect(res: ServerResponse, id: string, why: string, extraHeaders: Record<string, string>): void {
  const location = `${CALLS_PATH}${id}`;
  const text = JSON.stringify({
    call: id,
    location,
    message: `${why} Follow the Location URL (GET) to wait for its result; it is handed out once.`,
  });
  res.writeHead(303, {
    ...extraHeaders,
    location,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}
