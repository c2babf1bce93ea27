/**
 * `server-timing` on proxied responses, through the real server: a request
 * that started a container carries `cold-start` (the container's start, as
 * the pool logs it) next to `queue`; a warm one carries only `queue`; one
 * that waited behind a busy container shows that wait as `queue`. The
 * app's own Server-Timing passes too, and the metrics count as before.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { serverTiming } from "../src/gateway/proxied-call.js";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { logs } from "./support/wait.js";

const APP = `
import { App } from "berthjs";
const app = new App("timing");
export const hello = app.function().webEndpoint(() => "hi");
export const busy = app.function({ maxContainers: 1, concurrency: { maxInputs: 1 } }).webEndpoint(async () => {
  await new Promise((resolve) => setTimeout(resolve, 400));
  return "done";
});
export const own = app.function().fetchApp(() => ({
  fetch: () => new Response("own", { headers: { "server-timing": "db;dur=5.5" } }),
}));
`;

const COLD = /^queue;dur=(\d+\.\d), cold-start;dur=(\d+\.\d)$/;
const WARM = /^queue;dur=(\d+\.\d)$/;

test("serverTiming: milliseconds to a tenth, the cold start split off the wait, no wait as 0.0", () => {
  assert.equal(serverTiming(0, 0), "queue;dur=0.0");
  assert.equal(serverTiming(0.039, 0), "queue;dur=0.0");
  assert.equal(serverTiming(0.04, 0), "queue;dur=0.0");
  assert.equal(serverTiming(0.06, 0), "queue;dur=0.1");
  assert.equal(serverTiming(12.34, 0), "queue;dur=12.3");
  assert.equal(serverTiming(15, 14.8), "queue;dur=0.2, cold-start;dur=14.8");
  assert.equal(serverTiming(0.01, 0.01), "queue;dur=0.0, cold-start;dur=0.0");
});

test("server-timing: cold-start on the request that started a container, queue on every proxied response", async (t) => {
  const platform = await startPlatform(t, { rateLimit: null });
  const result = await platform.deploy(tempApp(t, "timing.ts", APP));

  const cold = await request(platform.url(result, "hello"));
  assert.equal(await cold.text(), '"hi"');
  const coldTiming = cold.headers.get("server-timing") ?? "";
  const [, , coldStart] = COLD.exec(coldTiming) ?? assert.fail(`a cold request: ${coldTiming}`);
  // The same figure as the pool's "container ready (cold start N ms)": this request waited for all of that start.
  const ready = (await logs(platform, "timing")).find((entry) => entry.function === "hello" && /container ready/.test(entry.line))!;
  const logged = Number(/cold start (\d+) ms/.exec(ready.line)![1]);
  assert.ok(Math.abs(Number(coldStart) - logged) <= 1, `cold-start ${coldStart} vs logged ${logged}`);

  for (let i = 0; i < 3; i += 1) {
    const warm = await request(platform.url(result, "hello"));
    await warm.text();
    const timing = warm.headers.get("server-timing") ?? "";
    const [, queue] = WARM.exec(timing) ?? assert.fail(`a warm request: ${timing}`);
    assert.ok(Number(queue) < 100, `a warm request hardly queues: ${timing}`);
  }

  // Two at once on one container with one slot: the second waits for the first (~400 ms), which is queue, not cold start.
  await (await request(platform.url(result, "busy"))).text();
  const both = await Promise.all([request(platform.url(result, "busy")), request(platform.url(result, "busy"))]);
  const waits = both.map((response) => Number((WARM.exec(response.headers.get("server-timing") ?? "") ?? assert.fail("warm"))[1])).sort((a, b) => a - b);
  assert.ok(waits[0]! < 100 && waits[1]! >= 300, `queue waits ${waits.join(", ")}`);
  await Promise.all(both.map((response) => response.text()));

  // The app's own entries pass alongside the gateway's.
  const own = await request(platform.url(result, "own"));
  assert.equal(await own.text(), "own");
  assert.match(own.headers.get("server-timing") ?? "", /^db;dur=5\.5, queue;dur=\d+\.\d, cold-start;dur=\d+\.\d$/);

  // Metrics count as before: one observation of the queue wait per request.
  const metrics = await (await request(`${platform.server.url}/metrics`, { headers: platform.auth })).text();
  const count = (fn: string) => Number(new RegExp(`berth_queue_wait_seconds_count\\{[^}]*function="${fn}"[^}]*\\} (\\d+)`).exec(metrics)?.[1]);
  assert.equal(count("hello"), 4);
  assert.equal(count("busy"), 3);
  assert.match(metrics, /berth_requests_total\{[^}]*function="hello"[^}]*status="200"[^}]*\} 4/);
});
