/**
 * Shutting the server down ends within the exit grace plus 5 s whatever is
 * stuck: a request a container never answers, a WebSocket peer that never
 * answers its close frame, an `exit` hook that never returns. Once through
 * `close()` with a 1 s grace, once through `berth server` and SIGTERM (no
 * hung exit hook there: it would only make the test wait the default 30 s).
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { test, type TestContext } from "node:test";
import { berth, tempHome } from "./support/cli.js";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { alive, processesMentioning, waitFor } from "./support/wait.js";
import { closed, connectWs, roundTrip } from "./support/websocket.js";

/** `hungExit`: the hang function's exit hook never returns either. */
const stuckApp = (hungExit: boolean) => `
import { createServer } from "node:http";
import { App } from "berthjs";
import { WebSocketServer } from "ws";
const app = new App("stuck");
export const hang = app.function({
  ${hungExit ? "exit: () => new Promise(() => {})," : ""}
}).webEndpoint(async () => {
  await new Promise(() => {});
});
export const ws = app.function({ concurrency: { maxInputs: 10 } }).webServer({}, ({ port }) => {
  const server = createServer((_req, res) => res.end(String(process.pid)));
  new WebSocketServer({ server }).on("connection", (socket) => socket.on("message", (data) => socket.send(String(data))));
  server.listen(port, "0.0.0.0");
});
`;

/** A WebSocket peer that completes the handshake and then ignores everything, its close frame included. */
async function deafPeer(t: TestContext, url: string): Promise<{ socket: Socket; gone: Promise<void> }> {
  const target = new URL(url);
  const socket = connect({ host: "127.0.0.1", port: Number(target.port) });
  t.after(() => socket.destroy());
  socket.on("error", () => {});
  const gone = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  let text = "";
  socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
  socket.write(
    `GET / HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
  );
  await waitFor("the deaf peer's upgrade", () => text.startsWith("HTTP/1.1 101"), 15_000, 20);
  return { socket, gone };
}

test("close() ends within the exit grace + 5 s with a hung request, a deaf WebSocket peer and a hung exit hook", async (t) => {
  const platform = await startPlatform(t, { exitGraceMs: 1000, rateLimit: null });
  const result = await platform.deploy(tempApp(t, "stuck.ts", stuckApp(true)));
  const wsUrl = platform.url(result, "ws");
  const pid = Number(await (await request(wsUrl)).text());

  const hung = request(platform.url(result, "hang")).then(
    (response) => response.text(),
    (error: Error) => error,
  );
  await waitFor("the hung request in flight", () => platform.server.platform.stats("test", "stuck").find((s) => s.function === "hang")?.pools[0]?.inFlight === 1);
  const deaf = await deafPeer(t, wsUrl);
  const polite = await connectWs(t, wsUrl);
  assert.equal(await roundTrip(polite, "hi"), "hi");
  const politeClosed = closed(polite);

  const started = performance.now();
  await platform.server.close();
  const took = performance.now() - started;
  assert.ok(took < 1000 + 5000 + 1500, `close took ${Math.round(took)} ms`);

  assert.ok((await hung) instanceof Error, "the hung request was cut");
  assert.equal((await politeClosed).code, 1001);
  await Promise.race([deaf.gone, new Promise((_, reject) => setTimeout(() => reject(new Error("the deaf peer is still connected")), 5000))]);
  await waitFor("the containers to be gone", () => !alive(pid));
});

test("berth server exits within seconds of SIGTERM with a hung request and a deaf WebSocket peer", async (t) => {
  const home = tempHome(t);
  // --grace 1: the hung request gets a second to finish (graceful-shutdown.test.ts covers requests that do finish).
  const server = berth(t, ["server", "--port", "0", "--grace", "1"], { BERTH_HOME: home });
  const [, port] = await server.waitFor(/listening on http:\/\/localhost:(\d+)/);
  const deploy = berth(t, ["deploy", tempApp(t, "stuck.ts", stuckApp(false)), "--server", `http://127.0.0.1:${port}`, "--no-typecheck"], { BERTH_HOME: home });
  assert.equal(await deploy.exited, 0, deploy.output());
  const url = (fn: string) => deploy.output().match(new RegExp(`${fn}\\s+(http://\\S+)`))![1]!;
  assert.equal((await request(url("ws"))).status, 200);
  // The process runtime's agents name the home; sandboxes their directory, named after the server's pid.
  const containerProcesses = () => processesMentioning(home, `berth-sandboxes-${server.child.pid}-`);
  assert.ok(containerProcesses().length > 0, "the container's processes are found");

  const hung = request(url("hang")).then(
    (response) => response.text(),
    (error: Error) => error,
  );
  const deaf = await deafPeer(t, url("ws"));
  // Let the hung request reach its container.
  await new Promise((resolve) => setTimeout(resolve, 500));

  const started = performance.now();
  server.child.kill("SIGTERM");
  assert.equal(await server.exited, 0);
  const took = performance.now() - started;
  // No exit hook to wait for: the hung request (cut after the 1 s grace) and the deaf peer (cut 1 s later) are all that could hold it up.
  assert.ok(took < 10_000, `SIGTERM took ${Math.round(took)} ms`);
  assert.match(server.output(), /Shutting down/);
  assert.ok((await hung) instanceof Error, "the hung request was cut");
  await deaf.gone;
  await waitFor("the containers to be gone", () => containerProcesses().length === 0);
});
