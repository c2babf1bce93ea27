/**
 * The gateway's upstream client, through the real platform: bodies streamed
 * both ways in either framing, responses that arrive piece by piece, bodyless
 * statuses, repeated headers, connection reuse, and a container that dies in
 * the middle of a response.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { test } from "node:test";
import { request as rawRequest } from "undici";
import { loopback, request, startPlatform, tempApp } from "./support/platform.js";

const APP = `import { App } from "berthjs";
import { createHash } from "node:crypto";
const app = new App("proxy");
const sockets = new Set();
let lastAborted = false;
export const raw = app.function({ concurrency: { maxInputs: 8 } }).nodeApp(() => (req, res) => {
  sockets.add(req.socket);
  const url = new URL(req.url, "http://x");
  switch (url.pathname) {
    case "/echo": {
      const hash = createHash("sha256");
      let bytes = 0;
      req.on("data", (chunk) => { bytes += chunk.length; hash.update(chunk); });
      req.on("end", () => res.end(JSON.stringify({ bytes, sha256: hash.digest("hex"), chunked: req.headers["transfer-encoding"] ?? null })));
      return;
    }
    case "/drip":
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first\\n");
      setTimeout(() => res.end("second\\n"), 400);
      return;
    case "/big": {
      const size = Number(url.searchParams.get("mb")) * 1024 * 1024;
      res.writeHead(200, { "content-length": String(size) });
      const block = Buffer.alloc(64 * 1024, 97);
      let sent = 0;
      const pump = () => {
        while (sent < size) { sent += block.length; if (!res.write(block)) return res.once("drain", pump); }
        res.end();
      };
      return pump();
    }
    case "/status":
      res.writeHead(Number(url.searchParams.get("code")), { "x-status": "yes" });
      return res.end(Number(url.searchParams.get("code")) === 200 ? "body" : undefined);
    case "/headers":
      res.setHeader("set-cookie", ["a=1; Path=/", "b=2; Path=/"]);
      return res.end(JSON.stringify(req.rawHeaders));
    case "/bytes": {
      // A header's bytes as they arrived, and one of the app's own with bytes above 0x7f (a UTF-8 file name).
      const i = req.rawHeaders.findIndex((name) => name.toLowerCase() === "x-name");
      res.writeHead(200, { "content-disposition": Buffer.from('attachment; filename="r\u00e9sum\u00e9.pdf"').toString("latin1") });
      return res.end(Buffer.from(req.rawHeaders[i + 1], "latin1").toString("hex"));
    }
    case "/sockets":
      return res.end(String(sockets.size));
    case "/dated":
      res.setHeader("date", "Tue, 01 Dec 2026 00:00:00 GMT");
      return res.end("ok");
    case "/hang-stream":
      lastAborted = false;
      res.writeHead(200);
      res.write("started\\n");
      req.on("close", () => { lastAborted = !res.writableFinished; });
      return;
    case "/last-aborted":
      return res.end(String(lastAborted));
    case "/crash":
      res.writeHead(200, { "content-length": "100" });
      res.write("partial");
      setTimeout(() => process.exit(1), 50);
      return;
    default:
      res.end("ok");
  }
});
`;

test("proxy: bodies, streaming, statuses, headers, reuse and failures", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "proxy.ts", APP)), "raw");

  await t.test("a 16 MiB body with Content-Length arrives whole", async () => {
    const body = randomBytes(16 * 1024 * 1024);
    const response = await request(`${url}echo`, { method: "POST", body });
    assert.deepEqual(await response.json(), { bytes: body.length, sha256: createHash("sha256").update(body).digest("hex"), chunked: null });
  });

  await t.test("a chunked request body is streamed as chunked", async () => {
    const parts = [randomBytes(1000), randomBytes(70_000), randomBytes(5)];
    const stream = new ReadableStream({
      async pull(controller) {
        const next = parts.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
    const response = await request(`${url}echo`, { method: "POST", body: stream as never, duplex: "half" });
    const result = (await response.json()) as { bytes: number; chunked: string };
    assert.equal(result.bytes, 71_005);
    assert.equal(result.chunked, "chunked");
  });

  await t.test("a streamed response arrives piece by piece", async () => {
    const started = Date.now();
    const response = await request(`${url}drip`);
    const reader = response.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - started;
    assert.equal(new TextDecoder().decode(first.value), "first\n");
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    assert.equal(rest, "second\n");
    assert.ok(Date.now() - started - firstAt >= 200, "the first piece came before the second was written");
  });

  await t.test("a 64 MiB response streams through", async () => {
    const response = await request(`${url}big?mb=64`);
    assert.equal(response.headers.get("content-length"), String(64 * 1024 * 1024));
    let bytes = 0;
    for await (const chunk of response.body!) bytes += chunk.length;
    assert.equal(bytes, 64 * 1024 * 1024);
  });

  await t.test("bodyless statuses and HEAD", async () => {
    for (const code of [204, 304]) {
      const response = await request(`${url}status?code=${code}`);
      assert.equal(response.status, code);
      assert.equal(response.headers.get("x-status"), "yes");
      assert.equal(await response.text(), "");
    }
    const head = await request(`${url}status?code=200`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    const after = await request(`${url}status?code=200`);
    assert.equal(await after.text(), "body");
  });

  await t.test("header bytes above 0x7f pass unchanged both ways (each byte once, not re-encoded as UTF-8)", async () => {
    const sent = Buffer.from("caf\u00e9 \u00fc \u20ac");
    const { hex, disposition } = await new Promise<{ hex: string; disposition: Buffer }>((resolve, reject) => {
      const target = new URL(`${url}bytes`);
      // node:http writes header strings as latin1, one byte per character: the bytes of `sent` go out as they are.
      const req = httpRequest({ host: "127.0.0.1", port: target.port, path: target.pathname, headers: { host: target.host, "x-name": sent.toString("latin1") } }, (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ hex: body, disposition: Buffer.from(res.headers["content-disposition"]!, "latin1") }));
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(hex, sent.toString("hex"), "the container saw the client's bytes");
    assert.equal(disposition.toString(), 'attachment; filename="r\u00e9sum\u00e9.pdf"', "the client saw the container's bytes");
  });

  await t.test("repeated request headers and several Set-Cookie headers pass unchanged", async () => {
    // undici's request(), unlike fetch, keeps repeated headers apart on both sides.
    const response = await rawRequest(`${url}headers`, { dispatcher: loopback, headers: ["x-multi", "one", "x-multi", "two", "cookie", "c=3"] });
    assert.deepEqual(response.headers["set-cookie"], ["a=1; Path=/", "b=2; Path=/"]);
    const raw = (await response.body.json()) as string[];
    const values = raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === "x-multi");
    assert.deepEqual(values, ["one", "two"]);
    assert.ok(raw.some((v, i) => i % 2 === 0 && v.toLowerCase() === "x-forwarded-for"));
  });

  await t.test("every answer has one Date: the gateway's, or the app's own when it set one", async () => {
    const plain = await rawRequest(`${url}ok`, { dispatcher: loopback });
    await plain.body.text();
    assert.equal(typeof plain.headers.date, "string", `Date: ${JSON.stringify(plain.headers.date)}`);
    assert.ok(Math.abs(Date.parse(plain.headers.date as string) - Date.now()) < 5_000);
    const dated = await rawRequest(`${url}dated`, { dispatcher: loopback });
    await dated.body.text();
    assert.equal(dated.headers.date, "Tue, 01 Dec 2026 00:00:00 GMT");
  });

  await t.test("sequential requests reuse one connection to the container", async () => {
    const before = Number(await (await request(`${url}sockets`)).text());
    for (let i = 0; i < 20; i += 1) await (await request(`${url}ok`)).text();
    const after = Number(await (await request(`${url}sockets`)).text());
    assert.ok(after - before <= 1, `${after - before} new connections for 21 sequential requests`);
  });

  await t.test("a client that goes away mid-stream aborts the request in the container", async () => {
    const controller = new AbortController();
    const response = await request(`${url}hang-stream`, { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    let aborted = "false";
    for (let i = 0; i < 50 && aborted !== "true"; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      aborted = await (await request(`${url}last-aborted`)).text();
    }
    assert.equal(aborted, "true");
  });

  await t.test("a container that dies mid-response cuts that response; the next request gets a new container", async () => {
    const response = await request(`${url}crash`);
    assert.equal(response.status, 200);
    await assert.rejects(response.text());
    const next = await request(`${url}ok`);
    assert.equal(next.status, 200);
    assert.equal(await next.text(), "ok");
  });
});
