/**
 * The floor of bench/throughput.ts for berth's own wire: what
 * minimal-proxy.ts does, over the multiplexed socket the gateway uses to
 * talk to its agents (src/mux) instead of a socket per connection, in
 * front of the bare server behind a MuxListener (bare-server.ts --mux).
 * Same shortcuts as minimal-proxy.ts (minimal-answer.ts). What the gateway costs above this row is its own
 * per-request work; what this row costs above the bare server is the hop.
 *
 *   node --import tsx bench/support/minimal-mux-proxy.ts <multiplexed socket of the server>
 */
import { createServer, type ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import type * as Mux from "../../src/mux/session.js";
import { answerFrom, requestHead } from "./minimal-answer.js";

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
    answerFrom(chunk, res);
    idle.push(stream);
  };
  return stream;
}

const server = createServer((req, res) => {
  const stream = idle.pop() ?? open();
  stream.res = res;
  stream.write(requestHead(req.method, req.url, req.rawHeaders));
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log((server.address() as AddressInfo).port));
