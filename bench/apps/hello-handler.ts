// The one handler both sides of the HTTP benchmarks run: a bare node:http
// server (bench/support/bare-server.ts), and berth's `node` function in
// apps/hello.ts, so a ratio measures the path, not two different handlers.
import type { IncomingMessage, ServerResponse } from "node:http";

const body = JSON.stringify("Hello world!");

export function hello(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
