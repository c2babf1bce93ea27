/**
 * Strangers trying to make the server start containers without bound,
 * against a real platform with small caps: requests with ever new parameter
 * values, and bodies trickled a byte at a time. At the cap no container
 * starts; the requests that wait get 503 `at_capacity` after the wait; a
 * body that has not arrived in time is cut with 408, which frees its
 * container; a workspace's own cap holds below the server's.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test, type TestContext } from "node:test";
import { berth, tempHome } from "./support/cli.js";
import { request, startPlatform, tempApp, type TestPlatform } from "./support/platform.js";
import { statusOf } from "./support/raw-http.js";

const APP = `
import { App } from "berthjs";
import { z } from "zod";
const app = new App("hungry");
// Each distinct ?v= is a parameter set with its own pool; each call holds its container for 3 s.
export const param = app.function({ params: z.object({ v: z.string() }) }).webEndpoint(async ({ params }) => {
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return params.v;
});
// Reads the whole body before answering.
export const upload = app.function({ maxContainers: 50 }).nodeApp(() => (req, res) => {
  let bytes = 0;
  req.on("data", (chunk) => (bytes += chunk.length));
  req.on("end", () => res.end(String(bytes)));
});
`;

/** Live containers of the app now (starting, ready and draining, every pool). */
async function live(platform: TestPlatform): Promise<{ live: number; coldStarts: number }> {
  const { functions } = await platform.client.stats("hungry");
  let count = 0;
  let coldStarts = 0;
  for (const pool of functions.flatMap((fn) => fn.pools)) {
    count += pool.starting + pool.ready + pool.draining;
    coldStarts += pool.coldStarts;
  }
  return { live: count, coldStarts };
}

/** Polls the live containers while `work` runs; resolves with the most seen at once. */
async function peakWhile(platform: TestPlatform, work: Promise<unknown>): Promise<number> {
  let peak = 0;
  let done = false;
  void work.finally(() => (done = true));
  while (!done) {
    peak = Math.max(peak, (await live(platform)).live);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return peak;
}

async function setup(t: TestContext) {
  const platform = await startPlatform(t, {
    maxContainers: 3,
    // Waiters give up (1 s) well before a trickler's container is freed (3 s), so who gets what does not race.
    capacityWaitMs: 1000,
    limits: { bodyTimeoutMs: 3000, bodyMinBytesPerSecond: 1024, bodyIdleTimeoutMs: 10_000 },
  });
  const result = await platform.deploy(tempApp(t, "hungry.ts", APP));
  return { platform, param: platform.url(result, "param"), upload: new URL(platform.url(result, "upload")) };
}

test("many parameter values: never more containers than the cap; the rest wait and get 503 at_capacity", { timeout: 60_000 }, async (t) => {
  const { platform, param } = await setup(t);
  const started = Date.now();
  const answers = Promise.all(
    Array.from({ length: 12 }, async (_, i) => {
      const response = await request(`${param}?v=value-${i}`);
      return { status: response.status, body: (await response.json()) as unknown, retryAfter: response.headers.get("retry-after") };
    }),
  );
  const peak = await peakWhile(platform, answers);
  const results = await answers;
  const statuses = results.map((r) => r.status).sort();
  assert.ok(peak <= 3, `at most 3 containers at once, saw ${peak}`);
  assert.equal(statuses.filter((s) => s === 200).length, 3, `three served: ${statuses}`);
  const refused = results.filter((r) => r.status === 503);
  assert.equal(refused.length, 9);
  for (const r of refused) {
    assert.equal((r.body as { error: { code: string } }).error.code, "at_capacity");
    assert.equal(r.retryAfter, "5");
  }
  assert.ok(Date.now() - started < 15_000, "nobody waited past the capacity wait and one call");
  assert.ok((await live(platform)).coldStarts <= 3, "no container started beyond the cap");
});

test("a workspace's own cap (berth workspace limit --containers) holds below the server's, and applies at once", { timeout: 60_000 }, async (t) => {
  const { platform, param } = await setup(t);
  const cli = berth(t, ["workspace", "limit", "test", "--containers", "1", "--server", platform.server.url, "--token", platform.token], { BERTH_HOME: tempHome(t) });
  assert.equal(await cli.exited, 0, cli.output());
  assert.match(cli.output(), /containers: 1 \(the server's cap: 3\)/);
  const view = await platform.client.workspaceLimit("test");
  assert.equal(view.containers, 1);
  assert.equal(view.serverContainers, 3);
  const answers = Promise.all(Array.from({ length: 4 }, (_, i) => request(`${param}?v=w-${i}`).then((r) => r.status)));
  const peak = await peakWhile(platform, answers);
  assert.ok(peak <= 1, `one container at once, saw ${peak}`);
  assert.deepEqual((await answers).sort(), [200, 503, 503, 503]);
  const back = await platform.client.setWorkspaceLimit("test", { containers: null });
  assert.equal(back.containers, null);
});

test("trickled bodies: each holds a container for the body timeout at most, then 408; the rest wait and get 503", { timeout: 60_000 }, async (t) => {
  const { platform, upload } = await setup(t);
  const port = Number(upload.port);
  // One byte every 300 ms: never idle long enough for the idle timeout, far below the minimum rate.
  const trickle = (i: number) =>
    new Promise<string>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      let text = "";
      const finish = () => {
        clearInterval(drip);
        clearTimeout(deadline);
        socket.destroy();
        resolve(text);
      };
      const drip = setInterval(() => socket.writable && socket.write("x"), 300);
      const deadline = setTimeout(finish, 15_000);
      socket.on("data", (data) => (text += data.toString("latin1")));
      socket.on("close", finish);
      socket.on("error", finish);
      socket.write(`POST /t${i} HTTP/1.1\r\nHost: ${upload.host}\r\nContent-Length: 1000\r\n\r\n`);
    });
  const started = Date.now();
  const answers = Promise.all(Array.from({ length: 6 }, (_, i) => trickle(i)));
  const peak = await peakWhile(platform, answers);
  const statuses = (await answers).map(statusOf).sort();
  const elapsed = Date.now() - started;
  assert.ok(peak <= 3, `at most 3 containers at once, saw ${peak}`);
  assert.equal(statuses.length, 6);
  assert.ok(statuses.every((s) => s === 408 || s === 503), statuses.join(","));
  assert.ok(statuses.filter((s) => s === 408).length >= 3, `the three that got a container were cut: ${statuses.join(",")}`);
  assert.ok(elapsed < 12_000, `every trickler was answered within the body timeout and the capacity wait (${elapsed} ms)`);
  // The cut containers are free again: a real upload goes through.
  const fine = await request(upload.href, { method: "POST", body: "x".repeat(5000) });
  assert.equal(await fine.text(), "5000");
});
