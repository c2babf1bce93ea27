/**
 * Timeouts through the real platform: `timeout` answers 504 and the abort
 * reaches the handler inside the container; a call that has not started
 * answering within the call delay (150 s, 1 s here) gets a 303 to a result
 * URL that waits for the same call (it runs once); a response that has
 * started streaming is never cut by that delay; a container that misses its
 * `startupTimeout` is killed and its waiting request gets a 503 that says why.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { alive, waitFor, waitForLog } from "./support/wait.js";

const TIMEOUT_APP = `
import { App } from "berthjs";
const app = new App("timeouts");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ?ms=N sleeps N ms, or until the request is aborted, which it logs.
export const sleeper = app.function({ timeout: 3, concurrency: { maxInputs: 10 } }).webEndpoint(async ({ query, request }) => {
  const ms = Number(query.ms);
  const aborted = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    request.signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  if (aborted) console.log("sleeper: request.signal aborted after timeout (" + query.ms + ")");
  return { slept: ms };
});

export const node = app.function({ timeout: 1 }).nodeApp(() => (req, res) => {
  res.on("close", () => {
    if (!res.writableFinished) console.log("node: response closed before it finished");
  });
  setTimeout(() => res.end("late"), 5000).unref();
});
`;

const CALLS_APP = `
import { App } from "berthjs";
const app = new App("calls");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let calls = 0;

export const slow = app.function({ concurrency: { maxInputs: 10 } }).webEndpoint(async ({ query }) => {
  calls += 1;
  await sleep(Number(query.ms ?? 2500));
  return { calls, tag: query.tag };
});

// Sends its first bytes at once, then keeps streaming well past the call delay.
export const stream = app.function().fetchApp(() => ({
  fetch: (request: Request) => {
    const chunks = Number(new URL(request.url).searchParams.get("chunks") ?? 10);
    let n = 0;
    const body = new ReadableStream({
      async pull(controller) {
        if (n === chunks) return controller.close();
        controller.enqueue(new TextEncoder().encode("chunk " + n + "\\n"));
        n += 1;
        await sleep(300);
      },
    });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  },
}));

export const echo = app.function().webEndpoint({ method: "POST" }, async ({ body }) => {
  await sleep((body as { ms: number }).ms);
  return body;
});

export const failing = app.function({ timeout: 2 }).webEndpoint(async () => {
  await sleep(10_000);
  return "never";
});
`;

const STARTUP_APP = (pidFile: string) => `
import { writeFileSync } from "node:fs";
import { App } from "berthjs";
const app = new App("startup");
export const stuck = app.function({
  startupTimeout: 1,
  enter: async () => {
    writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
    await new Promise((resolve) => setTimeout(resolve, 60_000));
  },
}).webEndpoint(() => "never");
`;

test("timeout: 1 s handler → 200, 5 s handler → 504, and the handler's request.signal aborts", async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy(tempApp(t, "timeouts.ts", TIMEOUT_APP));
  const url = platform.url(result, "sleeper");

  const [fast, slow] = await Promise.all([request(`${url}?ms=1000`), request(`${url}?ms=5000`)]);
  assert.equal(fast.status, 200);
  assert.deepEqual(await fast.json(), { slept: 1000 });
  assert.equal(slow.status, 504);
  const body = (await slow.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "timeout");
  assert.match(body.error.message, /timeout of 3 s/);
  await waitForLog(platform, "timeouts", /sleeper: request\.signal aborted after timeout \(5000\)/, 5000);

  const node = await request(platform.url(result, "node"));
  assert.equal(node.status, 504);
  await node.body?.cancel();
  await waitForLog(platform, "timeouts", /node: response closed before it finished/, 5000);
});

test("long calls: 303 to a result URL that returns the same call's response", async (t) => {
  const platform = await startPlatform(t, { callDelayMs: 1000 });
  const result = await platform.deploy(tempApp(t, "calls.ts", CALLS_APP));
  const url = platform.url(result, "slow");
  // Warm the container so the call counter below belongs to one process.
  assert.equal((await request(`${url}?ms=0&tag=warm`)).status, 200);

  // The call takes 2.5 s: a 303 at 1 s (a 200 would mean it had finished), and the follower has its answer at 2.5 s.
  const first = await request(`${url}?ms=2500&tag=long`);
  assert.equal(first.status, 303);
  const location = first.headers.get("location")!;
  assert.match(location, /^\/__berth\/calls\/[a-z0-9-]+\.[0-9a-f]{32}$/);
  assert.ok(first.headers.get("berth-request-id"));
  await first.body?.cancel();

  // Two clients follow at once: whichever arrives second is told another is waiting, the other gets the result.
  const followers = [request(new URL(location, url).toString()), request(new URL(location, url).toString())];
  const busy = await Promise.race(followers);
  assert.equal(busy.status, 409, "one client waits for a result at a time");
  assert.equal(((await busy.json()) as { error: { code: string } }).error.code, "result_busy");
  const following = (await Promise.all(followers)).find((response) => response !== busy);
  assert.ok(following);
  const post = await request(new URL(location, url).toString(), { method: "POST" });
  assert.equal(post.status, 405);
  await post.body?.cancel();

  const followed = await followToEnd(following, url);
  assert.equal(followed.status, 200);
  assert.deepEqual(await followed.json(), { calls: 2, tag: "long" }, "the call ran once (warm-up + this one)");

  const again = await request(new URL(location, url).toString());
  assert.equal(again.status, 404, "a result is handed out once");
  await again.body?.cancel();

  // A POST's body reaches the call that answers at the result URL.
  const echo = platform.url(result, "echo");
  assert.equal((await request(echo, { method: "POST", headers: { "content-type": "application/json" }, body: '{"warm":true,"ms":0}' })).status, 200);
  const posted = await request(echo, { method: "POST", headers: { "content-type": "application/json" }, body: '{"item":"kettle","ms":1500}' });
  assert.equal(posted.status, 303);
  const echoed = await followToEnd(posted, echo);
  assert.equal(echoed.status, 200);
  assert.deepEqual(await echoed.json(), { item: "kettle", ms: 1500 });
});

test("long calls: a follower still waiting after another delay is redirected again; errors reach the follower", async (t) => {
  const platform = await startPlatform(t, { callDelayMs: 1000 });
  const result = await platform.deploy(tempApp(t, "calls.ts", CALLS_APP));
  const url = platform.url(result, "slow");

  assert.equal((await request(`${url}?ms=0`)).status, 200);
  // Not started after 1 s → 303; each follower waits 1 s more → 303 to the same URL, until the answer at 4 s.
  const first = await request(`${url}?ms=4000&tag=twice`);
  assert.equal(first.status, 303);
  await first.body?.cancel();
  const location = new URL(first.headers.get("location")!, url).toString();
  // A result URL only answers on its own function's host.
  const elsewhere = await request(new URL(first.headers.get("location")!, platform.url(result, "failing")).toString());
  assert.equal(elsewhere.status, 404);
  await elsewhere.body?.cancel();
  const second = await request(location);
  assert.equal(second.status, 303);
  assert.equal(new URL(second.headers.get("location")!, url).toString(), location);
  await second.body?.cancel();
  const done = await followToEnd(await request(location), url);
  assert.equal(done.status, 200);
  assert.equal(((await done.json()) as { tag: string }).tag, "twice");

  // A call that times out after its 303: the follower gets the 504.
  const failingUrl = platform.url(result, "failing");
  const failing = await request(failingUrl);
  assert.equal(failing.status, 303);
  const outcome = await followToEnd(failing, failingUrl);
  assert.equal(outcome.status, 504);
  assert.equal(((await outcome.json()) as { error: { code: string } }).error.code, "timeout");

  const unknown = await request(new URL("/__berth/calls/0123456789abcdef0123456789abcdef", url).toString());
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();

});

test("a response that starts at once and streams past the call delay is not cut", async (t) => {
  const platform = await startPlatform(t, { callDelayMs: 1000 });
  const result = await platform.deploy(tempApp(t, "calls.ts", CALLS_APP));
  const url = platform.url(result, "stream");
  // Warm: the delay counts from arrival, so a cold start must not eat into it.
  assert.equal(await (await request(`${url}?chunks=0`)).text(), "");
  const started = Date.now();
  const response = await request(url);
  assert.equal(response.status, 200);
  const text = await response.text();
  assert.ok(Date.now() - started >= 2700, "the stream outlived the call delay");
  assert.equal(text, Array.from({ length: 10 }, (_, i) => `chunk ${i}\n`).join(""));
});

test("startupTimeout: the container is killed and the waiting request gets a 503 naming the cause", async (t) => {
  const platform = await startPlatform(t);
  const dir = tempApp(t, "marker", "");
  const pidFile = join(dir, "..", "enter.pid");
  const result = await platform.deploy(tempApp(t, "startup.ts", STARTUP_APP(pidFile)));
  const started = Date.now();
  const response = await request(platform.url(result, "stuck"));
  assert.equal(response.status, 503);
  assert.ok(Date.now() - started < 20_000, "well before the default 60 s startupTimeout");
  const body = (await response.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "startup_failed");
  assert.match(body.error.message, /within 1 s \(startupTimeout\)/);
  assert.ok(Number(response.headers.get("retry-after")) >= 1);
  await waitForLog(platform, "startup", /startupTimeout/);

  assert.ok(existsSync(pidFile), "enter ran");
  const pid = Number(readFileSync(pidFile, "utf8"));
  await waitFor("the stuck container to be killed", () => !alive(pid), 5000);
});

/** Follows 303s (a bounded number) to the answer at the end. */
async function followToEnd(response: Awaited<ReturnType<typeof request>>, base: string) {
  for (let hops = 0; response.status === 303 && hops < 20; hops += 1) {
    await response.body?.cancel();
    response = await request(new URL(response.headers.get("location")!, base).toString());
  }
  return response;
}
