// WebSockets: a chat room. Every message a client sends reaches every client connected to the room's
// container; one container (maxContainers: 1) holds up to 100 connections (maxInputs: each open socket is
// one input for its whole life).
//   npx berth serve examples/websockets.ts
//   npx wscat -c ws://local--websockets-chat-dev.localhost:8600/room    (or a browser: new WebSocket(url))
import { createServer } from "node:http";
import { App } from "berthjs";
import { WebSocketServer } from "ws";

const app = new App("websockets");

export const chat = app.function({ concurrency: { maxInputs: 100 }, maxContainers: 1 }).nodeApp(() => {
  const server = createServer((_req, res) => {
    res.setHeader("content-type", "text/plain");
    res.end("connect a WebSocket to /room\n");
  });
  const room = new WebSocketServer({ server, path: "/room" });
  room.on("connection", (socket, request) => {
    const name = new URL(request.url ?? "/", "http://x").searchParams.get("name") ?? "someone";
    socket.send(`welcome, ${name}: ${room.clients.size} here`);
    socket.on("message", (data, isBinary) => {
      if (isBinary) return socket.close(1003, "text only");
      for (const client of room.clients) client.send(`${name}: ${String(data)}`);
    });
  });
  return server;
});
