/**
 * The multiplexed wire between the gateway and its own agent: many HTTP/1.1
 * connections ("streams") carried over one Unix socket, so that the answers
 * the agent has ready at once come back in one write, and the gateway's
 * reads and writes serve many requests. With a socket per connection each
 * request cost a write and a read on each side and, on a busy machine, a
 * wake-up of the other process; those syscalls and wake-ups were most of
 * what a proxied request cost above a direct one. The streams still carry
 * plain HTTP/1.1, so the agent's node:http server and the gateway's strict
 * response parser do what they did over sockets (like HTTP/2's streams,
 * without its header compression and priorities, which a local socket
 * does not need).
 *
 * A frame is a 9-byte header, then its payload:
 *
 *   payload length u32 BE │ stream id u32 BE │ type u8 │ payload
 *
 *   DATA     bytes of the stream's HTTP/1.1 connection (at most MAX_PAYLOAD)
 *   CLOSE    the sender is done with the stream, both ways (no payload)
 *   CREDIT   u32: the receiver has consumed that many more of the stream's bytes
 *   REFUSED  (agent to gateway) the stream had closed before this DATA came:
 *            none of it was processed, so the request may go elsewhere
 *
 * The gateway opens streams, with increasing ids, by sending DATA on them.
 * Flow control is per stream: a side may have at most WINDOW bytes of a
 * stream's DATA in flight that the other has not credited, and credits only
 * what its consumer took, so a stream whose reader is paused (a slow client,
 * a handler not reading its body) holds only its own window and never the
 * socket the others share. Everything the agent sends is untrusted: a frame
 * that breaks these rules ends the session (each stream sees its connection
 * lost), never the gateway.
 */
import type { Socket } from "node:net";

export const WINDOW = 256 * 1024;
export const MAX_PAYLOAD = 64 * 1024;
const HEADER_BYTES = 9;
/** Consumed bytes are credited in batches of at least this many, or when the stream resumes. */
const CREDIT_BATCH = WINDOW / 4;

const enum Frame {
  Data = 0,
  Close = 1,
  Credit = 2,
  Refused = 3,
}

/** Why a stream ended: the peer closed it, refused it unprocessed (see REFUSED), or the session's socket ended or broke the protocol. */
export type StreamEnd = "closed" | "refused" | "lost";

export class MuxProtocolError extends Error {}

export class MuxSession {
  /** A stream the peer opened (on the side that accepts streams): attach its handlers before returning. */
  onStream: (stream: MuxStream) => void = () => {};
  /** The session ended; `error` when it broke (a socket error, or the peer broke the protocol). Every open stream has seen `onEnd("lost")`. */
  onEnd: (error: Error | undefined) => void = () => {};
  /** True once the socket is connected (a session that never connected certainly delivered nothing). */
  connected: boolean;
  ended = false;
  private readonly streams = new Map<number, MuxStream>();
  private readonly waitingDrain = new Set<MuxStream>();
  private nextId = 1;
  /** The highest id the peer opened: DATA for a lower id that is gone is REFUSED, a higher one opens a stream. */
  private highestPeerId = 0;
  private partial: Buffer | undefined;
  private corked = false;
  /** @internal The socket asked us to wait for "drain". */
  blocked = false;

  /**
   * `accepts`: this is the agent's side, where the gateway opens streams
   * (odd ids, increasing); the gateway's side opens them and accepts none.
   *
   * The frames written during one callback (and its promise jobs) leave
   * together, in one writev: on the agent's side a chunk of requests is
   * handled in one callback, so their answers leave together; on the
   * gateway's a client's request head, its body and the credits it gives
   * leave together. Not later: the gateway once held every request of a
   * turn of the event loop until the turn ended (`setImmediate`), to spare
   * system calls, but the agent then sat idle until the whole batch came
   * and answered it in one convoy while the gateway waited in turn; sent at
   * once, the agent works beside the gateway (+20-40% requests per second
   * at the same CPU per request, bench/throughput.ts).
   */
  constructor(
    readonly socket: Socket,
    private readonly accepts: boolean,
  ) {
    this.connected = !socket.connecting;
    if (!this.connected) socket.once("connect", () => (this.connected = true));
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("drain", () => this.drained());
    socket.on("error", (error) => this.end(error));
    socket.on("close", () => this.end(undefined));
  }

