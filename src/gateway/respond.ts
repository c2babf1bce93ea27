/** Writes the gateway's own answers (errors) in the shape of the error table. */
import type { ServerResponse } from "node:http";
import { ERRORS, errorBody, type ErrorCode } from "../errors/codes.js";

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
