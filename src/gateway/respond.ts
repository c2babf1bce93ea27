/** Writes the gateway's own answers (errors) in the shape of the error table. */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Clock } from "../clock/clock.js";
import { ERRORS, errorBody, type ErrorCode } from "../errors/codes.js";
import type { Logger } from "../logging/logger.js";
import type { CrashScope } from "./crash-guard.js";

export function sendError(
  res: ServerResponse,
  code: ErrorCode,
  message?: string,
  headers: Record<string, string> = {},
  details: Record<string, unknown> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(code, message, details));
  res.writeHead(ERRORS[code].status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

/** Milliseconds a refused connection may keep sending after the answer, so the client can read it before the reset. */
export const REFUSAL_LINGER_MS = 1_000;

/** Whether the request says a body follows (chunked, or a `Content-Length` other than 0). */
export function declaresBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] ?? "0") !== "0";
}

/**
 * When node:http closes the connection after this answer (`Connection:
 * close`, as every refusal of an unread body has), the close lingers: the
 * answer and a FIN go out, reading stops, and the socket is destroyed
 * `REFUSAL_LINGER_MS` later (as nginx's `lingering_close`). node:http would
 * destroy it as soon as the answer is flushed; with unread body bytes in
 * its receive buffer the kernel then sends a reset, and a client still
 * writing its body sees the reset on its next write and drops the answer
 * it has not read yet. An answer that keeps the connection is left alone.
 */
export function lingerAfterAnswer(req: IncomingMessage, res: ServerResponse, clock: Clock): void {
  const socket = req.socket;
  const linger = () => {
    // Not closing (a kept-alive answer, whose unread body node:http reads and drops), or already gone.
    if (socket.destroyed || !socket.writableEnded) return;
    // node:http's `destroySoon` (a `connection: close` answer) queued the destroy for when the FIN is out.
    socket.removeListener("finish", socket.destroy);
    socket.pause();
    const cancel = clock.after(REFUSAL_LINGER_MS, () => socket.destroy());
    socket.once("close", cancel);
  };
  // Not `writableFinished`: it turns true once the bytes are in the kernel, before node:http's `finish` listener queues that destroy; `close` comes after it.
  if (res.closed) linger();
  else res.once("close", linger);
}

/** Writes an error answer straight to a socket (parse errors and upgrades have no ServerResponse), then closes it. */
export function sendSocketError(socket: Duplex, code: ErrorCode, message: string | undefined, headers: Record<string, string>): void {
  const body = JSON.stringify(errorBody(code, message));
  const status = ERRORS[code].status;
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n${extra}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}

/** A request without a call of its own (control plane, upgrade handshakes): an unexpected exception ends it with 500. */
export class ResponseScope implements CrashScope {
  constructor(
    private readonly res: ServerResponse,
    private readonly logger: Logger,
  ) {}

  crashed(error: unknown): void {
    this.logger.error({ err: error, method: this.res.req.method, url: this.res.req.url }, "unexpected error in a request; it got 500 or was cut");
    sendError(this.res, "internal_error");
  }
}
