/**
 * WebSocket upgrades that fail, through the real server: every failure
 * after a container slot was taken gives it back, so no number of failed
 * upgrades can jam a function. Malformed `Sec-WebSocket-Protocol` lists
 * (issue 9: `a, a` used to throw after the lease and keep it forever) are
 * refused before the queue; a container that never answers the upgrade, one
 * that closes mid-handshake and one that answers with a malformed head all
 * end in 502 with the slot released.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test, type TestContext } from "node:test";
import { request, startPlatform, tempApp, type TestPlatform } from "./support/platform.js";
import { waitFor } from "./support/wait.js";
import { connectWs, roundTrip } from "./support/websocket.js";

const APP = `
import { createServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { App } from "berthjs";
import { WebSocketServer } from "ws";

const app = new App("wsfail");

/** A ws echo server that picks the first subprotocol offered. */
function echo({ port }: { port: number }) {
  const http = createServer((_req, res) => res.end("plain ok"));
  new WebSocketServer({ server: http, handleProtocols: (offered) => offered.values().next().value ?? false })
    .on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })));
  http.listen(port, "0.0.0.0");
}

/** Plain requests get "plain ok"; an upgrade gets \`onUpgrade\`'s treatment. */
function raw(onUpgrade: (socket: import("node:net").Socket) => void) {
  return ({ port }: { port: number }) => {
    createTcpServer((socket) => {
      let buffered = "";
      socket.on("error", () => {});
      socket.on("data", (data) => {
        buffered += data.toString("latin1");
        const end = buffered.indexOf("\\r\\n\\r\\n");
        if (end < 0) return;
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        if (/^upgrade: websocket$/im.test(head)) onUpgrade(socket);
        else socket.write("HTTP/1.1 200 OK\\r\\nContent-Length: 8\\r\\n\\r\\nplain ok");
      });
    }).listen(port, "0.0.0.0");
  };
}

const one = { maxContainers: 1, concurrency: { maxInputs: 1 } };
export const chat = app.function({ maxContainers: 2, concurrency: { maxInputs: 1 } }).webServer({}, echo);
export const silent = app.function({ ...one, timeout: 2 }).webServer({}, raw(() => {}));
export const hangup = app.function(one).webServer({}, raw((socket) => {
  socket.write("HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\n");
  socket.destroy();
}));
export const badhead = app.function(one).webServer({}, raw((socket) => {
  socket.end("HTTP/1.1 403 Forbidden\\r\\nX-Reason: no\\x01pe\\r\\nContent-Length: 0\\r\\n\\r\\n");
}));
// A refusal whose header carries UTF-8 bytes (above 0x7f, which HTTP allows as obs-text).
export const utf8refusal = app.function(one).webServer({}, raw((socket) => {
  socket.end(Buffer.from("HTTP/1.1 403 Forbidden\\r\\nX-Reason: refus\u00e9\\r\\nContent-Length: 0\\r\\n\\r\\n"));
}));
`;

async function deploy(t: TestContext): Promise<{ platform: TestPlatform; url: (fn: string) => string }> {
  const platform = await startPlatform(t, { rateLimit: null });
  const result = await platform.deploy(tempApp(t, "wsfail.ts", APP));
  return { platform, url: (fn) => platform.url(result, fn) };
}

/** A plain GET, bounded: a slot leaked by a failed upgrade would make it wait in the queue forever. */
async function plain(url: string): Promise<string> {
  return (await request(url, { signal: AbortSignal.timeout(20_000) })).text();
}

function inFlight(platform: TestPlatform, fn: string): number {
  const stats = platform.server.platform.stats("test", "wsfail").find((s) => s.function === fn)!;
  return stats.pools.reduce((sum, pool) => sum + pool.inFlight, 0);
}

/** Sends a raw upgrade request (the ws client refuses to send malformed ones) and returns the status line and body. */
async function rawUpgrade(t: TestContext, url: string, extraHeaders: string[]): Promise<{ status: number; text: string; ms: number }> {
  const target = new URL(url);
  const socket = connect({ host: "127.0.0.1", port: Number(target.port) });
  t.after(() => socket.destroy());
  socket.on("error", () => {});
  const started = performance.now();
  let text = "";
  socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
  socket.write(
    [
      `GET / HTTP/1.1`,
      `Host: ${target.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      ...extraHeaders,
      "",
      "",
    ].join("\r\n"),
  );
  await waitFor("an answer to the upgrade", () => /\r\n\r\n/.test(text) || socket.destroyed, 20_000, 20);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  return { status, text, ms: performance.now() - started };
}

