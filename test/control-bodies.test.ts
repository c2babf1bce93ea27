/**
 * The control API's bodies against a real `berth server` process: every
 * body is limited before it is read. A 600 MiB chunked bundle upload is cut
 * at the 256 MiB limit with a 413 while the server's memory stays flat and
 * no partial file survives; uploads are hashed as they arrive (422 on a
 * mismatch, nothing stored); a JSON body over 1 MiB is a 413 whether
 * declared or chunked, and one that is not declared JSON is a 415.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { berth, tempHome } from "./support/cli.js";
import { request } from "./support/platform.js";
import { chunkedUpload, exchange, rssOf, statusOf } from "./support/raw-http.js";

const MIB = 1024 * 1024;

async function startServer(t: Parameters<typeof berth>[0]) {
  const home = tempHome(t);
  const server = berth(t, ["server", "--port", "0", "--log-level", "warn"], { BERTH_HOME: home });
  const [, port] = await server.waitFor(/listening on http:\/\/localhost:(\d+)/);
  const [token] = await server.waitFor(/bt_[0-9a-f]{16}_\S+/);
  return { home, port: Number(port), token: token!, pid: server.child.pid! };
}

function blobFiles(home: string): string[] {
  return readdirSync(join(home, "blobs", "sha256"));
}

test("a 600 MiB chunked upload is cut at the limit with 413; the server's memory stays flat; nothing partial survives", { timeout: 120_000 }, async (t) => {
  const { home, port, token, pid } = await startServer(t);
  const before = rssOf(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 20);
  t.after(() => clearInterval(sampler));
  const hash = "a".repeat(64);
  const upload = chunkedUpload(
    port,
    `PUT /api/blobs/${hash} HTTP/1.1\r\nHost: localhost:${port}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n`,
    600 * MIB,
  );
  const answer = await upload.answer;
  await upload.closed;
  clearInterval(sampler);
  assert.equal(statusOf(answer), 413, answer.slice(0, 300));
  assert.match(answer, /"code":"payload_too_large"/);
  assert.match(answer, /connection: close/i);
  assert.ok(upload.sent() < 600 * MIB, `the client was stopped before sending everything (${upload.sent() / MIB} MiB sent)`);
  const grown = (peak - before) / MIB;
  // Buffering the body would take the server past 256 MiB (the reported attack: 125 MB → 1.99 GB).
  assert.ok(grown < 96, `server RSS grew by ${grown.toFixed(1)} MiB (from ${(before / MIB).toFixed(0)} MiB)`);
  assert.deepEqual(blobFiles(home), [], "no partial file is left");
  t.diagnostic(`server RSS ${(before / MIB).toFixed(0)} MiB before, peak ${(peak / MIB).toFixed(0)} MiB during a 600 MiB chunked upload`);
});

test("uploads are hashed as they arrive: a mismatch is 422 and stores nothing; a good one is stored; a declared oversize is 413 unread", { timeout: 60_000 }, async (t) => {
  const { home, port, token } = await startServer(t);
  const auth = { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" };
  const data = Buffer.from("export default 1;\n");
  const hash = createHash("sha256").update(data).digest("hex");
  const wrong = await request(`http://localhost:${port}/api/blobs/${"b".repeat(64)}`, { method: "PUT", headers: auth, body: data });
  assert.equal(wrong.status, 422);
  const body = (await wrong.json()) as { error: { code: string; issues: { loc: string[] }[] } };
  assert.equal(body.error.code, "invalid_input");
  assert.deepEqual(body.error.issues[0]?.loc, ["path", "hash"]);
  assert.deepEqual(blobFiles(home), []);
  const malformed = await request(`http://localhost:${port}/api/blobs/not-a-hash`, { method: "PUT", headers: auth, body: data });
  assert.equal(malformed.status, 422);

  const good = await request(`http://localhost:${port}/api/blobs/${hash}`, { method: "PUT", headers: auth, body: data });
  assert.equal(good.status, 201);
  assert.deepEqual(blobFiles(home), [hash]);

  const declared = await exchange(
    port,
    `PUT /api/blobs/${hash} HTTP/1.1\r\nHost: localhost:${port}\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${300 * MIB}\r\n\r\n${"x".repeat(1000)}`,
  );
  assert.equal(statusOf(declared.text), 413);
  assert.ok(declared.closed, "the connection is closed rather than the body drained");

  // A client that goes away mid-upload leaves nothing behind either.
  const cut = chunkedUpload(
    port,
    `PUT /api/blobs/${"c".repeat(64)} HTTP/1.1\r\nHost: localhost:${port}\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\n\r\n`,
    1024 * MIB,
  );
  while (cut.sent() < 8 * MIB) await new Promise((resolve) => setTimeout(resolve, 10));
  cut.socket.destroy();
  for (let i = 0; i < 100 && blobFiles(home).length > 1; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(blobFiles(home), [hash], "the cut upload's temporary file is gone");
});

test("JSON bodies: over 1 MiB is 413 before parsing (declared or chunked, read at once or late); not declared JSON is 415; the limit leaves room for real requests", { timeout: 60_000 }, async (t) => {
  const { port, token } = await startServer(t);
  const url = `http://localhost:${port}/api/tokens`;
  const declared = await exchange(
    port,
    `POST /api/tokens HTTP/1.1\r\nHost: localhost:${port}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${150 * 1000 * 1000}\r\n\r\n{"name":"`,
  );
  assert.equal(statusOf(declared.text), 413);
  assert.match(declared.text, /JSON bodies are limited to 1048576 bytes/);
  assert.ok(declared.closed);

  const chunked = chunkedUpload(
    port,
    `POST /api/tokens HTTP/1.1\r\nHost: localhost:${port}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
    150 * MIB,
  );
  assert.equal(statusOf(await chunked.answer), 413);
  await chunked.closed;
  assert.ok(chunked.sent() < 20 * MIB, `stopped early: ${chunked.sent() / MIB} MiB sent`);
  // A client that keeps writing and reads the answer only later gets it too: the close lingers before the reset.
  const deaf = chunkedUpload(
    port,
    `POST /api/tokens HTTP/1.1\r\nHost: localhost:${port}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
    150 * MIB,
    { deafMs: 500 },
  );
  const deafAnswer = await deaf.answer;
  assert.equal(statusOf(deafAnswer), 413, `the answer was lost to the reset: ${JSON.stringify(deafAnswer.slice(0, 200))}`);
  await deaf.closed;

  const plain = await request(url, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" }, body: '{"kind":"api"}' });
  assert.equal(plain.status, 415);
  assert.equal(((await plain.json()) as { error: { code: string } }).error.code, "unsupported_media_type");

  const fine = await request(url, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: '{"kind":"api"}' });
  assert.equal(fine.status, 201);
});
