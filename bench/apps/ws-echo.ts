// bench/websocket.ts deploys this: a raw `ws` echo server behind webServer.
// GET / answers the port it listens on, so the benchmark can also connect to it directly.
import { createServer } from "node:http";
import { App } from "berthjs";
import { WebSocketServer } from "ws";

const app = new App("bench-ws");

export const echo = app.function({ concurrency: { maxInputs: 1000 } }).webServer({}, ({ port }) => {
  const server = createServer((_req, res) => res.end(String(port)));
  new WebSocketServer({ server, perMessageDeflate: false }).on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
  server.listen(port, "0.0.0.0");
});