test("malformed Sec-WebSocket-Protocol lists get 400 before the queue; maxContainers 2 still serves the next requests", async (t) => {
  const { platform, url } = await deploy(t);
  for (const protocols of ["a, a", "a,,b", "a b", '"a"', ",", "chat, chat, chat", "a\tb"]) {
    for (let i = 0; i < 3; i += 1) {
      const answer = await rawUpgrade(t, url("chat"), [`Sec-WebSocket-Protocol: ${protocols}`]);
      assert.equal(answer.status, 400, `${JSON.stringify(protocols)}: ${answer.text}`);
      assert.match(answer.text, /Sec-WebSocket-Protocol must be a comma-separated list of distinct tokens/);
    }
  }
  // Two header lines are one list (RFC 9110 §5.3): "a" and "a" again is a duplicate too.
  assert.equal((await rawUpgrade(t, url("chat"), ["Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: a"])).status, 400);
  assert.equal(inFlight(platform, "chat"), 0);

  // A third request, a plain one and then two sockets at once: both containers' slots are free.
  assert.equal(await plain(url("chat")), "plain ok");
  const first = await connectWs(t, url("chat"), {}, ["chat", "v2"]);
  const second = await connectWs(t, url("chat"), {}, ["v2"]);
  assert.equal(first.protocol, "chat");
  assert.equal(second.protocol, "v2");
  assert.equal(await roundTrip(first, "one"), "one");
  assert.equal(await roundTrip(second, "two"), "two");
  first.close();
  second.close();
  await waitFor("both slots released", () => inFlight(platform, "chat") === 0);
});

test("a container that never answers the upgrade: 502 at the handshake timeout, and its only slot is released", async (t) => {
  const { platform, url } = await deploy(t);
  assert.equal(await plain(url("silent")), "plain ok");
  const answer = await rawUpgrade(t, url("silent"), []);
  assert.equal(answer.status, 502, answer.text);
  assert.match(answer.text, /failed to accept the WebSocket connection/);
  // The handshake timeout is the function's timeout (2 s) here: not much sooner, not much later.
  assert.ok(answer.ms >= 1500 && answer.ms < 12_000, `answered after ${answer.ms} ms`);
  await waitFor("the slot released", () => inFlight(platform, "silent") === 0);
  // maxContainers 1, maxInputs 1: a leaked slot would make this wait forever.
  assert.equal(await plain(url("silent")), "plain ok");
});

test("an app's refusal of an upgrade reaches the client with its header bytes unchanged", async (t) => {
  const { url } = await deploy(t);
  const answer = await rawUpgrade(t, url("utf8refusal"), []);
  assert.equal(answer.status, 403, answer.text);
  // `text` is latin1, one character per byte: the two bytes of "é" in UTF-8, not four.
  assert.match(answer.text, new RegExp(`\r\nX-Reason: ${Buffer.from("refus\u00e9").toString("latin1")}\r\n`));
});

test("a container that closes mid-handshake, or answers with a malformed head: 502, slot released", async (t) => {
  const { platform, url } = await deploy(t);
  for (const fn of ["hangup", "badhead"]) {
    for (let i = 0; i < 3; i += 1) {
      const answer = await rawUpgrade(t, url(fn), []);
      assert.equal(answer.status, 502, `${fn}: ${answer.text}`);
      assert.ok(!answer.text.includes("\x01"), "the container's malformed header never reaches the client");
    }
    await waitFor(`${fn}'s slot released`, () => inFlight(platform, fn) === 0);
    assert.equal(await plain(url(fn)), "plain ok");
  }
});
