/**
 * What a hostile client can send the gateway: oversized and endless bodies,
 * oversized and slow heads, header floods, smuggling-shaped messages. Raw
 * sockets, because well-behaved clients cannot send most of these. Limits
 * are set small so each case is quick.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { Readable } from "node:stream";
import { test, type TestContext } from "node:test";
import { request as undiciRequest } from "undici";
import { loopback, request, startPlatform, tempApp, type TestPlatform } from "./support/platform.js";

const LIMITS = {
  maxBodyBytes: 1024 * 1024,
  maxHeaderBytes: 4096,
  maxHeaderCount: 30,
  headersTimeoutMs: 300,
  timeoutCheckIntervalMs: 100,
  bodyIdleTimeoutMs: 1000,
};

const COUNTER_APP = `
import { App } from "berthjs";
const app = new App("sink");
// Counts the body it receives and says which path it saw.
export const count = app.function({ concurrency: { maxInputs: 10 } }).nodeApp(() => (req, res) => {
  let bytes = 0;
  req.on("data", (chunk) => (bytes += chunk.length));
  req.on("end", () => res.end(JSON.stringify({ path: req.url, bytes })));
});
// Reads nothing for 2 s (past the 1 s idle limit): the gateway holds the client back, which is not the client stalling.
export const slowReader = app.function().nodeApp(() => (req, res) => {
  req.pause();
  setTimeout(() => {
    let bytes = 0;
    req.on("data", (chunk) => (bytes += chunk.length));
    req.on("end", () => res.end(JSON.stringify({ bytes })));
    req.resume();
  }, 2000);
});
`;

async function setup(t: TestContext): Promise<{ platform: TestPlatform; url: URL; port: number; slowReader: string }> {
  const platform = await startPlatform(t, { limits: LIMITS });
  const result = await platform.deploy(tempApp(t, "sink.ts", COUNTER_APP));
  const url = new URL(platform.url(result, "count"));
  return { platform, url, port: Number(url.port), slowReader: platform.url(result, "slowReader") };
}

async function coldStarts(platform: TestPlatform): Promise<number> {
  const stats = (await platform.client.stats("sink")) as { functions: { pools: { coldStarts: number }[] }[] };
  return stats.functions.flatMap((fn) => fn.pools).reduce((sum, pool) => sum + pool.coldStarts, 0);
}

interface RawExchange {
  /** Everything the gateway sent back. */
  text: string;
  /** Whether the gateway closed the connection (rather than our timeout). */
  closed: boolean;
}

/**
 * Sends `chunks` (with `gapMs` between them, and then `keepSending` forever
 * if given) and collects the answer until the gateway closes or `waitMs`.
 * With `deafMs`, reads nothing for that long: a client busy writing its
 * upload that only then looks for the answer (most do).
 */
function raw(port: number, chunks: string[], options: { waitMs?: number; gapMs?: number; keepSending?: string; deafMs?: number } = {}): Promise<RawExchange> {
  const { waitMs = 3000, gapMs = 0, keepSending, deafMs = 0 } = options;
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    if (deafMs > 0) {
      socket.pause();
      setTimeout(() => socket.resume(), deafMs);
    }
    let text = "";
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(pump);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    let pump: NodeJS.Timeout | undefined;
    socket.on("data", (data) => (text += data.toString("latin1")));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
    socket.on("connect", async () => {
      for (const chunk of chunks) {
        if (done) return;
        socket.write(chunk);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
      if (keepSending) pump = setInterval(() => !done && socket.writable && socket.write(keepSending), 1);
    });
  });
}

function statusOf(exchange: RawExchange): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(exchange.text)?.[1] ?? 0);
}

function responses(exchange: RawExchange): number {
  return exchange.text.match(/HTTP\/1\.1 \d{3}/g)?.length ?? 0;
}

test("declared body over the limit: 413 before a container starts, also with Expect: 100-continue", async (t) => {
  const { platform, url, port } = await setup(t);
  const host = url.host;
  const declared = await raw(port, [`POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${LIMITS.maxBodyBytes + 1}\r\n\r\n`, "x".repeat(1000)]);
  assert.equal(statusOf(declared), 413);
  assert.match(declared.text, /"code":"payload_too_large"/);
  assert.match(declared.text, /connection: close/i);
  assert.ok(declared.closed);

  const expect = await raw(port, [`PUT / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5000000000\r\nExpect: 100-continue\r\n\r\n`]);
  assert.equal(statusOf(expect), 413, "answered without 100 Continue");
  assert.doesNotMatch(expect.text, /100 Continue/);
  assert.equal(await coldStarts(platform), 0);

  // Within the limit, Expect: 100-continue gets its 100 and the body goes through.
  const body = "y".repeat(1000);
  const fine = await raw(port, [`PUT /ok HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`, body]);
  assert.match(fine.text, /^HTTP\/1\.1 100 Continue/);
  assert.match(fine.text, /\{"path":"\/ok","bytes":1000\}/);

  // The control API's uploads get their 100 Continue too.
  const hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  const upload = await raw(port, [`PUT /api/blobs/${hello} HTTP/1.1\r\nHost: localhost:${port}\r\nAuthorization: Bearer ${platform.token}\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`, "hello"]);
  assert.match(upload.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /);
});

