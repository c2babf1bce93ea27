/**
 * The reference proxy of bench/throughput.ts, in its own process: node:http
 * in front, undici's `Pool.request` to the bare server behind (kept-alive
 * TCP), each response body read whole and then sent: the naive proxy of
 * DESIGN.md. For bodies this small, buffering is the faster choice (in one
 * run here it served ~1.8× the requests/s of the same proxy piping the body
 * with `stream.pipeline`), so it is the harder comparison for the gateway,
 * which streams and also routes, guards and queues. Prints its port once
 * listening.
 *
 *   node --import tsx bench/support/undici-proxy.ts <target port>
 */
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host"]);
const pool = new Pool(`http://127.0.0.1:${process.argv[2]}`, { connections: 64, pipelining: 1 });

function forwardable(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

const server = createServer((req, res) => {
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  pool
    .request({ path: req.url!, method: req.method as "GET", headers: forwardable(req.headers) as Record<string, string>, body: hasBody ? req : undefined })
    .then(async ({ statusCode, headers, body }) => {
      const bytes = Buffer.from(await body.arrayBuffer());
      res.writeHead(statusCode, forwardable(headers));
      res.end(bytes);
    })
    .catch(() => {
      res.writeHead(502).end();
    });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log((server.address() as AddressInfo).port));
