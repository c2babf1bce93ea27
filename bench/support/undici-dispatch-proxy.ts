/**
 * A reference proxy of bench/throughput.ts, in its own process: node:http
 * in front, undici's lowest-level API behind, `Dispatcher#dispatch` with a
 * handler of its own (no `request` promise, no body stream, no header
 * objects built for the caller beyond undici's own), each response streamed
 * into the client's response as its chunks arrive. Issue 9 asked for it as
 * the comparison for the gateway's own HTTP client (src/gateway/upstream.ts):
 * the most a general client can be made to save. Prints its port once
 * listening.
 *
 *   node --import tsx bench/support/undici-dispatch-proxy.ts <target port>
 */
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool, type Dispatcher } from "undici";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host"]);
const pool = new Pool(`http://127.0.0.1:${process.argv[2]}`, { connections: 64, pipelining: 1 });

function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (!HOP_BY_HOP.has(name)) out[name] = headers[name];
  return out;
}

/** Streams one response into `res`, pausing undici while the client's socket is full, aborting it if the client leaves. */
class Relay implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;

  constructor(private readonly res: ServerResponse) {
    res.on("drain", () => this.controller?.resume());
    // A paused request whose client left would hold its pooled connection forever.
    res.on("close", () => {
      if (!res.writableFinished) this.controller?.abort(new Error("the client went away"));
    });
  }

  /** Its presence is also how undici tells this (v7) handler interface from the older one. */
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.res.writeHead(statusCode, forwardable(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, _error: Error): void {
    if (this.res.headersSent || this.res.destroyed) this.res.destroy();
    else this.res.writeHead(502).end();
  }
}

const server = createServer((req, res) => {
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  pool.dispatch(
    { path: req.url!, method: req.method as Dispatcher.HttpMethod, headers: forwardable(req.headers) as Record<string, string>, body: hasBody ? req : null },
    new Relay(res),
  );
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log((server.address() as AddressInfo).port));
