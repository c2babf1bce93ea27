/**
 * `webServer` end to end: the document's Python file server, a Node server
 * on a hard-coded port with `PORT` in its environment, a free port per
 * container, and the failures a user must see clearly: a server that never
 * binds (startupTimeout), two replicas fighting over one port, and a server
 * that exits after starting.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { TestPlatform } from "./support/platform.js";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { sandboxTest, startSandboxPlatform } from "./support/sandbox.js";

/** A port unlikely to be taken by parallel test runs on this machine. */
function randomPort(): number {
  return 20_000 + Math.floor(Math.random() * 20_000);
}

async function logLines(platform: TestPlatform, app: string): Promise<string[]> {
  const lines: string[] = [];
  await platform.client.logs(app, {}, (entry) => lines.push(entry.line));
  return lines;
}

async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 150; i += 1) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("the document's example: python3 (from the image's aptInstall) serving / on port 8000 (sandbox runtime)", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const url = platform.url(await platform.deploy("examples/file-server.ts"), "myFileServer");
  const listing = await request(url);
  assert.equal(listing.status, 200);
  assert.match(await listing.text(), /Directory listing for \//);
  // The container's root is the image's: its /etc/hostname is the image's.
  const file = await request(`${url}etc/hostname`);
  assert.equal(file.status, 200);
  assert.equal(await file.text(), "berth\n");
});

test("a Node server on a hard-coded port gets PORT; another picks a free port per container", async (t) => {
  const platform = await startPlatform(t);
  const port = randomPort();
  const file = tempApp(
    t,
    "node-server.ts",
    `import { createServer } from "node:http";
import { App } from "berthjs";
const app = new App("nodeserver");
const serve = (port: number) =>
  createServer((req, res) => res.end(JSON.stringify({ env: process.env.PORT, port, url: req.url }))).listen(port, "0.0.0.0");
export const fixed = app.function().webServer({ port: ${port} }, () => { serve(${port}); });
export const free = app.function().webServer({}, ({ port }) => { serve(port); });
`,
  );
  const result = await platform.deploy(file);
  const fixed = await request(`${platform.url(result, "fixed")}x/y?z=1`);
  assert.equal(fixed.status, 200);
  assert.deepEqual(await fixed.json(), { env: String(port), port, url: "/x/y?z=1" });
  const free = await request(platform.url(result, "free"));
  assert.equal(free.status, 200);
  const body = (await free.json()) as { env: string; port: number };
  assert.equal(body.env, String(body.port));
  assert.ok(body.port > 0);
});

test("a server that never binds fails start-up with the bind 0.0.0.0 / startupTimeout hint", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "never.ts",
    `import { App } from "berthjs";
const app = new App("neverbinds");
export const never = app.function().webServer({ port: ${randomPort()}, startupTimeout: 1 }, () => {});
`,
  );
  const url = platform.url(await platform.deploy(file), "never");
  const response = await request(url);
  assert.equal(response.status, 503);
  const body = (await response.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "startup_failed");
  assert.match(body.error.message, /nothing accepted connections on port \d+ within 1 s/);
  assert.match(body.error.message, /listen on 0\.0\.0\.0/);
  assert.match(body.error.message, /raise startupTimeout/);
  assert.ok((await logLines(platform, "neverbinds")).some((line) => /raise startupTimeout/.test(line)));
});

test("two replicas with one hard-coded port: the second fails clearly in logs and status, traffic still served", async (t) => {
  const platform = await startPlatform(t);
  const port = randomPort();
  const file = tempApp(
    t,
    "replicas.ts",
    `import { createServer } from "node:http";
import { App } from "berthjs";
const app = new App("replicas");
export const slow = app.function().webServer({ port: ${port} }, () => {
  createServer((_req, res) => setTimeout(() => res.end("ok"), 1500)).listen(${port}, "0.0.0.0");
});
`,
  );
  const url = platform.url(await platform.deploy(file), "slow");
  assert.equal(await (await request(url)).text(), "ok");
  // One input per container: a second concurrent request asks for a second container on the same port.
  const both = await Promise.all([request(url), request(url)]);
  for (const response of both) {
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "ok");
  }
  const stats = platform.server.platform.stats("test", "replicas");
  assert.match(stats[0]!.pools[0]!.lastError ?? "", new RegExp(`port ${port} is already taken by another container`));
  assert.ok((await logLines(platform, "replicas")).some((line) => line.includes(`port ${port} is already taken`)));
});

test("a server that exits after starting is detected, reported, and replaced", async (t) => {
  const platform = await startPlatform(t);
  const port = randomPort();
  const file = tempApp(
    t,
    "exits.ts",
    `import { createServer } from "node:http";
import { App } from "berthjs";
const app = new App("exits");
export const quitter = app.function().webServer({ port: ${port} }, () => {
  const server = createServer((req, res) => {
    res.end(String(process.pid));
    if (req.url === "/exit") setTimeout(() => { server.close(); server.closeAllConnections(); }, 10);
  }).listen(${port}, "0.0.0.0");
});
`,
  );
  const url = platform.url(await platform.deploy(file), "quitter");
  const first = await (await request(`${url}exit`)).text();
  const lastError = await eventually(() => platform.server.platform.stats("test", "exits")[0]!.pools[0]!.lastError, "the exit to be reported");
  assert.match(lastError, /exited unexpectedly/);
  assert.ok((await logLines(platform, "exits")).some((line) => line.includes(`the web server on port ${port} stopped accepting connections`)));
  const again = await request(url);
  assert.equal(again.status, 200);
  assert.notEqual(await again.text(), first, "a new container answers");
});
