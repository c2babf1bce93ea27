/**
 * What the HTTP parser refuses before the request chain runs: the Node
 * server settings that bound what a client can make it hold (head size,
 * header count, time to send the head), and the answers to parse errors.
 */
import type { Server, ServerOptions, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ErrorCode } from "../errors/codes.js";
import type { GatewayLimits } from "./guards.js";
import { sendSocketError } from "./respond.js";

/** Node's server options that enforce `limits` in the parser. */
export function serverOptions(limits: GatewayLimits): ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    // Bodies of up to 4 GiB may take long: the function's timeout bounds a
    // call once it is forwarded; only the head has a deadline of its own.
    requestTimeout: 0,
    connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
  };
}

const CLIENT_ERRORS: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: "headers_too_large",
  ERR_HTTP_REQUEST_TIMEOUT: "request_timeout",
};

/**
 * Answers what the parser refuses (llhttp: conflicting Content-Length and
 * Transfer-Encoding, duplicate lengths, malformed chunks, oversized heads,
 * slow heads) with the error table's JSON and closes the connection, so
 * nothing after a malformed message is ever read as a request.
 */
export function hardenServer(server: Server, limits: GatewayLimits): void {
  server.maxHeadersCount = limits.maxHeaderCount + 1;
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    const pending = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && !(pending && pending.headersSent) && error.code !== "ECONNRESET") {
      const code = CLIENT_ERRORS[error.code ?? ""] ?? "bad_request";
      sendSocketError(socket, code, code === "bad_request" ? `Malformed HTTP request: ${error.message}.` : undefined, {});
    } else {
      socket.destroy();
    }
  });
}
