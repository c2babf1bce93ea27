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
 * with the per-connection listeners below it is ~33 µs (`npx tsx bench/cpu.ts`).
 *
 * Framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304;
 * otherwise chunked, else Content-Length, else until the connection closes
 * (and then the connection is not reused).
 */
import type { IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { BerthError, systemCode } from "../errors/codes.js";
import type { ContainerEndpoint } from "../runtime/types.js";

/** Sockets idle longer than this are closed by us, before the agent's 60 s keep-alive could race a new request. */
const IDLE_TIMEOUT_MS = 30_000;
/**
 * One timer per Upstream looks for idle sockets this often, instead of a
 * `setTimeout` armed and disarmed on each socket per request; a socket is
 * thus closed 30-40 s after its last use, still well before the agent's 60 s.
 */
const SWEEP_INTERVAL_MS = 10_000;
/** A response head larger than this is a broken upstream, not a response. */
const MAX_HEAD_BYTES = 64 * 1024;

/** An `upstream_failed` error that also says whether the request may go to another container. */
export class UpstreamError extends BerthError {
  override readonly name = "UpstreamError";
  constructor(
    message: string,
    /** The container gave no response and the request can be sent to another one without running twice. */
    readonly retryable = false,
  ) {
    super("upstream_failed", message);
  }
}

/**
 * Where a response goes: the client's `ServerResponse`, or a call's result
 * URL once it has been answered 303 (calls.ts). The subset the proxy uses.
 */
export interface ResponseSink {
  writeHead(status: number, headers: string[]): unknown;
  /** False when the consumer is full: the proxy pauses the container's socket until "drain". */
  write(chunk: Buffer): boolean;
  end(): unknown;
  on(event: "drain", listener: () => void): unknown;
  off(event: "drain", listener: () => void): unknown;
}

/** What can cancel a forward: an `AbortSignal`, or the gateway's lighter `AbortFlag` (abort-flag.ts). */
export interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

export class Upstream {
  /** Kept-alive connections, oldest release first (`send` takes the newest, so `sweep` finds the stale at the front). */
  private readonly idle: Connection[] = [];
  private closed = false;
  private sweeper: NodeJS.Timeout | undefined;

  /** `endpoint` is also where the WebSocket relay connects (websocket.ts), since upgrades bypass this client. */
  constructor(readonly endpoint: ContainerEndpoint) {}

  /**
   * Sends `req` (with `headers`, a flat name/value list) and streams the
   * response into `res`, adding `extraHeaders`. Resolves when the response
   * is complete; rejects if the upstream fails or `signal` aborts. Whether
   * `res` has started tells the caller if an error status can still be sent.
   */
  forward(
    req: IncomingMessage,
    res: ResponseSink,
    headers: string[],
    extraHeaders: string[],
    signal: AbortLike,
  ): Promise<void> {
    return this.send(req, res, headers, extraHeaders, signal, false);
  }

  /** `mayHaveReached`: an earlier try on this container may have reached its handler. */
  private send(
    req: IncomingMessage,
    res: ResponseSink,
    headers: string[],
    extraHeaders: string[],
    signal: AbortLike,
    mayHaveReached: boolean,
  ): Promise<void> {
    const reused = this.idle.pop();
    const exchange = new Exchange(req, res, headers, extraHeaders, signal, reused ?? this.open(), mayHaveReached);
    return exchange.done.then(
      (connection) => this.release(connection),
      (error: unknown) => {
        // A connection that broke under us says the container may be dying: its other idle sockets would break the
        // same way under the next requests, so they go, and the next request learns from a fresh connect.
        if (!signal.aborted) this.dropIdle();
        // A kept-alive socket the container closed just as we reused it: safe to retry once when nothing was consumed.
        if (reused && exchange.retryable && !signal.aborted) {
          return this.send(req, res, headers, extraHeaders, signal, mayHaveReached || !exchange.notDelivered);
        }
        throw error;
      },
    );
  }

  close(): void {
    this.closed = true;
    this.dropIdle();
  }

  /** @internal An idle connection closed, failed or sent bytes nobody asked for: it cannot carry a request. */
  drop(connection: Connection): void {
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    connection.socket.destroy();
  }

  private dropIdle(): void {
    for (const connection of this.idle.splice(0)) connection.socket.destroy();
    this.stopSweeping();
  }

  private open(): Connection {
    const socket =
      "socketPath" in this.endpoint ? connect(this.endpoint.socketPath) : connect({ host: this.endpoint.host, port: this.endpoint.port });
    socket.setNoDelay(true);
    return new Connection(socket, this);
  }

  private release(connection: Connection | null): void {
    if (!connection) return;
    if (this.closed || connection.socket.destroyed) {
      connection.socket.destroy();
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
    for (const connection of this.idle.splice(0, stale)) connection.socket.destroy();
    if (this.idle.length === 0) this.stopSweeping();
  }

  private stopSweeping(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

/**
 * One kept-alive socket. Its listeners are attached once, for its lifetime,
 * and hand each event to the exchange it currently carries (or, while idle,
 * drop it), instead of being attached and removed per request. With the idle
 * sweep and `AbortFlag` this took the gateway from 48 to 35 µs of CPU per
 * request (hello endpoint, wrk, 50 connections; `npx tsx bench/cpu.ts`).
 */
class Connection {
  /** The request/response under way, or null while idle. */
  exchange: Exchange | null = null;
  /** `performance.now()` when it was last released. */
  idleSince = 0;
  /** False until the socket connects: a request on a socket that never connected certainly did not reach the container. */
  connected: boolean;

  constructor(
    readonly socket: Socket,
    owner: Upstream,
  ) {
    this.connected = !socket.connecting;
    if (!this.connected) socket.once("connect", () => (this.connected = true));
    socket.on("data", (chunk: Buffer) => (this.exchange ? this.exchange.onData(chunk) : owner.drop(this)));
    socket.on("error", (error: Error) => (this.exchange ? this.exchange.onError(error) : owner.drop(this)));
    socket.on("close", () => (this.exchange ? this.exchange.onClose() : owner.drop(this)));
  }
}

const enum Phase {
  Head,
  Body,
  Done,
}

/** One request/response on one socket. */
class Exchange {
  /** Resolves with the connection to keep alive, or null when it cannot be reused. */
  readonly done: Promise<Connection | null>;
  /** True until a response byte arrives or the request body is read: the request could be sent again. */
  retryable = true;
  /** The socket failed in a way that proves the request was never written to a live container. */
  notDelivered = false;
  private resolve!: (connection: Connection | null) => void;
  private reject!: (error: Error) => void;
  private phase = Phase.Head;
  private head: Buffer | null = null;
  private framing: "length" | "chunked" | "close" | "none" = "none";
  private remaining = 0;
  /** Chunked decoding: bytes of the current chunk still to copy, or -1 while reading a size line. */
  private chunkLeft = -1;
  private pending: Buffer | null = null;
  private reusable = true;
  /** Paused for backpressure: listening for the sink's "drain". */
  private waitingDrain = false;
  private readonly headRequest: boolean;
  private readonly socket: Socket;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ResponseSink,
    headers: string[],
    private readonly extraHeaders: string[],
    private readonly signal: AbortLike,
    private readonly connection: Connection,
    private readonly mayHaveReached: boolean,
  ) {
    this.socket = connection.socket;
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.headRequest = req.method === "HEAD";
    connection.exchange = this;
    if (signal.aborted) {
      this.fail(new UpstreamError("aborted"));
      return;
    }
    signal.addEventListener("abort", this.onAbort);
    this.sendRequest(headers);
  }

  private sendRequest(headers: string[]): void {
    const { req, socket } = this;
    const length = req.headers["content-length"];
    const chunked = req.headers["transfer-encoding"] !== undefined;
    let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (chunked && name.length === 14 && name.toLowerCase() === "content-length") continue;
      head += `${name}: ${headers[i + 1]}\r\n`;
    }
    if (chunked) head += "transfer-encoding: chunked\r\n";
    head += "connection: keep-alive\r\n\r\n";
    if (!chunked && (length === undefined || length === "0")) {
      socket.write(head);
      return;
    }
    this.retryable = false;
    socket.write(head);
    const onData = (chunk: Buffer) => {
      // All three parts of a chunk are written whatever `write` returns: `false` only asks us to pause after them.
      if (chunked) {
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
      }
      const ok = socket.write(chunked ? "\r\n" : chunk);
      if (!ok) {
        req.pause();
        socket.once("drain", () => req.resume());
      }
    };
    req.on("data", onData);
    req.once("end", () => {
      req.off("data", onData);
      if (chunked) socket.write("0\r\n\r\n");
    });
  }

  onData(chunk: Buffer): void {
    this.retryable = false;
    if (this.phase === Phase.Head) this.readHead(chunk);
    else if (this.phase === Phase.Body) this.readBody(chunk);
  }

  private readHead(chunk: Buffer): void {
    const buffer = this.head ? Buffer.concat([this.head, chunk]) : chunk;
    const end = buffer.indexOf("\r\n\r\n");
    if (end < 0) {
      if (buffer.length > MAX_HEAD_BYTES) return this.fail(new UpstreamError("the container sent an oversized response head"));
      this.head = buffer;
      return;
    }
    this.head = null;
    const lines = buffer.toString("latin1", 0, end).split("\r\n");
    const statusLine = lines[0]!;
    const status = Number(statusLine.slice(9, 12));
    if (!statusLine.startsWith("HTTP/1.") || !(status >= 100 && status <= 999)) {
      return this.fail(new UpstreamError(`the container sent an invalid status line: ${JSON.stringify(statusLine.slice(0, 80))}`));
    }
    const rest = buffer.subarray(end + 4);
    if (status < 200) {
      // 1xx informational responses (100 Continue, 103 Early Hints) precede the real one.
      if (rest.length > 0) this.readHead(rest);
      return;
    }
    const headers: string[] = [];
    let length = -1;
    let chunked = false;
    for (let i = 1; i < lines.length; i += 1) {
      const line = lines[i]!;
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      switch (name.toLowerCase()) {
        case "content-length":
          length = Number(value);
          break;
        case "transfer-encoding":
          chunked = value.toLowerCase().includes("chunked");
          continue;
        case "connection":
          if (value.toLowerCase().includes("close")) this.reusable = false;
          continue;
        case "keep-alive":
        case "proxy-connection":
        case "upgrade":
        case "trailer":
          continue;
      }
      headers.push(name, value);
    }
    if (statusLine.startsWith("HTTP/1.0")) this.reusable = false;
    for (let i = 0; i < this.extraHeaders.length; i += 2) headers.push(this.extraHeaders[i]!, this.extraHeaders[i + 1]!);
    if (this.headRequest || status === 204 || status === 304) this.framing = "none";
    else if (chunked) this.framing = "chunked";
    else if (length >= 0) {
      this.framing = "length";
      this.remaining = length;
    } else {
      this.framing = "close";
      this.reusable = false;
    }
    this.res.writeHead(status, headers);
    this.phase = Phase.Body;
    if (this.framing === "none" || (this.framing === "length" && length === 0)) return this.finish();
    if (rest.length > 0) this.readBody(rest);
  }

  private readBody(chunk: Buffer): void {
    if (this.framing === "length") {
      const take = Math.min(chunk.length, this.remaining);
      this.write(take === chunk.length ? chunk : chunk.subarray(0, take));
      this.remaining -= take;
      if (this.remaining === 0) this.finish();
    } else if (this.framing === "close") {
      this.write(chunk);
    } else {
      this.readChunked(chunk);
    }
  }

  private readChunked(input: Buffer): void {
    let chunk = this.pending ? Buffer.concat([this.pending, input]) : input;
    this.pending = null;
    while (chunk.length > 0 && this.phase === Phase.Body) {
      if (this.chunkLeft > 0) {
        const take = Math.min(chunk.length, this.chunkLeft);
        this.write(chunk.subarray(0, take));
        this.chunkLeft -= take;
        chunk = chunk.subarray(take);
        if (this.chunkLeft === 0) this.chunkLeft = -2;
        continue;
      }
      const eol = chunk.indexOf("\r\n");
      if (eol < 0) {
        if (chunk.length > 4096) return this.fail(new UpstreamError("the container sent a malformed chunked body"));
        this.pending = chunk;
        return;
      }
      if (this.chunkLeft === -2) {
        // The CRLF after a chunk's data.
        this.chunkLeft = -1;
        chunk = chunk.subarray(eol + 2);
        continue;
      }
      if (this.chunkLeft === -3) {
        // Trailer section: ends with an empty line.
        chunk = chunk.subarray(eol + 2);
        if (eol === 0) return this.finish();
        continue;
      }
      const size = parseInt(chunk.toString("latin1", 0, eol).split(";")[0]!, 16);
      if (!Number.isFinite(size) || size < 0) return this.fail(new UpstreamError("the container sent a malformed chunked body"));
      chunk = chunk.subarray(eol + 2);
      this.chunkLeft = size === 0 ? -3 : size;
    }
  }

  private write(data: Buffer): void {
    if (data.length === 0) return;
    if (this.res.write(data) || this.waitingDrain) return;
    // The drain listener goes on only when needed: most responses fit the sink's buffer.
    this.waitingDrain = true;
    this.socket.pause();
    this.res.on("drain", this.onDrain);
  }

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.res.off("drain", this.onDrain);
    this.socket.resume();
  };

  private finish(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.detach();
    this.res.end();
    this.resolve(this.reusable && this.req.complete ? this.connection : (this.socket.destroy(), null));
  }

  private fail(error: Error): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.detach();
    this.socket.destroy();
    this.reject(error);
  }

  onClose(): void {
    if (this.phase === Phase.Body && this.framing === "close") return this.finish();
    this.fail(new UpstreamError("the container closed the connection before the response was complete", this.canResend()));
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
