/**
 * Container lifecycle through the real platform: `enter` runs once per
 * container and its result is the handler's `state`; `exit` runs when a
 * container is retired, bounded by the grace period; a crash mid-request
 * costs only that request (502) and the container is replaced; an exception
 * in `enter` is a start-up failure that backs off instead of spinning and is
 * reported in the logs and the function's status.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { freePort } from "./support/ports.js";
import { alive, containers, logs, stats, waitFor, waitForLog } from "./support/wait.js";

const LIFECYCLE_APP = (pidFile: string) => `
import { writeFileSync } from "node:fs";
import { App } from "berthjs";
const app = new App("lifecycle");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const stateful = app.function({
  scaledownWindow: 0.5,
  enter: async () => {
    console.log("enter ran in " + process.pid);
    return { token: "abc", pid: process.pid };
  },
  exit: ({ state }) => console.log("exit ran for " + state.token),
}).webEndpoint(({ state }) => state);

export const fragile = app.function({ scaledownWindow: 30 }).webEndpoint(async ({ query }) => {
  if (query.crash) {
    setTimeout(() => process.exit(3), 200);
    await sleep(5000);
  }
  await sleep(Number(query.ms ?? 0));
  return { pid: process.pid };
});

export const stubborn = app.function({
  scaledownWindow: 0.5,
  enter: () => writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)),
  exit: async () => {
    console.log("stubborn exit started");
    await new Promise(() => {});
  },
}).webEndpoint(() => "ok");
`;

const BROKEN_APP = `
import { App } from "berthjs";
const app = new App("broken");
const enter = () => {
  throw new Error("database unreachable: connection refused");
};
export const onDemand = app.function({ enter }).webEndpoint(() => "never");
export const kept = app.function({ enter, minContainers: 1 }).webEndpoint(() => "never");
`;

test("enter runs once per container, its result is state; exit runs on scale-down", async (t) => {
  const platform = await startPlatform(t);
  const dir = tempApp(t, "marker", "");
  const result = await platform.deploy(tempApp(t, "lifecycle.ts", LIFECYCLE_APP(join(dir, "..", "stubborn.pid"))));
  const url = platform.url(result, "stateful");
  const first = (await (await request(url)).json()) as { token: string; pid: number };
  const second = (await (await request(url)).json()) as { token: string; pid: number };
  assert.equal(first.token, "abc");
  assert.deepEqual(second, first);
  const enters = (await logs(platform, "lifecycle")).filter((entry) => /enter ran/.test(entry.line));
  assert.equal(enters.length, 1);
  assert.equal(enters[0]!.function, "stateful");
  await waitForLog(platform, "lifecycle", /exit ran for abc/);
  await waitFor("the container to be gone", async () => (await containers(platform, "lifecycle", "stateful")).draining === 0 || undefined);
});

test("an exit hook that never returns is cut at the grace period", async (t) => {
  const platform = await startPlatform(t, { exitGraceMs: 1000 });
  const dir = tempApp(t, "marker", "");
  const pidFile = join(dir, "..", "stubborn.pid");
  const result = await platform.deploy(tempApp(t, "lifecycle.ts", LIFECYCLE_APP(pidFile)));
  assert.equal((await request(platform.url(result, "stubborn"))).status, 200);
  const pid = Number(readFileSync(pidFile, "utf8"));
  await waitForLog(platform, "lifecycle", /stubborn exit started/);
  // Window 0.5 s + grace 1 s, with room for a slow machine; without the grace it would live forever.
  await waitFor("the stubborn container to end", () => !alive(pid), 10_000);
  const c = await containers(platform, "lifecycle", "stubborn");
  assert.equal(c.starting + c.ready + c.draining, 0);
});

test("a crash mid-request costs only its own request (502) and the container is replaced", async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy(tempApp(t, "lifecycle.ts", LIFECYCLE_APP("/dev/null")));
  const url = platform.url(result, "fragile");
  // maxInputs 1: the slow request holds one container, the crashing one gets another.
  const slow = request(`${url}?ms=1500`);
  await waitFor("the slow request to be in flight", async () => (await containers(platform, "lifecycle", "fragile")).inFlight === 1 || undefined);
  const crashed = await request(`${url}?crash=1`);
  assert.equal(crashed.status, 502);
  const body = (await crashed.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "upstream_failed");
  assert.match(body.error.message, /closed the connection before answering/);
  assert.ok(crashed.headers.get("berth-request-id"));
  assert.equal((await slow).status, 200, "the other container's request is unaffected");

  const after = await request(url);
  assert.equal(after.status, 200, await after.clone().text());
  await after.body?.cancel();
  await waitForLog(platform, "lifecycle", /exited unexpectedly \(code 3\); its in-flight requests got 502/);
  const fragile = (await stats(platform, "lifecycle")).find((f) => f.function === "fragile")!;
  assert.match(fragile.pools[0]!.lastError!, /exited unexpectedly/);
});

test("an exception in enter is a start-up failure: 503 with its message, in the logs, backed off", async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy(tempApp(t, "broken.ts", BROKEN_APP));
  const url = platform.url(result, "onDemand");

  const first = await request(url);
  assert.equal(first.status, 503);
  const body = (await first.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "startup_failed");
  assert.match(body.error.message, /database unreachable: connection refused/);
  await waitForLog(platform, "broken", /Error: database unreachable: connection refused/);

  // Within the backoff: answered at once from the last failure, no new container started.
  const second = await request(url);
  assert.equal(second.status, 503);
  assert.ok(Number(second.headers.get("retry-after")) >= 1);
  await second.body?.cancel();
  const onDemand = (await stats(platform, "broken")).find((f) => f.function === "onDemand")!.pools[0]!;
  assert.equal(onDemand.startFailures, 1);
  assert.match(onDemand.lastError!, /database unreachable/);

  // minContainers keeps retrying, but with backoff (1 s, 2 s, 4 s...), not in a hot loop.
  const startedAt = Date.now();
  await waitFor("a second start attempt of the kept container", async () => (await containers(platform, "broken", "kept")).startFailures >= 2 || undefined);
  const elapsed = Date.now() - startedAt;
  const kept = (await stats(platform, "broken")).find((f) => f.function === "kept")!.pools[0]!;
  assert.ok(kept.startFailures <= 2 + Math.ceil(elapsed / 1000), `${kept.startFailures} failures in ${elapsed} ms`);
  const retries = (await logs(platform, "broken")).filter((e) => e.function === "kept" && /retrying no sooner than/.test(e.line));
  assert.ok(retries.length >= 2);
  assert.match(retries[1]!.line, /retrying no sooner than 2 s/);
});

const SHUTDOWN_APP = (marker: string) => `
import { writeFileSync } from "node:fs";
import { App } from "berthjs";
const app = new App("shutdown");
export const f = app.function({
  exit: () => writeFileSync(${JSON.stringify(marker)}, "exit ran at shutdown"),
}).webEndpoint(() => "ok");
`;

test("server shutdown runs the exit hooks of running containers", async (t) => {
  const platform = await startPlatform(t);
  const dir = tempApp(t, "marker", "");
  const marker = join(dir, "..", "shutdown.txt");
  const result = await platform.deploy(tempApp(t, "shutdown.ts", SHUTDOWN_APP(marker)));
  assert.equal((await request(platform.url(result, "f"))).status, 200);
  await platform.server.close();
  assert.equal(readFileSync(marker, "utf8"), "exit ran at shutdown");
});

const CLOSING_SERVER_APP = (port: number) => `
import { createServer } from "node:http";
import { App } from "berthjs";
const app = new App("closing");
export const srv = app.function({ maxContainers: 1 }).webServer({ port: ${port} }, () => {
  const server = createServer((req, res) => {
    if (req.url === "/close") {
      // No keep-alive: the next request must meet the closed port, not a socket closing under it.
      res.setHeader("connection", "close");
      res.end("closing", () => {
        server.close();
        server.closeAllConnections();
      });
      return;
    }
    res.end(String(process.pid));
  });
  server.listen(${port}, "127.0.0.1");
});
`;

const DROPPING_SERVER_APP = `
import { createServer } from "node:net";
import { App } from "berthjs";
const app = new App("dropping");
let seen = 0;
export const srv = app.function({ maxContainers: 1 }).webServer({}, ({ port }) => {
  createServer((socket) => {
    let answered = 0;
    let pending = "";
    socket.on("data", (chunk) => {
      pending += chunk.toString("latin1");
      while (pending.includes("\\r\\n\\r\\n")) {
        pending = pending.slice(pending.indexOf("\\r\\n\\r\\n") + 4);
        seen += 1;
        // The second request on a connection meets it closing unanswered, as at a server's idle timeout.
        if (answered === 1) return void socket.destroy();
        answered += 1;
        const body = String(seen);
        socket.write("HTTP/1.1 200 OK\\r\\ncontent-length: " + body.length + "\\r\\n\\r\\n" + body);
      }
    });
  }).listen(port, "127.0.0.1");
});
`;

test("a kept-alive connection the container closes under a GET, before any answer, is retried once on a fresh one; a POST is not", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "dropping.ts", DROPPING_SERVER_APP)), "srv");
  const first = await request(url);
  assert.equal(first.status, 200, await first.clone().text());
  const seenFirst = Number(await first.text());
  // The gateway reuses the first request's connection, which the server closes on reading this one.
  const second = await request(url);
  assert.equal(second.status, 200, await second.clone().text());
  assert.equal(Number(await second.text()), seenFirst + 2, "the request met the closing connection, then went on a new one");
  // A POST may have begun when its connection closed: it is not run again (502), even without a body. First a
  // connection that has answered once (the GET meets one closing, again, and is retried), then the POST on it.
  assert.equal(Number(await (await request(url)).text()), seenFirst + 4);
  const post = await request(url, { method: "POST" });
  assert.equal(post.status, 502, await post.clone().text());
  const after = await request(url);
  assert.equal(after.status, 200);
  assert.equal(Number(await after.text()), seenFirst + 6, "the POST reached the server once");
});

test("a container that refuses connections is taken out of service and the request goes to a new one", async (t) => {
  const platform = await startPlatform(t);
  const port = await freePort();
  const url = platform.url(await platform.deploy(tempApp(t, "closing.ts", CLOSING_SERVER_APP(port))), "srv");
  const before = await (await request(url)).text();
  assert.equal(await (await request(`${url}close`)).text(), "closing");
  // The container's server is gone but the container is not: the request must not see a 502.
  const after = await request(url);
  assert.equal(after.status, 200, await after.clone().text());
  assert.notEqual(await after.text(), before);
  await waitForLog(platform, "closing", /was unreachable; it was taken out of service/);
});

