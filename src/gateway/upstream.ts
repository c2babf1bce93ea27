/**
 * The gateway's connection to one container: a small HTTP/1.1 client over
 * kept-alive sockets (a Unix socket to the agent, or TCP to a user's server).
 *
 * Why not undici: on the hot path the proxy only needs to write a request
 * head, stream the body, find where the response head ends and how the body
 * is framed, and copy bytes. A general client does much more per request
 * (abort signals, header objects, handler chains); measured in one run
 * (`.scratch`-style A/B of the two proxies, 50 connections), undici's
 * `Pool.stream` cost ~52-74 µs of gateway CPU per request and this ~35 µs;
 * with the per-connection listeners below it is ~33 µs (then `bench/cpu.ts`, now the CPU columns of `npm run bench -- throughput`).
 *
 * To the agent of a `fetch` or `node` function it speaks over the agent's
 * multiplexed socket (src/mux): each kept-alive connection below is then a
 * stream of that one socket, not a socket of its own, and the requests and
 * answers of many connections share each write and read. To a user's own
 * server (`webServer`), and for WebSocket upgrades, it uses plain sockets.
 *
 * What the container sends back is read by the strict parser in
 * response-parser.ts: a response it refuses ends its request with 502 (or a
 * cut response if the head already went out), closes the connection, and is
 * reported once per container (`report`), never once per request, since an
 * anonymous client could repeat it forever. An unexpected exception while
 * handling a container's bytes ends that one request with 500, never the
 * process (crash-guard.ts).
 */
