/**
 * The control channel between a driver and its agent: JSON objects, one per
 * line, over a stream (the container's descriptor 3). Both ends use it; the
 * driver's end reads bytes from inside a container, so a line longer than
 * `maxLineLength` ends the channel instead of growing a buffer without bound.
 */
import type { Duplex } from "node:stream";

export interface ChannelHandlers {
  onMessage(value: unknown): void;
  /** The other end closed, or sent a line too long or not JSON (`violation` says which). */
  onClose(violation?: string): void;
}

export class Channel {
  private buffer = "";
  private closed = false;

  constructor(
    private readonly stream: Duplex,
    private readonly handlers: ChannelHandlers,
    private readonly maxLineLength: number,
  ) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => this.receive(chunk));
    stream.on("end", () => this.end());
    stream.on("close", () => this.end());
    stream.on("error", () => this.end());
  }

  send(value: unknown, callback?: (error?: Error | null) => void): void {
    if (this.closed) {
      callback?.(new Error("channel closed"));
      return;
    }
    this.stream.write(`${JSON.stringify(value)}\n`, callback);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.destroy();
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    for (let newline = this.buffer.indexOf("\n"); newline >= 0; newline = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        return this.end("a control message that is not JSON");
      }
      this.handlers.onMessage(value);
      if (this.closed) return;
    }
    if (this.buffer.length > this.maxLineLength) this.end(`a control message over ${this.maxLineLength} characters`);
  }

  private end(violation?: string): void {
    if (this.closed) return;
    this.close();
    this.handlers.onClose(violation);
  }
}
