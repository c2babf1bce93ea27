/**
 * Test support for hostile clients: a raw TCP exchange with the gateway
 * (requests well-behaved clients cannot send), a streaming upload that
 * respects backpressure, and the resident memory of a process.
 */
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";

export interface RawExchange {
  /** Everything the server sent back, as latin1. */
  text: string;
  /** Whether the server closed the connection (rather than our deadline). */
  closed: boolean;
}

/** Writes `text` on a fresh connection from `localAddress` and collects the answer until the server closes or `waitMs`. */
export function exchange(port: number, text: string, options: { waitMs?: number; localAddress?: string } = {}): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress: options.localAddress });
    let received = "";
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: received, closed });
    };
    const timer = setTimeout(() => finish(false), options.waitMs ?? 3000);
    socket.on("data", (data) => (received += data.toString("latin1")));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
    socket.write(text);
  });
}

export function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}

export interface Upload {
  /** The answer's head and body, once the server answered. */
  answer: Promise<string>;
  /** Bytes written so far. */
  sent(): number;
  /** Resolves when the socket closed. */
  closed: Promise<void>;
  socket: Socket;
}

/**
 * Sends `head`, then a chunked body of `totalBytes` in 64 KiB chunks, each
 * written only when the socket has room (so the client holds no more than
 * the kernel's buffers), until the server answers or closes. With `deafMs`,
 * reads nothing for that long: a client busy writing its upload that only
 * then looks for the answer (most do).
 */
export function chunkedUpload(port: number, head: string, totalBytes: number, { deafMs = 0 } = {}): Upload {
  const socket = connect(port, "127.0.0.1");
  if (deafMs > 0) {
    socket.pause();
    setTimeout(() => socket.resume(), deafMs);
  }
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
  let sent = 0;
  let text = "";
  let answered: (text: string) => void;
  const answer = new Promise<string>((resolve) => (answered = resolve));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => {});
  socket.on("data", (data) => {
    text += data.toString("latin1");
    if (/\r\n\r\n[\s\S]*\}/.test(text)) answered(text);
  });
  socket.on("close", () => answered(text));
  const pump = () => {
    while (!socket.destroyed && sent < totalBytes) {
      sent += chunk.length;
      if (!socket.write(frame)) return void socket.once("drain", pump);
    }
    if (!socket.destroyed && sent >= totalBytes) socket.write("0\r\n\r\n");
  };
  socket.once("connect", () => {
    socket.write(head);
    pump();
  });
  return { answer, sent: () => sent, closed, socket };
}

/** Resident memory of process `pid` in bytes, from /proc (Linux). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kib * 1024;
}
