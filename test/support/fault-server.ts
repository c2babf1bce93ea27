/**
 * A real berth server in a child process with faults injected into Node's
 * own classes, standing in for a bug the gateway does not know it has, for
 * test/crash-guard.test.ts:
 *
 * - `writeHead` throws when a response carries `x-explode` (an exception
 *   inside the listener that reads a container's answer, the crash of issue 9);
 * - a socket write to a container throws on a body containing `EXPLODE`
 *   (inside a request body's `data` listener);
 * - a WebSocket `send` throws on a message containing `EXPLODE` (inside a
 *   listener of the client's socket, which only the process guard sees);
 * - a line `outside` on stdin throws from a timer no request owns.
 *
 * Prints `{"url", "wsUrl", "port", "token"}` once deployed (the token is the control API's).
 */
import http from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { bundleApp } from "../../src/bundler/bundle.js";
import { ApiClient } from "../../src/cli/client.js";
import { startServer } from "../../src/server/start.js";
import { REPO } from "./platform.js";

function inject<T extends object, K extends keyof T>(target: T, key: K, when: (self: T, args: unknown[]) => boolean, message: string): void {
  const original = target[key] as (...args: unknown[]) => unknown;
  target[key] = function (this: T, ...args: unknown[]) {
    if (when(this, args)) throw new TypeError(`injected fault: ${message}`);
    return original.apply(this, args);
  } as T[K];
}

inject(http.ServerResponse.prototype, "writeHead", (_res, args) => Array.isArray(args[1]) && args[1].includes("x-explode"), "writeHead");
// Only writes to a container (a Unix socket: no remote port), not to clients.
inject(net.Socket.prototype, "write", (socket, args) => Buffer.isBuffer(args[0]) && args[0].includes("EXPLODE") && socket.remotePort === undefined, "a body write");
inject(WebSocket.prototype, "send", (_ws, args) => String(args[0]).includes("EXPLODE"), "a WebSocket send");

const home = mkdtempSync(join(tmpdir(), "berth-fault-"));
const appDir = mkdtempSync(join(REPO, "test", ".tmp-"));
const server = await startServer({ home, port: 0, workspace: "test", warmAgents: 0, rateLimit: null, exitGraceMs: 1000 });
const cleanup = () => {
  rmSync(home, { recursive: true, force: true });
  rmSync(appDir, { recursive: true, force: true });
};
process.once("exit", cleanup);
process.once("SIGTERM", () => void server.close().then(() => process.exit(0)));

const file = join(appDir, "fault.ts");
writeFileSync(
  file,
  `import { createServer } from "node:http";
import { App } from "berthjs";
import { WebSocketServer } from "ws";
const app = new App("fault");
export const echo = app.function({ maxContainers: 1 }).nodeApp(() => (req, res) => {
  let bytes = 0;
  req.on("data", (chunk) => (bytes += chunk.length));
  req.on("end", () => {
    if (req.headers["x-explode"]) res.setHeader("x-explode", "1");
    res.end("got " + bytes);
  });
});
export const ws = app.function({ maxContainers: 1, concurrency: { maxInputs: 1 } }).webServer({}, ({ port }) => {
  const server = createServer((_req, res) => res.end("plain"));
  new WebSocketServer({ server }).on("connection", (socket) => socket.on("message", (data) => socket.send(String(data))));
  server.listen(port, "0.0.0.0");
});
`,
);
const bundle = await bundleApp(file);
const token = server.bootstrapToken ?? server.sessionToken ?? "";
const client = new ApiClient(server.url, undefined, token);
await client.uploadBlob(bundle.hash, bundle.code);
const result = await client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {});
const url = (name: string) => result.functions.find((fn) => fn.name === name)!.url;
console.log(JSON.stringify({ url: url("echo"), wsUrl: url("ws"), port: server.port, token }));

process.stdin.on("data", (data) => {
  if (String(data).includes("outside")) {
    setTimeout(() => {
      throw new Error("a fault outside any request");
    }, 1);
  }
});