import type { IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { BerthError, systemCode } from "../errors/codes.js";
import type { Logger } from "../logging/logger.js";
import { MuxProtocolError, MuxSession, type MuxStream, type StreamEnd } from "../mux/session.js";
import type { ContainerEndpoint } from "../runtime/types.js";
import { guardSocket, type CrashScope } from "./crash-guard.js";
import { ResponseParser, type ResponseError, type ResponseHandler, type ResponseHead } from "./response-parser.js";

/**
 * Connections idle longer than this are closed by us. Our agent never closes
 * an idle one itself (agent/serve.ts), so no close can race a request there;
 * a user's own server that closes sooner is met by the resend in `Upstream.send`.
 */
const IDLE_TIMEOUT_MS = 30_000;
/**
 * One timer per Upstream looks for idle sockets this often, instead of a
 * `setTimeout` armed and disarmed on each socket per request; a socket is
 * thus closed 30-40 s after its last use.
 */
const SWEEP_INTERVAL_MS = 10_000;

/**
 * Why a forward failed. Its code and message are the client's answer if
 * nothing was sent yet: `upstream_failed` (502) by default, `internal_error`
 * (500) for a fault of the gateway's own; `reason` says what happened, for
 * the logs only.
 */
export class UpstreamError extends BerthError {
  override readonly name = "UpstreamError";
  constructor(
    readonly reason: string,
    /** The container gave no response and the request can be sent to another one without running twice. */
    readonly retryable = false,
    code: "upstream_failed" | "internal_error" = "upstream_failed",
    /** The client's message, when the error table's default does not fit. */
    clientMessage?: string,
  ) {
    super(code, clientMessage, { cause: reason });
  }
}

/** The client's answer when a container's response was refused (the reason is in the container's log). */
const MALFORMED_MESSAGE = "The function's container sent a malformed HTTP response (see `berth app logs`).";

/**
 * Where a response goes: the client's `ServerResponse`, or a call's result
 * URL once it has been answered 303 (calls.ts). The subset the proxy uses.
 */
export interface ResponseSink {
  writeHead(status: number, headers: string[]): unknown;
  /** False when the consumer is full: the proxy pauses the container's socket until "drain". */
  write(chunk: Buffer): boolean;
  /** Ends the body, with its last chunk when given. */
  end(chunk?: Buffer): unknown;
  on(event: "drain", listener: () => void): unknown;
  off(event: "drain", listener: () => void): unknown;
}

/** What can cancel a forward: an `AbortSignal`, or the gateway's lighter `AbortFlag` (abort-flag.ts). */
export interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** How a forward ended: with no error when the response is complete. */
export type ForwardDone = (error?: Error) => void;

/** One `forward` call: what to send and where, and whom to tell how it ended (a try that is sent again keeps it). */
interface Forward {
  readonly req: IncomingMessage;
  readonly res: ResponseSink;
  readonly headers: string[];
  readonly extraHeaders: string[];
  readonly signal: AbortLike;
  readonly done: ForwardDone;
}

/** Methods whose request may run twice with the effect of once (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** How an exchange ends: with the connection to keep alive (null: not reusable), or with `error`. */
type ExchangeEnd = (exchange: Exchange, connection: Connection | null, error?: Error) => void;

export class Upstream {
  /** Kept-alive connections, oldest release first (`send` takes the newest, so `sweep` finds the stale at the front). */
  private readonly idle: Connection[] = [];
  private closed = false;
  private sweeper: NodeJS.Timeout | undefined;
  /** A malformed response from this container was logged: later ones are answered the same way, silently. */
  private reported = false;
  /** The agent's multiplexed socket, when it has one: opened on first use, again after it ended. */
  private session: MuxSession | undefined;

  /**
   * `endpoint` is also where the WebSocket relay connects (websocket.ts),
   * since upgrades bypass this client. `logger` is the gateway's log (its
   * own faults); `report` receives, once, why a response of this container
   * was refused (the container's log, which its owner reads).
   */
  constructor(
    readonly endpoint: ContainerEndpoint,
    /** @internal */ readonly logger: Logger,
    private readonly report: (line: string) => void = () => {},
  ) {}

  /**
   * Sends `req` (with `headers`, a flat name/value list) and streams the
   * response into `res`, adding `extraHeaders`. Calls `done` once: with no
   * error when the response is complete, with one if the upstream fails or
   * `signal` aborts (a callback, not a promise: this is every request's
   * path). Throws only when no try could begin (then `done` is not called).
   * Whether `res` has started tells the caller if an error status can
   * still be sent.
   */
  forward(req: IncomingMessage, res: ResponseSink, headers: string[], extraHeaders: string[], signal: AbortLike, done: ForwardDone): void {
    this.send({ req, res, headers, extraHeaders, signal, done }, false);
  }

  /** `mayHaveReached`: an earlier try on this container may have reached its handler. */
  private send(forward: Forward, mayHaveReached: boolean): void {
    const reused = this.idle.pop();
    new Exchange(forward, reused ?? this.open(), mayHaveReached, (exchange, connection, error) => {
      // The caller hears first: whatever fails after this is the connection's problem, never a request left hanging.
      if (error === undefined) {
        forward.done();
        return this.release(connection);
      }
      const { signal } = forward;
      // A kept-alive socket the container closed just as we reused it (its idle timeout racing our request): sent once
      // more on a fresh connection when no answer began and nothing was consumed, and when running it twice does no
      // harm: it provably never arrived, or its method is idempotent (RFC 9110 §9.2.2, as HTTP clients retry).
      const resend = reused !== undefined && exchange.retryable && !signal.aborted && (exchange.notDelivered || IDEMPOTENT.has(forward.req.method ?? ""));
      if (!resend) forward.done(error);
      // A connection that broke under us says the container may be dying: its other idle sockets would break the
      // same way under the next requests, so they go, and the next request learns from a fresh connect.
      if (!signal.aborted) this.dropIdle();
      if (!resend) return;
      try {
        this.send(forward, mayHaveReached || !exchange.notDelivered);
      } catch (resendError) {
        forward.done(resendError instanceof Error ? resendError : new Error(String(resendError)));
      }
    });
  }

  close(): void {
    this.closed = true;
    this.dropIdle();
    this.session?.destroy();
  }

  /** @internal The container broke HTTP/1.1: logged for its first offence only. */
  refused(error: ResponseError, outcome: string): void {
    if (this.reported) return;
    this.reported = true;
    this.report(
      `the gateway refused a response of this container: ${error.message}; ${outcome}. Later malformed responses from this container are answered the same way without being logged again.`,
    );
  }

  /** The container's agent broke the multiplexed wire (only code in the container can): every request on it failed. */
  private refusedWire(error: MuxProtocolError): void {
    if (this.reported) return;
    this.reported = true;
    this.report(
      `the gateway closed its connection to this container, which broke the wire's protocol (${error.message}); requests under way on it got 502. Later faults of this container are answered the same way without being logged again.`,
    );
  }

  /** @internal An idle connection closed, failed or sent bytes nobody asked for: it cannot carry a request. */
  drop(connection: Connection): void {
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    connection.carrier.destroy();
  }

  private dropIdle(): void {
    for (const connection of this.idle.splice(0)) connection.carrier.destroy();
    this.stopSweeping();
  }

  private open(): Connection {
    const { endpoint } = this;
    if ("muxSocketPath" in endpoint && endpoint.muxSocketPath !== undefined) return Connection.overStream(this.muxSession(endpoint.muxSocketPath).open(), this);
    const onread = {
      buffer: READ_BUFFER,
      callback: (bytes: number, buffer: Buffer) => {
        connection.onData(buffer.subarray(0, bytes));
        // Reading goes on; backpressure pauses the socket itself (Exchange.onBody).
        return true;
      },
    };
    const socket = "socketPath" in endpoint ? connect({ path: endpoint.socketPath, onread }) : connect({ host: endpoint.host, port: endpoint.port, onread });
    const connection = Connection.overSocket(socket, this);
    return connection;
  }

  private muxSession(path: string): MuxSession {
    if (this.session && !this.session.ended && !this.session.socket.destroyed) return this.session;
    const socket = connect({ path });
    const session = new MuxSession(socket, false);
    session.onEnd = (error) => {
      // A socket error is the container going away (its exit is reported where it is noticed); a broken protocol is
      // its owner's to fix; anything else is a fault of the gateway's own.
      if (error instanceof MuxProtocolError) this.refusedWire(error);
      else if (error && systemCode(error) === undefined) {
        this.logger.error({ err: error }, "unexpected error on the multiplexed connection to a container; its requests under way got 502");
      }
    };
    guardSocket(socket, {
      crashed: (error) => {
        this.logger.error({ err: error }, "unexpected error on the multiplexed connection to a container; closed it");
        session.destroy();
      },
    });
    this.session = session;
    return session;
  }

  private release(connection: Connection | null): void {
    if (!connection) return;
    if (this.closed || connection.carrier.destroyed) {
      connection.carrier.destroy();
      return;
    }
    connection.idleSince = performance.now();
    this.idle.push(connection);
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
      this.sweeper.unref();
    }
  }

  /** Closes connections idle for `IDLE_TIMEOUT_MS` or more. */
  private sweep(): void {
    const cutoff = performance.now() - IDLE_TIMEOUT_MS;
    let stale = 0;
    while (stale < this.idle.length && this.idle[stale]!.idleSince <= cutoff) stale += 1;
    for (const connection of this.idle.splice(0, stale)) connection.carrier.destroy();
    if (this.idle.length === 0) this.stopSweeping();
  }

  private stopSweeping(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}


/** What one connection's bytes travel over: a socket of its own, or a stream of the agent's multiplexed socket. */
interface Carrier {
  write(data: string | Buffer): boolean;
  pause(): void;
  resume(): void;
  destroy(): void;
  readonly destroyed: boolean;
}

/**
 * One kept-alive connection and its response parser. Its listeners are
 * attached once, for its lifetime, and hand each event to the exchange it
 * currently carries (or, while idle, drop the connection), instead of being
 * attached and removed per request. With the idle sweep and `AbortFlag` this
 * took the gateway from 48 to 35 µs of CPU per request (hello endpoint, wrk,
 * 50 connections; then `bench/cpu.ts`, now the CPU columns of `npm run bench -- throughput`).
 */
class Connection implements ResponseHandler, CrashScope {
  /** The request/response under way, or null while idle. */
  exchange: Exchange | null = null;
  /** `performance.now()` when it was last released. */
  idleSince = 0;
  readonly parser = new ResponseParser(this);
  /** Resumes a request body paused for backpressure (one waiter at a time: the exchange's body). */
  private drainWaiter: (() => void) | undefined;

  private constructor(
    readonly carrier: Carrier,
    private readonly owner: Upstream,
    /** False until the bytes can reach the container: a request on a connection that never connected certainly did not. */
    private readonly isConnected: () => boolean,
    /** The chunks `onData` gets are the connection's to keep (a stream's), not views of the shared read buffer (a socket's). */
    readonly ownsChunks: boolean,
  ) {}

  static overSocket(socket: Socket, owner: Upstream): Connection {
    socket.setNoDelay(true);
    let connected = !socket.connecting;
    if (!connected) socket.once("connect", () => (connected = true));
    const connection = new Connection(socket, owner, () => connected, false);
    socket.on("error", (error: Error) => connection.ended(error));
    socket.on("close", () => connection.ended(undefined));
    socket.on("drain", () => connection.drained());
    guardSocket(socket, connection);
    return connection;
  }

  static overStream(stream: MuxStream, owner: Upstream): Connection {
    const connection = new Connection(stream, owner, () => stream.connected, true);
    stream.onData = (chunk) => connection.onData(chunk);
    stream.onEnd = (how: StreamEnd, error?: Error) => (how === "refused" && connection.exchange ? connection.exchange.onRefused() : connection.ended(error));
    stream.onDrain = () => connection.drained();
    return connection;
  }

  get connected(): boolean {
    return this.isConnected();
  }

  /** Calls `listener` once the carrier can take more bytes. */
  whenDrained(listener: () => void): void {
    this.drainWaiter = listener;
  }

  /** Bytes the container sent: valid only during this call (a shared read buffer). */
  onData(chunk: Buffer): void {
    // Whatever the container sent, and whatever it makes our code do, stays this request's problem.
    try {
      if (this.exchange) this.exchange.retryable = false;
      const error = this.parser.push(chunk);
      this.exchange?.flushHeld();
      if (!error) return;
      if (this.exchange) this.exchange.refused(error);
      else {
        this.owner.refused(error, "the connection was closed");
        this.owner.drop(this);
      }
    } catch (error) {
      this.crashed(error);
    }
  }

  onHead(head: ResponseHead): void {
    this.exchange?.onHead(head);
  }

  onBody(chunk: Buffer): void {
    this.exchange?.onBody(chunk);
  }

  onComplete(keepAlive: boolean): void {
    this.exchange?.onComplete(keepAlive);
  }

  crashed(error: unknown): void {
    if (this.exchange) this.exchange.crashed(error);
    else {
      this.owner.logger.error({ err: error }, "unexpected error on an idle connection to a container; closed it");
      this.owner.drop(this);
    }
  }

  /** @internal For the exchange: the owner to report refusals to. */
  get upstream(): Upstream {
    return this.owner;
  }

  private ended(error: Error | undefined): void {
    if (!this.exchange) return this.owner.drop(this);
    if (error) this.exchange.onError(error);
    else this.exchange.onClose();
  }

  private drained(): void {
    const waiter = this.drainWaiter;
    this.drainWaiter = undefined;
    waiter?.();
  }
}

/**
 * Where every container connection of this process reads into (Node's
 * `onread` option): the response parser copies what it keeps, so one
 * buffer serves them all, and a read allocates nothing and skips the
 * Readable stream machinery ('data' events, the next tick's read-ahead).
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

const enum Phase {
  Head,
  Body,
  Done,
}

/** One request/response on one socket. */
class Exchange {
  /** True until a response byte arrives or the request body is read: the request could be sent again. */
  retryable = true;
  /** The socket failed in a way that proves the request was never written to a live container. */
  notDelivered = false;
  private phase = Phase.Head;
  private reusable = true;
  /** Paused for backpressure: listening for the sink's "drain". */
  private waitingDrain = false;
  /**
   * The last body chunk of the current read, held until the read is handed
   * on: when the body ends in the same read (most answers), it goes out with
   * `end(chunk)`, one pass through node:http's output instead of two.
   */
  private held: Buffer | undefined;
  private readonly req: IncomingMessage;
  private readonly res: ResponseSink;
  private readonly extraHeaders: string[];
  private readonly signal: AbortLike;
  private readonly carrier: Carrier;

  /** `ended` hears once how it ended (a callback, not a promise: this is every request's path). */
  constructor(
    forward: Forward,
    private readonly connection: Connection,
    private readonly mayHaveReached: boolean,
    private readonly ended: ExchangeEnd,
  ) {
    this.req = forward.req;
    this.res = forward.res;
    this.extraHeaders = forward.extraHeaders;
    this.signal = forward.signal;
    this.carrier = connection.carrier;
    connection.exchange = this;
    if (this.signal.aborted) {
      this.fail(new UpstreamError("aborted"));
      return;
    }
    this.signal.addEventListener("abort", this.onAbort);
    connection.parser.start(this.req.method === "HEAD");
    // It is registered on its connection now: a fault while sending ends it here, once, never as a throw as well.
    try {
      this.sendRequest(forward.headers);
    } catch (error) {
      this.crashed(error);
    }
  }

  private sendRequest(headers: string[]): void {
    const { req, carrier, connection } = this;
    const length = req.headers["content-length"];
    const chunked = req.headers["transfer-encoding"] !== undefined;
    let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (chunked && name.length === 14 && name.toLowerCase() === "content-length") continue;
      head += `${name}: ${headers[i + 1]}\r\n`;
    }
    if (chunked) head += "transfer-encoding: chunked\r\n";
    // HTTP/1.1 connections persist unless a side says `close`: no field needed for it.
    head += "\r\n";
    // node:http read the client's head as latin1 (one character per byte): written back the same way, a header's
    // bytes reach the container as the client sent them (UTF-8 would turn each byte above 0x7f into two).
    const bytes = Buffer.from(head, "latin1");
    if (!chunked && (length === undefined || length === "0")) {
      carrier.write(bytes);
      return;
    }
    this.retryable = false;
    carrier.write(bytes);
    // Body events come from Node's stream machinery (often a nextTick, not a socket callback), where the crash guard
    // could not tell whose an exception is: it is caught here and stays this request's.
    const onData = (chunk: Buffer) => {
      try {
        // All three parts of a chunk are written whatever `write` returns: `false` only asks us to pause after them.
        if (chunked) {
          carrier.write(`${chunk.length.toString(16)}\r\n`);
          carrier.write(chunk);
        }
        const ok = carrier.write(chunked ? "\r\n" : chunk);
        if (!ok) {
          req.pause();
          connection.whenDrained(() => req.resume());
        }
      } catch (error) {
        this.crashed(error);
      }
    };
    req.on("data", onData);
    req.once("end", () => {
      req.off("data", onData);
      try {
        if (chunked) carrier.write("0\r\n\r\n");
      } catch (error) {
        this.crashed(error);
      }
    });
  }

  onHead(head: ResponseHead): void {
    const headers = head.headers;
    for (let i = 0; i < this.extraHeaders.length; i += 2) headers.push(this.extraHeaders[i]!, this.extraHeaders[i + 1]!);
    this.phase = Phase.Body;
    this.res.writeHead(head.status, headers);
  }

  onBody(data: Buffer): void {
    if (this.held) this.writeBody(this.held);
    // A copy when `data` is in the shared read buffer, which the next read of any connection overwrites.
    this.held = this.connection.ownsChunks ? data : Buffer.from(data);
  }

  /** The connection has handed on a whole read: a chunk held back by `onBody` goes out now, never later. */
  flushHeld(): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    this.writeBody(held);
  }

  private writeBody(chunk: Buffer): void {
    if (this.res.write(chunk) || this.waitingDrain) return;
    // The drain listener goes on only when needed: most responses fit the sink's buffer.
    this.waitingDrain = true;
    this.carrier.pause();
    this.res.on("drain", this.onDrain);
  }

  onComplete(keepAlive: boolean): void {
    this.reusable = keepAlive;
    this.finish();
  }

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.res.off("drain", this.onDrain);
    this.carrier.resume();
  };

  private finish(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.detach();
    const held = this.held;
    this.held = undefined;
    if (held === undefined) this.res.end();
    else this.res.end(held);
    this.ended(this, this.reusable && this.req.complete ? this.connection : (this.carrier.destroy(), null));
  }

  private fail(error: Error): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.held = undefined;
    this.detach();
    this.connection.parser.abandon();
    this.carrier.destroy();
    this.ended(this, null, error);
  }

  /** The container's response broke HTTP/1.1: 502, or a cut response once the head went out; reported once per container. */
  refused(error: ResponseError): void {
    this.connection.upstream.refused(error, this.phase === Phase.Head ? "the client got 502" : "the client's response was cut");
    this.fail(new UpstreamError(`the container sent a malformed response: ${error.message}`, false, "upstream_failed", MALFORMED_MESSAGE));
  }

  /** A fault of the gateway's own while handling this exchange: logged with its stack, the client gets 500 (or a cut response). */
  crashed(error: unknown): void {
    this.connection.upstream.logger.error({ err: error, url: this.req.url }, "unexpected error while proxying a response; the request got 500 or was cut");
    // A fault of ours is not a kept-alive connection the container closed: `Upstream.send` must not send it again.
    this.retryable = false;
    this.fail(new UpstreamError(`unexpected error in the gateway: ${String(error)}`, false, "internal_error"));
  }

  onClose(): void {
    // A body delimited by the close is complete now (the parser calls onComplete); anything else was cut short.
    if (this.connection.parser.end()) return;
    this.fail(new UpstreamError("the container closed the connection before the response was complete", this.canResend()));
  }

  /** The agent had closed this kept-alive stream before the request reached it: nothing of it ran. */
  onRefused(): void {
    this.notDelivered = true;
    this.fail(new UpstreamError("the container had closed the connection before the request arrived", this.canResend()));
  }

  onError(error: Error): void {
    // EPIPE: the container's end was closed before our request was written. ECONNRESET before any answer: it was
    // closed with our request still unread in its buffer (a socket closed after reading ends with a FIN instead).
    // Either way no handler saw the request.
    const code = systemCode(error);
    if (code === "EPIPE" || code === "ECONNRESET") this.notDelivered = true;
    this.fail(new UpstreamError(`connection to the container failed: ${error.message}`, this.canResend()));
  }

  /**
   * Only a request that certainly never reached a handler goes to another
   * container: one that was delivered and then lost its connection may have
   * crashed the container itself, and sending it on would crash the next one
   * too (a crash costs only the requests that were in flight on it).
   */
  private canResend(): boolean {
    return this.phase === Phase.Head && this.retryable && (!this.connection.connected || this.notDelivered) && !this.mayHaveReached;
  }

  private readonly onAbort = (): void => this.fail(new UpstreamError("aborted"));

  private detach(): void {
    this.connection.exchange = null;
    this.signal.removeEventListener("abort", this.onAbort);
    if (this.waitingDrain) this.onDrain();
  }
}