  /** Opens a stream to the peer. Writing to it sends the first DATA. */
  open(): MuxStream {
    const stream = new MuxStream(this, this.nextId);
    this.nextId += 2;
    if (this.ended) stream.ended("lost");
    else this.streams.set(stream.id, stream);
    return stream;
  }

  /** Ends the session: every open stream is lost. */
  destroy(): void {
    this.socket.destroy();
    this.end(undefined);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** @internal */
  send(type: Frame, id: number, payload?: Buffer | string | readonly Buffer[], length = payload === undefined ? 0 : byteLength(payload)): void {
    if (this.ended) return;
    if (!this.corked) {
      // Every frame written until then goes out in one writev (see the constructor).
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header.writeUInt32BE(length, 0);
    header.writeUInt32BE(id, 4);
    header[8] = type;
    try {
      // A string or a list of pieces is written as it is: the socket's writev gathers them, with no copy here.
      if (!this.socket.write(header)) this.blocked = true;
      if (payload === undefined) return;
      if (typeof payload === "string" || Buffer.isBuffer(payload)) {
        if (!this.socket.write(payload)) this.blocked = true;
      } else {
        for (const piece of payload) if (!this.socket.write(piece)) this.blocked = true;
      }
    } catch (error) {
      // A header without its payload would make the peer read every later frame wrong: the session cannot go on.
      // Its streams learn it from the socket's close, after the caller has handled this request's own fault.
      this.socket.destroy();
      throw error;
    }
  }

  /** @internal */
  sendCredit(id: number, bytes: number): void {
    const payload = Buffer.allocUnsafe(4);
    payload.writeUInt32BE(bytes, 0);
    this.send(Frame.Credit, id, payload);
  }

  /** @internal */
  forget(stream: MuxStream): void {
    this.streams.delete(stream.id);
    this.waitingDrain.delete(stream);
  }

  /** @internal */
  waitForDrain(stream: MuxStream): void {
    this.waitingDrain.add(stream);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  private drained(): void {
    this.blocked = false;
    for (const stream of this.waitingDrain) {
      if (this.blocked) return;
      this.waitingDrain.delete(stream);
      stream.flush();
    }
  }

  private read(chunk: Buffer): void {
    let buffer = chunk;
    if (this.partial) {
      buffer = Buffer.concat([this.partial, chunk]);
      this.partial = undefined;
    }
    let offset = 0;
    try {
      while (!this.ended && buffer.length - offset >= HEADER_BYTES) {
        const length = buffer.readUInt32BE(offset);
        const type = buffer[offset + 8]!;
        if (length > MAX_PAYLOAD || (type !== Frame.Data && length !== (type === Frame.Credit ? 4 : 0)) || type > Frame.Refused) {
          throw new MuxProtocolError(`malformed frame (type ${type}, ${length} bytes)`);
        }
        if (buffer.length - offset < HEADER_BYTES + length) break;
        const id = buffer.readUInt32BE(offset + 4);
        const payload = buffer.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length);
        offset += HEADER_BYTES + length;
        this.frame(type, id, payload);
      }
    } catch (error) {
      // The peer broke the protocol (MuxProtocolError), or a stream's handler failed unexpectedly (anything else):
      // either way the frames after this one can no longer be trusted to be read right.
      this.socket.destroy();
      this.end(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (offset < buffer.length && !this.ended) this.partial = Buffer.from(buffer.subarray(offset));
  }

  private frame(type: Frame, id: number, payload: Buffer): void {
    let stream = this.streams.get(id);
    if (stream === undefined) {
      // A stream this side closed, whose peer had not yet seen the CLOSE: late bytes, dropped.
      if (type !== Frame.Data || !this.accepts) return;
      if (id <= this.highestPeerId) return this.send(Frame.Refused, id);
      if ((id & 1) === 0) throw new MuxProtocolError(`stream id ${id} is not one the gateway opens`);
      this.highestPeerId = id;
      stream = new MuxStream(this, id);
      this.streams.set(id, stream);
      this.onStream(stream);
    }
    if (type === Frame.Data) stream.received(payload);
    else if (type === Frame.Credit) stream.credited(payload.readUInt32BE(0));
    else {
      this.forget(stream);
      stream.ended(type === Frame.Refused ? "refused" : "closed");
    }
  }

  private end(error: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.partial = undefined;
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.waitingDrain.clear();
    for (const stream of streams) stream.ended("lost", error);
    this.onEnd(error);
  }
}

/**
 * One HTTP/1.1 connection inside a session. Its handlers are plain fields,
 * set once, because the gateway's hot path reads through them per request.
 */
export class MuxStream {
  /** Bytes from the peer: a view into a buffer the session does not reuse. Pausing inside it holds this chunk's credit too. */
  onData: (chunk: Buffer) => void = () => {};
  /** The stream ended (see StreamEnd); `error` when the session broke. Called once, never after `destroy()`. */
  onEnd: (how: StreamEnd, error?: Error) => void = () => {};
  /** `write` returned false and everything is sent now. */
  onDrain: () => void = () => {};
  destroyed = false;
  private sendWindow = WINDOW;
  /** Bytes the peer sent that it has not been credited for; more than WINDOW breaks the protocol. */
  private unacknowledged = 0;
  /** Of those, what the consumer has taken: credited in batches. */
  private consumed = 0;
  private paused = false;
  private queue: Buffer[] = [];
  private needsDrain = false;

  constructor(
    private readonly session: MuxSession,
    readonly id: number,
  ) {}

  get connected(): boolean {
    return this.session.connected;
  }

  /**
   * Sends bytes on the stream (a string as UTF-8; pieces as one frame when
   * they fit); false when they wait for the peer's credit or the socket
   * (then `onDrain` follows).
   */
  write(data: Buffer | string | readonly Buffer[]): boolean {
    if (this.destroyed) return false;
    const length = byteLength(data);
    if (length === 0) return this.queue.length === 0 && !this.session.blocked;
    if (this.queue.length === 0 && length <= this.sendWindow && length <= MAX_PAYLOAD) {
      this.sendWindow -= length;
      this.session.send(Frame.Data, this.id, data, length);
      if (!this.session.blocked) return true;
    } else {
      this.queue.push(typeof data === "string" ? Buffer.from(data) : Buffer.isBuffer(data) ? data : Buffer.concat(data));
      this.flush();
    }
    if (this.queue.length === 0 && !this.session.blocked) return true;
    this.needsDrain = true;
    if (this.session.blocked) this.session.waitForDrain(this);
    return false;
  }

  /** Stops crediting what arrives, so the peer stops sending once its window is used up. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.credit(0, true);
  }

  /** Ends the stream both ways; the peer sees CLOSE. Nothing is called back afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.queue = [];
    this.session.forget(this);
    this.session.send(Frame.Close, this.id);
  }

  /** @internal */
  received(payload: Buffer): void {
    if (this.destroyed) return;
    this.unacknowledged += payload.length;
    if (this.unacknowledged > WINDOW) throw new MuxProtocolError(`stream ${this.id} was sent more than its window`);
    this.onData(payload);
    this.credit(payload.length, false);
  }

  /** @internal */
  credited(bytes: number): void {
    this.sendWindow += bytes;
    if (this.sendWindow > WINDOW) throw new MuxProtocolError(`stream ${this.id} was credited more than it sent`);
    this.flush();
  }

  /** @internal Sends what the window and the socket allow now. */
  flush(): void {
    while (this.queue.length > 0 && this.sendWindow > 0 && !this.destroyed) {
      const head = this.queue[0]!;
      const size = Math.min(head.length, this.sendWindow, MAX_PAYLOAD);
      this.sendWindow -= size;
      this.session.send(Frame.Data, this.id, size === head.length ? head : head.subarray(0, size));
      if (size === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(size);
      if (this.session.blocked) {
        this.session.waitForDrain(this);
        return;
      }
    }
    if (this.queue.length === 0 && this.needsDrain && !this.session.blocked && !this.destroyed) {
      this.needsDrain = false;
      this.onDrain();
    }
  }

  /** @internal */
  ended(how: StreamEnd, error?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.queue = [];
    this.onEnd(how, error);
  }

  private credit(bytes: number, force: boolean): void {
    this.consumed += bytes;
    if (this.paused || this.destroyed || this.consumed === 0) return;
    if (!force && this.consumed < CREDIT_BATCH && this.unacknowledged < WINDOW - CREDIT_BATCH) return;
    this.unacknowledged -= this.consumed;
    this.session.sendCredit(this.id, this.consumed);
    this.consumed = 0;
  }
}

function byteLength(data: Buffer | string | readonly Buffer[]): number {
  if (typeof data === "string") return Buffer.byteLength(data);
  if (Buffer.isBuffer(data)) return data.length;
  let length = 0;
  for (const piece of data) length += piece.length;
  return length;
}
