/**
 * The agent's end of the multiplexed wire (src/mux): each stream the
 * gateway opens becomes a connection of the handler's own node:http server,
 * as if it had been accepted on a socket, so every handler (fetch, Express,
 * Fastify, Hono) runs exactly as over a plain socket. Answers written in the
 * same tick leave in one write.
 */
import type { Server } from "node:http";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { MuxSession, type MuxStream } from "../mux/session.js";

export class MuxListener {
  private readonly listener: NetServer;
  private readonly sessions = new Set<MuxSession>();
  private streams = 0;

  constructor(private readonly http: Server) {
    this.listener = createServer((socket) => this.accept(socket));
  }

  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.listener.once("error", reject);
      this.listener.listen(path, () => resolve());
    });
  }

  /** Streams open now (each an HTTP connection of the handler's server, idle or not). */
  get openStreams(): number {
    return this.streams;
  }

  /** Stops accepting sessions; open streams go on until the server closes them. */
  stopAccepting(): void {
    this.listener.close();
  }

  destroy(): void {
    this.listener.close();
    for (const session of this.sessions) session.destroy();
  }

  private accept(socket: Socket): void {
    const session = new MuxSession(socket, true);
    this.sessions.add(session);
    session.onEnd = () => this.sessions.delete(session);
    session.onStream = (stream) => {
      this.streams += 1;
      this.http.emit("connection", streamSocket(stream, () => (this.streams -= 1)));
    };
  }
}

/** A stream as the socket node:http expects: its readable side is what the gateway sent, its writable side goes back as DATA. */
function streamSocket(stream: MuxStream, closed: () => void): Duplex {
  let waiting: ((error?: Error | null) => void) | undefined;
  const socket = new Duplex({
    readableHighWaterMark: 64 * 1024,
    read: () => stream.resume(),
    write: (chunk: Buffer, _encoding, callback) => {
      if (stream.write(chunk)) callback();
      else waiting = callback;
    },
    // node:http writes a response's head and body together: one frame (strings were made Buffers by `decodeStrings`).
    writev: (chunks, callback) => {
      if (stream.write(chunks.map(({ chunk }) => chunk as Buffer))) callback();
      else waiting = callback;
    },
    // The server ended the connection (`Connection: close`) once everything it wrote was sent.
    final: (callback) => {
      stream.destroy();
      callback();
      // Its readable side never ends by itself (the gateway never half-closes): the socket is done now.
      process.nextTick(() => socket.destroy());
    },
    destroy: (error, callback) => {
      stream.destroy();
      callback(error);
    },
  });
  stream.onData = (chunk) => {
    if (!socket.push(chunk)) stream.pause();
  };
  // The gateway closed the connection, or the session ended: as a reset socket, requests under way see it closed.
  stream.onEnd = () => socket.destroy();
  stream.onDrain = () => {
    const callback = waiting;
    waiting = undefined;
    callback?.();
  };
  socket.once("close", closed);
  // What node:http and frameworks call on a net.Socket; a stream has no timeouts or Nagle to set (the gateway bounds calls).
  return Object.assign(socket, {
    setTimeout: () => socket,
    setNoDelay: () => socket,
    setKeepAlive: () => socket,
  });
}