test("chunked body over the limit: 413 and the connection closes; an endless body is cut off", async (t) => {
  const { url, port } = await setup(t);
  const response = await undiciRequest(url, {
    method: "POST",
    dispatcher: loopback,
    body: Readable.from(
      (function* () {
        const chunk = Buffer.alloc(64 * 1024, 1);
        for (let i = 0; i < 32; i++) yield chunk; // 2 MiB, no Content-Length
      })(),
    ),
  }).catch((error: Error) => error);
  if (!(response instanceof Error)) {
    assert.equal(response.statusCode, 413);
    assert.equal(((await response.body.json()) as { error: { code: string } }).error.code, "payload_too_large");
  } else {
    // Some clients see the reset before the answer; the raw case below checks the answer itself.
    assert.match(response.message, /closed|reset|socket/i);
  }

  const endless = await raw(port, [`POST / HTTP/1.1\r\nHost: ${url.host}\r\nTransfer-Encoding: chunked\r\n\r\n`], {
    keepSending: `4000\r\n${"z".repeat(0x4000)}\r\n`,
    waitMs: 10_000,
  });
  assert.equal(statusOf(endless), 413, endless.text);
  assert.ok(endless.closed, "the gateway closed the connection of an endless body");

  // A client that still writes its body and reads the answer only later gets it too: the gateway lingers before the reset.
  const deaf = await raw(port, [`POST / HTTP/1.1\r\nHost: ${url.host}\r\nTransfer-Encoding: chunked\r\n\r\n`], {
    keepSending: `4000\r\n${"z".repeat(0x4000)}\r\n`,
    deafMs: 500,
    waitMs: 10_000,
  });
  assert.equal(statusOf(deaf), 413, `the answer was lost to the reset: ${JSON.stringify(deaf.text)}`);
  assert.ok(deaf.closed);

  // Within the limit, chunked bodies arrive whole.
  const ok = await request(url.href, {
    method: "POST",
    body: (async function* () {
      for (let i = 0; i < 8; i++) yield Buffer.alloc(1000, 2);
    })(),
    duplex: "half",
  });
  assert.deepEqual(await ok.json(), { path: "/", bytes: 8000 });
});

test("a body that stalls is cut with 408; a slow but steady body and a slow reader are not", async (t) => {
  const { url, port, slowReader } = await setup(t);
  const stalled = await raw(port, [`POST / HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 1000\r\n\r\n`, "x".repeat(10)], { waitMs: 5000 });
  assert.equal(statusOf(stalled), 408);
  assert.match(stalled.text, /No part of the request body arrived for 1 s/);
  assert.ok(stalled.closed);

  // 10 bytes every 100 ms (a tenth of the 1 s idle limit) for about 1 s: slow, but never idle.
  const pieces = Array.from({ length: 10 }, () => "y".repeat(10));
  const steady = await raw(port, [`POST /steady HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n`, ...pieces], { gapMs: 100, waitMs: 8000 });
  assert.match(steady.text, /^HTTP\/1\.1 200 /);
  assert.match(steady.text, /\{"path":"\/steady","bytes":100\}/);

  const size = LIMITS.maxBodyBytes;
  const slow = await request(slowReader, { method: "POST", body: Buffer.alloc(size, 3) });
  assert.equal(slow.status, 200);
  assert.deepEqual(await slow.json(), { bytes: size });
});

test("oversized heads get 431, header floods get 431, slow heads are cut with 408", async (t) => {
  const { platform, url, port } = await setup(t);
  const big = await raw(port, [`GET / HTTP/1.1\r\nHost: ${url.host}\r\nX-Big: ${"a".repeat(8000)}\r\n\r\n`]);
  assert.equal(statusOf(big), 431);
  assert.ok(big.closed);

  const flood = Array.from({ length: 40 }, (_, i) => `X-H${i}: v\r\n`).join("");
  const flooded = await raw(port, [`GET / HTTP/1.1\r\nHost: ${url.host}\r\n${flood}\r\n`]);
  assert.equal(statusOf(flooded), 431);
  assert.match(flooded.text, /"code":"headers_too_large"/);

  // One header line every 100 ms: the head is not complete within 300 ms.
  const lines = Array.from({ length: 30 }, (_, i) => `X-Slow${i}: v\r\n`);
  const slow = await raw(port, [`GET / HTTP/1.1\r\nHost: ${url.host}\r\n`, ...lines], { gapMs: 100, waitMs: 5000 });
  assert.equal(statusOf(slow), 408);
  assert.ok(slow.closed, "a slow client is disconnected");
  assert.equal(await coldStarts(platform), 0);
});

test("smuggling-shaped messages get 400, the connection closes, and nothing behind them is served", async (t) => {
  const { platform, url, port } = await setup(t);
  const host = url.host;
  const smuggled = `GET /smuggled HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
  const cases = {
    "CL and TE": `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    "TE and CL": `POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${smuggled}`,
    "two lengths": `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n${smuggled}`,
    "obfuscated TE": `POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${smuggled}`,
    "TE chunked twice": `POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    "space before colon": `POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    "two hosts": `GET / HTTP/1.1\r\nHost: ${host}\r\nHost: other--app.localhost\r\nConnection: close\r\n\r\n`,
  };
  for (const [what, message] of Object.entries(cases)) {
    const exchange = await raw(port, [message]);
    assert.equal(statusOf(exchange), 400, what);
    assert.equal(responses(exchange), 1, `${what}: only one answer`);
    assert.match(exchange.text, /"code":"bad_request"/, what);
    assert.ok(exchange.closed, `${what}: the connection closes`);
  }
  assert.equal(await coldStarts(platform), 0, "no refused message reached a container");

  // A malformed chunk inside an accepted request: 400 and close, the smuggled request is never answered.
  const malformed = await raw(port, [`POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n\r\n${smuggled}`]);
  assert.ok(malformed.closed);
  assert.doesNotMatch(malformed.text, /smuggled/);
  assert.ok(statusOf(malformed) === 400 || statusOf(malformed) === 0, malformed.text);
});
