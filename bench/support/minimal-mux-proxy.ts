/**
 * The floor of bench/throughput.ts for berth's own wire: what
 * minimal-proxy.ts does, over the multiplexed socket the gateway uses to
 * talk to its agents (src/mux) instead of a socket per connection, in
 * front of the bare server behind a MuxListener (bare-server.ts --mux).
 * Same shortcuts as minimal-proxy.ts: right only for the bare hello
 * handler's small answers. What the gateway costs above this row is its own
 * per-request work; what this row costs above the bare server is the hop.
 *
 *   node --import tsx bench/support/minimal-mux-proxy.ts <multiplexed socket of the server>
 */
import { createServer, type ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import type * as Mux from "../../src/mux/session.js";

const { MuxSession } = (await import(new URL("../../dist/mux/session.js", import.meta.url).href)) as typeof Mux;
type Stream = Mux.MuxStream & { res: ServerResponse | null };

const session = new MuxSession(connect(process.argv[2]!), false);
const idle: Stream[] = [];

function open(): Stream {
  const stream = session.open() as Stream;
  stream.res = null;
  stream.onData = (chunk) => {
    const res = stream.res!;
    stream.res = null;
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
    idle.push(stream);
  };
  return stream;
}

const server = createServer((req, res) => {
  const stream = idle.pop() ?? open();
  stream.res = res;
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < req.rawHeaders.length; i += 2) head += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  stream.write(`${head}connection: keep-alive\r\n\r\n`);
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log((server.address() as AddressInfo).port));
