/**
 * Autoscaling and concurrency through the real platform (ports of Knative's
 * conformance and e2e scaling tests): maxInputs is never exceeded, a burst
 * is served without errors within maxContainers, minContainers are kept,
 * pools scale to zero after the window, and a full queue answers 503.
 *
 * Durations are shortened from Knative's; BERTH_LONG_TESTS=1 runs the
 * overlap test for the full 20 s.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { containers, sleep, waitFor } from "./support/wait.js";

const OVERLAP_SECONDS = process.env.BERTH_LONG_TESTS ? 20 : 5;

const SCALING_APP = `
import { App } from "berthjs";
const app = new App("scaling");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let active = 0;

// Answers 500 if it ever sees a second call while one is running.
export const single = app.function({ maxContainers: 3, scaledownWindow: 30 }).webEndpoint(async () => {
  active += 1;
  try {
    if (active > 1) return new Response("overlap", { status: 500 });
    await sleep(20);
    return { pid: process.pid };
  } finally {
    active -= 1;
  }
});

export const burst = app.function({ maxContainers: 10, scaledownWindow: 30 }).webEndpoint(async () => {
  active += 1;
  try {
    if (active > 1) return new Response("overlap", { status: 500 });
    await sleep(300);
    return { pid: process.pid };
  } finally {
    active -= 1;
  }
});

export const warm = app.function({ minContainers: 2, scaledownWindow: 0.5 }).webEndpoint(() => ({ pid: process.pid }));

export const buffered = app.function({ bufferContainers: 2, scaledownWindow: 30 }).webEndpoint(async () => {
  await sleep(300);
  return { pid: process.pid };
});

export const decay = app.function({ scaledownWindow: 1 }).webEndpoint(() => ({ pid: process.pid }));

export const shared = app.function({ concurrency: { maxInputs: 3 }, maxContainers: 1 }).webEndpoint(async () => {
  active += 1;
  const seen = active;
  await sleep(300);
  active -= 1;
  return { pid: process.pid, seen };
});

`;

const QUEUE_APP = `
import { App } from "berthjs";
const app = new App("queue");
export const narrow = app.function({ maxContainers: 1 }).webEndpoint(async () => {
  await new Promise((resolve) => setTimeout(resolve, 2000));
  return "ok";
});
`;

test("scaling", async (t) => {
  // These clients are one loopback address sending hundreds of requests a
  // second: the per-client share of the default rate limit would answer 429s
  // that have nothing to do with scaling (rate limits have their own tests).
  const platform = await startPlatform(t, { rateLimit: null });
  const result = await platform.deploy(tempApp(t, "scaling.ts", SCALING_APP));
  const url = (name: string) => platform.url(result, name);

  await t.test(`maxInputs 1 never overlaps: 5 clients for ${OVERLAP_SECONDS} s see no 500`, async () => {
    const until = Date.now() + OVERLAP_SECONDS * 1000;
    const statuses = new Map<number, number>();
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        while (Date.now() < until) {
          const response = await request(url("single"));
          await response.body?.cancel();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        }
      }),
    );
    assert.deepEqual([...statuses.keys()], [200], `statuses seen: ${JSON.stringify([...statuses])}`);
    assert.ok(statuses.get(200)! > 20, "the clients made progress");
  });

  await t.test("100 concurrent 300 ms requests, maxInputs 1, maxContainers 10: all 200, never more than 10 containers", async () => {
    assert.equal((await containers(platform, "scaling", "burst")).coldStarts, 0, "no container before the burst");
    const responses = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const response = await request(url("burst"));
        return { status: response.status, body: (await response.json()) as { pid: number } };
      }),
    );
    assert.deepEqual(
      responses.filter((r) => r.status !== 200),
      [],
    );
    const pids = new Set(responses.map((r) => r.body.pid));
    assert.ok(pids.size <= 10, `${pids.size} containers served the burst`);
    assert.ok(pids.size >= 2, "the burst scaled out");
    // Every container the pool ever asked for is counted (a crash's replacement too), so the
    // containers alive at once can never have been more than this: no sampling to miss a spike.
    const started = (await containers(platform, "scaling", "burst")).coldStarts;
    assert.ok(started <= 10, `${started} containers were started for the burst`);
  });

  await t.test("minContainers 2 are started at deploy and kept with no traffic", async () => {
    await waitFor("two ready containers", async () => (await containers(platform, "scaling", "warm")).ready === 2);
    // Well past the 0.5 s scaledown window, with no request at all.
    await sleep(1500);
    const c = await containers(platform, "scaling", "warm");
    assert.equal(c.ready, 2);
    assert.equal(c.coldStarts, 2);
  });

  await t.test("bufferContainers start spare containers while there is demand", async () => {
    const response = await request(url("buffered"));
    assert.equal(response.status, 200);
    await response.body?.cancel();
    // One input in flight wanted 1 + 2 buffer containers; the spares stay until the window.
    await waitFor("three ready containers", async () => (await containers(platform, "scaling", "buffered")).ready === 3 || undefined);
    assert.equal((await containers(platform, "scaling", "buffered")).coldStarts, 3);
  });

  await t.test("scales to zero after the window; the next request still gets 200", async () => {
    const first = await request(url("decay"));
    assert.equal(first.status, 200);
    const before = ((await first.json()) as { pid: number }).pid;
    assert.equal((await containers(platform, "scaling", "decay")).ready, 1);
    await waitFor("scale to zero", async () => {
      const c = await containers(platform, "scaling", "decay");
      return c.starting + c.ready + c.draining === 0;
    });
    const again = await request(url("decay"));
    assert.equal(again.status, 200);
    assert.notEqual(((await again.json()) as { pid: number }).pid, before, "a new container answered");
  });

  await t.test("maxInputs 3 puts three concurrent requests on one container", async () => {
    const bodies = await Promise.all(
      Array.from({ length: 3 }, async () => (await (await request(url("shared"))).json()) as { pid: number; seen: number }),
    );
    assert.equal(new Set(bodies.map((b) => b.pid)).size, 1);
    assert.equal(Math.max(...bodies.map((b) => b.seen)), 3);
  });
});

test("a full queue answers 503 with Retry-After; the queued ones are served", async (t) => {
  const platform = await startPlatform(t, { queueLimit: 2 });
  const url = platform.url(await platform.deploy(tempApp(t, "queue.ts", QUEUE_APP)), "narrow");
  assert.equal((await request(url)).status, 200);
  // One container, one input at a time, two may wait: of five at once, one runs, two wait, two are refused.
  const responses = await Promise.all(
    Array.from({ length: 5 }, async () => {
      const response = await request(url);
      return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.text() };
    }),
  );
  const refused = responses.filter((r) => r.status === 503);
  assert.equal(refused.length, 2, JSON.stringify(responses));
  assert.equal(responses.filter((r) => r.status === 200).length, 3);
  for (const r of refused) {
    assert.equal(r.retryAfter, "1");
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, "queue_full");
  }
});
