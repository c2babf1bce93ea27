/**
 * The one shortcut both minimal proxies take with an answer (minimal-proxy.ts
 * over a socket per connection, minimal-mux-proxy.ts over berth's
 * multiplexed socket): the whole response is in `chunk`, its head split at
 * the first empty line, its body by `Content-Length` only. Right only for the
 * bare hello handler's small answers, which is all it is for.
 */
import type { ServerResponse } from "node:http";

export function answerFrom(chunk: Buffer, res: ServerResponse): void {
  const end = chunk.indexOf("\r\n\r\n");
  const lines = chunk.toString("latin1", 0, end).split("\r\n");
  const headers: string[] = [];
  let length = 0;
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i]!.indexOf(":");
    const name = lines[i]!.slice(0, colon);
    const value = lines[i]!.slice(colon + 1).trim();
    const lower = name.toLowerCase();
    if (lower === "connection" || lower === "keep-alive") continue;
    if (lower === "content-length") length = Number(value);
    headers.push(name, value);
  }
  res.writeHead(Number(lines[0]!.slice(9, 12)), headers);
  res.end(chunk.subarray(end + 4, end + 4 + length));
}

/** The request head a minimal proxy sends on: the client's, kept alive. */
export function requestHead(method: string | undefined, url: string | undefined, rawHeaders: string[]): string {
  let head = `${method} ${url} HTTP/1.1\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) head += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  return `${head}connection: keep-alive\r\n\r\n`;
}
