/**
 * A container that does not end a timed-out call (issue 10, item 1): a
 * CPU-bound handler past its `timeout` blocks its container's event loop, so
 * every request routed to it would wait out the timeout too. The gateway
 * answers the timed-out call 504; the container is taken out of routing at
 * once, and when it shows no sign of life within a short grace it is killed
 * and replaced, so the requests behind it are answered by a healthy one.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { alive, containers, waitFor, waitForLog } from "./support/wait.js";

const STUCK_APP = `
import { App } from "berthjs";
const app = new App("stuck");

// The issue's repro: ?ok=1 answers at once, anything else spins forever.
export const spin = app.function({ timeout: 5, maxContainers: 1 }).webEndpoint(({ query }) => {
  if (query.ok) return { ok: true, pid: process.pid };
  console.log("spinning in " + process.pid);
  while (true) {}
});

// Three containers, one of which gets stuck: the others keep the traffic.
export const wide = app.function({ timeout: 5, minContainers: 3, maxContainers: 3 }).webEndpoint(({ query }) => {
  if (query.ok) return { ok: true, pid: process.pid };
  while (true) {}
});

// An async handler that honours request.signal ends its timed-out call: its container stays.
export const polite = app.function({ timeout: 1, maxContainers: 1 }).webEndpoint(async ({ query, request }) => {
  if (query.ok) return { ok: true, pid: process.pid };
  await new Promise((resolve) => request.signal.addEventListener("abort", resolve));
  return "aborted";
});

// An async handler that ignores the abort keeps its timed-out call running: its container is replaced, gently.
export const deaf = app.function({ timeout: 1, maxContainers: 1 }).webEndpoint(async ({ query }) => {
  if (query.ok) return { ok: true, pid: process.pid };
  await new Promise((resolve) => setTimeout(resolve, 60_000));
  return "late";
});
`;

async function okFrom(url: string): Promise<{ status: number; pid?: number; ms: number }> {
  const started = Date.now();
  const response = await request(`${url}?ok=1`);
  const ms = Date.now() - started;
  if (response.status !== 200) {
    await response.body?.cancel();
    return { status: response.status, ms };
  }
  return { status: 200, pid: ((await response.json()) as { pid: number }).pid, ms };
}

test("a blocked event loop past its timeout: 504, then the container is killed and the requests behind it get 200 from a new one", async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy(tempApp(t, "stuck.ts", STUCK_APP));
  const url = platform.url(result, "spin");
  const first = await okFrom(url);
  assert.equal(first.status, 200);

  const stuck = await request(url);
  assert.equal(stuck.status, 504);
  await stuck.body?.cancel();
  // Three healthy requests right behind it: each would wait out the 5 s timeout on the stuck container (2 s grace + 1 s for an answer, then a cold start).
  const behind = await Promise.all([okFrom(url), okFrom(url), okFrom(url)]);
  t.diagnostic(`the three requests behind the stuck call: ${JSON.stringify(behind.map(({ status, ms }) => ({ status, ms })))}`);
  assert.deepEqual(behind.map((r) => r.status), [200, 200, 200], JSON.stringify(behind));
  for (const r of behind) assert.notEqual(r.pid, first.pid, "answered by a new container");
  for (const r of behind) assert.ok(r.ms < 4500, `answered in ${r.ms} ms, before a timeout could have passed`);
  await waitFor("the stuck container to be killed", () => !alive(first.pid!), 5000);
  await waitForLog(platform, "stuck", /event loop .*blocked|did not answer/);
});

test("three containers, one stuck: it draws no more traffic and is replaced", async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy(tempApp(t, "stuck.ts", STUCK_APP));
  const url = platform.url(result, "wide");
  await waitFor("three ready containers", async () => (await containers(platform, "stuck", "wide")).ready === 3 || undefined, 20_000);

  const stuck = await request(url);
  assert.equal(stuck.status, 504);
  await stuck.body?.cancel();
  // Sequential requests go to the least-loaded container, the oldest first: without the fix, one in three waits 5 s.
  for (let i = 0; i < 9; i += 1) {
    const answer = await okFrom(url);
    assert.equal(answer.status, 200);
    assert.ok(answer.ms < 4500, `request ${i} took ${answer.ms} ms, less than the 5 s a request sent to the stuck container would wait`);
  }
  await waitFor(
    "a fourth container to replace the stuck one",
    async () => {
      const now = await containers(platform, "stuck", "wide");
      return (now.coldStarts === 4 && now.ready === 3) || undefined;
    },
    20_000,
  );
  await waitForLog(platform, "stuck", /event loop is blocked/);
});

test("a handler that honours the abort keeps its container; one that ignores it gets its container replaced", async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy(tempApp(t, "stuck.ts", STUCK_APP));

  const polite = platform.url(result, "polite");
  const before = await okFrom(polite);
  const timedOut = await request(polite);
  assert.equal(timedOut.status, 504);
  await timedOut.body?.cancel();
  const after = await okFrom(polite);
  assert.equal(after.status, 200);
  assert.equal(after.pid, before.pid, "the container that ended its call keeps serving");

  const deaf = platform.url(result, "deaf");
  const first = await okFrom(deaf);
  const ignored = await request(deaf);
  assert.equal(ignored.status, 504);
  await ignored.body?.cancel();
  const next = await okFrom(deaf);
  assert.equal(next.status, 200);
  assert.notEqual(next.pid, first.pid, "a container still running a timed-out call is replaced");
  await waitFor("the old container to end", () => !alive(first.pid!), 10_000);
  await waitForLog(platform, "stuck", /did not end a timed-out call/);
});
