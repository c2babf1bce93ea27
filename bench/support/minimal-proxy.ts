/**
 * The floor of bench/throughput.ts, in its own process: the least a proxy
 * written on node:http can do, in front of the bare server on a Unix socket
 * (as the gateway is in front of its containers). Kept-alive connections
 * taken from a stack, the request head written as one string, the response
 * head split at its first empty line and passed on with `writeHead`, the
 * body by `Content-Length` only, in the same chunk. No routing, no checks,
 * no metrics or logs, no streaming, no error handling: it is right only for
 * the bare hello handler's small answers, which is all it is for. What the
 * gateway costs above this row is the gateway's own work; what this row
 * costs above the bare server is the hop itself, on this machine.
 *
 *   node --import tsx bench/support/minimal-proxy.ts <unix socket of the server>
 */
import { createServer } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import type { ServerResponse } from "node:http";
import { answerFrom, requestHead } from "./minimal-answer.js";

interface Upstream {
  socket: Socket;
  res: ServerResponse | null;
}

const socketPath = process.argv[2]!;
const idle: Upstream[] = [];

function open(): Upstream {
  const upstream: Upstream = { socket: connect(socketPath), res: null };
  upstream.socket.setNoDelay(true);
  upstream.socket.on("data", (chunk: Buffer) => {
    const res = upstream.res!;
    upstream.res = null;
    answerFrom(chunk, res);
    idle.push(upstream);
  });
  return upstream;
}

const server = createServer((req, res) => {
  const upstream = idle.pop() ?? open();
  upstream.res = res;
  upstream.socket.write(requestHead(req.method, req.url, req.rawHeaders));
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log((server.address() as AddressInfo).port));
