/**
 * The gateway's WebSocket relay against a raw `ws` server behind
 * `webServer`: text and binary messages, subprotocols, the 2 MiB limit (1009
 * either way), no permessage-deflate, one connection = one input against
 * maxInputs, idle connections closed at the function's timeout, 1001 on
 * redeploy and app stop, garbage frames, refused upgrades, and clients that
 * vanish.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test, type TestContext } from "node:test";
import { request, startPlatform, tempApp, type TestPlatform } from "./support/platform.js";
import { closed, connectWs, nextMessage, refusedUpgrade, roundTrip } from "./support/websocket.js";

const MIB = 1024 * 1024;

const WS_APP = `
import { createServer } from "node:http";
import { App } from "berthjs";
import { WebSocketServer } from "ws";

const app = new App("wsraw");
let open = 0;
const closes: number[] = [];
const extensions: (string | null)[] = [];

function start({ port }: { port: number }) {
  const http = createServer((_req, res) => res.end(JSON.stringify({ open, closes, extensions })));
  const wss = new WebSocketServer({ server: http, path: "/ws", maxPayload: 64 * 1024 * 1024, handleProtocols: (offered) => (offered.has("chat") ? "chat" : false) });
  wss.on("connection", (ws, req) => {
    open += 1;
    extensions.push(req.headers["sec-websocket-extensions"] ?? null);
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? "" : data.toString();
      if (text === "die") process.exit(1);
      if (text.startsWith("big:")) ws.send(Buffer.alloc(Number(text.slice(4)), 97), { binary: true });
      else ws.send(data as Buffer, { binary: isBinary });
    });
    ws.on("close", (code) => {
      open -= 1;
      closes.push(code);
    });
  });
  http.listen(port, "0.0.0.0");
}

export const echo = app.function({ concurrency: { maxInputs: 100 } }).webServer({}, start);
export const single = app.function({ concurrency: { maxInputs: 1 }, maxContainers: 1 }).webServer({}, start);
export const brief = app.function({ timeout: 1, concurrency: { maxInputs: 10 } }).webServer({}, start);
export const plain = app.function().webEndpoint(() => "no sockets here");
`;

async function deployWs(t: TestContext): Promise<{ platform: TestPlatform; file: string; url: (name: string) => string }> {
  const platform = await startPlatform(t);
  const file = tempApp(t, "ws.ts", WS_APP);
  const result = await platform.deploy(file);
  return { platform, file, url: (name) => platform.url(result, name) };
}

async function serverView(url: string): Promise<{ open: number; closes: number[]; extensions: (string | null)[] }> {
  return (await (await request(url)).json()) as { open: number; closes: number[]; extensions: (string | null)[] };
}

async function eventually(probe: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 150; i += 1) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function inFlight(platform: TestPlatform, fn: string): { inFlight: number; queued: number } {
  const stats = platform.server.platform.stats("test", "wsraw").find((s) => s.function === fn)!;
  return stats.pools.reduce((sum, pool) => ({ inFlight: sum.inFlight + pool.inFlight, queued: sum.queued + pool.queued }), { inFlight: 0, queued: 0 });
}

test("relays text, binary and subprotocols; 2 MiB passes, larger closes with 1009 both ways; no permessage-deflate", async (t) => {
  const { url } = await deployWs(t);
  const ws = await connectWs(t, `${url("echo")}ws?room=1`, { perMessageDeflate: true }, ["chat", "other"]);
  assert.equal(ws.protocol, "chat");
  assert.equal(ws.extensions, "", "the gateway must not negotiate permessage-deflate");
  assert.equal(await roundTrip(ws, "hello"), "hello");
  const exact = Buffer.alloc(2 * MIB, 7);
  ws.send(exact);
  const back = await nextMessage(ws);
  assert.equal(back.isBinary, true);
  assert.equal(back.data.length, 2 * MIB);
  assert.ok(back.data.equals(exact));

  const tooBig = closed(ws);
  ws.send(Buffer.alloc(2 * MIB + 1));
  assert.equal((await tooBig).code, 1009);

  const ws2 = await connectWs(t, `${url("echo")}ws`);
  const fromApp = closed(ws2);
  ws2.send(`big:${2 * MIB + 1}`);
  assert.equal((await fromApp).code, 1009, "an oversized message from the app closes the client with 1009");

  const view = await serverView(url("echo"));
  assert.deepEqual(view.extensions, [null, null], "the container is never offered permessage-deflate");
  await eventually(async () => (await serverView(url("echo"))).closes.filter((code) => code === 1009).length === 2, "the app to see both 1009 closes");
});

test("each open connection is one input against maxInputs; a vanished client or container releases its slot", async (t) => {
  const { platform, url } = await deployWs(t);
  const first = await connectWs(t, `${url("single")}ws`);
  assert.equal(await roundTrip(first, "a"), "a");
  let secondOpen = false;
  const second = connectWs(t, `${url("single")}ws`).then((ws) => {
    secondOpen = true;
    return ws;
  });
  await eventually(() => inFlight(platform, "single").queued === 1, "the second connection to queue");
  assert.equal(secondOpen, false);
  assert.equal(inFlight(platform, "single").inFlight, 1);
  first.terminate();
  const ws2 = await second;
  assert.equal(await roundTrip(ws2, "b"), "b");
  const crashed = closed(ws2);
  ws2.send("die");
  assert.deepEqual(await crashed, { code: 1011, reason: "the function's container closed the connection abnormally" });
  await eventually(() => inFlight(platform, "single").inFlight === 0, "the slots to be released");
});

test("an idle connection is closed with 1001 at the function's timeout", async (t) => {
  const { url } = await deployWs(t);
  const ws = await connectWs(t, `${url("brief")}ws`);
  assert.equal(await roundTrip(ws, "x"), "x");
  const result = await closed(ws);
  assert.equal(result.code, 1001);
  assert.equal(result.reason, "idle timeout");
});

test("redeploy and app stop close open sockets with 1001", async (t) => {
  const { platform, file, url } = await deployWs(t);
  const ws = await connectWs(t, `${url("echo")}ws`);
  assert.equal(await roundTrip(ws, "before"), "before");
  const onRedeploy = closed(ws);
  await platform.deploy(file);
  assert.equal((await onRedeploy).code, 1001);

  const ws2 = await connectWs(t, `${url("echo")}ws`);
  assert.equal(await roundTrip(ws2, "new version"), "new version");
  const onStop = closed(ws2);
  await platform.client.stopApp("wsraw");
  assert.equal((await onStop).code, 1001);
});

/** Opens a WebSocket by hand on a raw socket, sends `frame`, and returns the code of the close frame the gateway answers with. */
async function closeCodeAfterRawFrame(t: TestContext, target: URL, frame: Buffer): Promise<number> {
  const socket = connect({ host: "127.0.0.1", port: Number(target.port) });
  t.after(() => socket.destroy());
  let received = Buffer.alloc(0);
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  socket.on("error", () => {});
  socket.write(
    `GET /ws HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  await eventually(() => received.includes("\r\n\r\n"), "the handshake response");
  assert.match(received.toString("latin1"), /^HTTP\/1\.1 101 /);
  const headerEnd = received.indexOf("\r\n\r\n") + 4;
  socket.write(frame);
  await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  const frames = received.subarray(headerEnd);
  assert.equal(frames[0], 0x88, "a close frame");
  return frames.readUInt16BE(2);
}

test("garbage frames are answered with 1002, invalid UTF-8 with 1007, and the slots are released; refused and malformed upgrades get HTTP errors", async (t) => {
  const { platform, url } = await deployWs(t);
  const target = new URL(url("echo"));
  // An unmasked frame with all RSV bits and a reserved opcode: three protocol errors in one byte.
  assert.equal(await closeCodeAfterRawFrame(t, target, Buffer.from([0xff, 0x05, 1, 2, 3, 4, 5])), 1002);
  // A masked (zero key) final text frame whose two bytes are not UTF-8.
  assert.equal(await closeCodeAfterRawFrame(t, target, Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe])), 1007);
  await eventually(() => inFlight(platform, "echo").inFlight === 0, "the garbage connection's slot to be released");

  const wrongPath = await refusedUpgrade(t, `${url("echo")}nope`);
  assert.equal(wrongPath.status, 400, "the app's own refusal reaches the client");
  assert.ok(wrongPath.headers["berth-request-id"]);

  const simple = await refusedUpgrade(t, url("plain"));
  assert.equal(simple.status, 400);
  assert.match((JSON.parse(simple.body) as { error: { message: string } }).error.message, /Simple endpoints .* do not accept WebSockets/);
  assert.equal(platform.server.platform.stats("test", "wsraw").find((s) => s.function === "plain")!.pools.length, 0, "no container was started");

  const unknown = await refusedUpgrade(t, `http://test--nothing-here.localhost:${target.port}/ws`);
  assert.equal(unknown.status, 404);
  assert.equal((JSON.parse(unknown.body) as { error: { code: string } }).error.code, "unknown_host");

  const malformed = connect({ host: "127.0.0.1", port: Number(target.port) });
  t.after(() => malformed.destroy());
  let reply = "";
  malformed.on("data", (chunk: Buffer) => (reply += chunk.toString()));
  malformed.on("error", () => {});
  malformed.write(`GET /ws HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await eventually(() => reply.includes("\r\n\r\n"), "a reply to the malformed handshake");
  assert.match(reply, /^HTTP\/1\.1 400 /);

  // An upgrade to another protocol (curl --http2 sends h2c) is served as the plain request it also is.
  const h2c = connect({ host: "127.0.0.1", port: Number(target.port) });
  t.after(() => h2c.destroy());
  let plain = "";
  const h2cDone = new Promise<void>((resolve) => h2c.once("close", () => resolve()));
  h2c.on("data", (chunk: Buffer) => (plain += chunk.toString()));
  h2c.on("error", () => {});
  h2c.write(`GET /status HTTP/1.1\r\nHost: ${target.host}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`);
  await Promise.race([h2cDone, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  assert.match(plain, /^HTTP\/1\.1 200 /);
  assert.match(plain, /"open":\d+/);

  // The gateway is unharmed.
  const ws = await connectWs(t, `${url("echo")}ws`);
  assert.equal(await roundTrip(ws, "still fine"), "still fine");
});

test("a pool that cannot give a container answers an upgrade exactly as it answers plain HTTP", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "broken.ts",
    `import { App } from "berthjs";
const app = new App("wsbroken");
export const f = app.function().fetchApp(() => { throw new Error("no database"); });
`,
  );
  const url = platform.url(await platform.deploy(file), "f");
  const http = await request(url);
  const httpBody = (await http.json()) as { error: { code: string; message: string } };
  const upgrade = await refusedUpgrade(t, url);
  const wsBody = JSON.parse(upgrade.body) as { error: { code: string; message: string } };
  assert.equal(http.status, 503);
  assert.equal(upgrade.status, 503);
  assert.equal(wsBody.error.code, "startup_failed");
  assert.equal(wsBody.error.code, httpBody.error.code);
  assert.equal(wsBody.error.message, httpBody.error.message);
  assert.match(wsBody.error.message, /no database/);
  assert.equal(upgrade.headers["retry-after"], http.headers.get("retry-after"), "the same Retry-After (the backoff's remaining seconds)");
  assert.ok(upgrade.headers["berth-request-id"], "the upgrade's answer carries a request id too");
});
