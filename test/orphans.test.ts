/**
 * Nothing a container starts outlives it, and nothing of a dead server
 * survives into the next one (issue 10, item 2), through the real server:
 * a `kill -9` of a container (as the OOM killer does) takes the server it
 * spawned with it, so a fixed-port `webServer` starts again; a `kill -9` of
 * `berth server` takes its containers with it, a blocked one and what it
 * spawned included, and image-build commands; a server starting after a
 * dead run sweeps what that run left: processes, socket folders, temp files.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { berth, tempHome } from "./support/cli.js";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { sandboxTest } from "./support/sandbox.js";
import { alive, processesRunning, waitFor, waitForLog } from "./support/wait.js";

/** Kills whatever of `pids` still runs once the test is over, passed or failed, so a regression cannot leave processes behind. */
function killAfter(t: TestContext, pids: () => number[]): void {
  t.after(() => {
    for (const pid of pids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  });
}

/** A port unlikely to be taken by parallel test runs on this machine. */
const randomPort = () => 20_000 + Math.floor(Math.random() * 20_000);

/** A webServer on a fixed port whose server is a child process answering with its pid and its parent's (the container's agent). */
const fixedPortApp = (port: number) => `
import { spawn } from "node:child_process";
import { App } from "berthjs";
const app = new App("orphans");
const server = \`require("node:http").createServer((req, res) => res.end(JSON.stringify({ pid: process.pid, ppid: process.ppid }))).listen(${port}, "0.0.0.0")\`;
export const fixed = app.function().webServer({ port: ${port}, startupTimeout: 10 }, () => {
  spawn(process.execPath, ["-e", server], { stdio: "inherit" });
});
export const block = app.function({ timeout: 600 }).webEndpoint(() => {
  const child = spawn("sleep", ["600"], { stdio: "ignore" });
  console.log("blocking agent " + process.pid + " child " + child.pid);
  while (true) {}
});
`;

test("kill -9 of a container: the server it spawned dies with it, and a fixed-port webServer starts again", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "orphans.ts", fixedPortApp(randomPort()))), "fixed");
  const response = await request(url);
  const body = await response.text();
  assert.equal(response.status, 200, body);
  const first = JSON.parse(body) as { pid: number; ppid: number };
  killAfter(t, () => [first.pid]);
  process.kill(first.ppid, "SIGKILL");
  await waitForLog(platform, "orphans", /exited unexpectedly \(SIGKILL\)/);
  await waitFor("the container's server to die with it", () => !alive(first.pid), 5000);

  const again = await request(url);
  const text = await again.text();
  assert.equal(again.status, 200, text);
  const second = JSON.parse(text) as { pid: number; ppid: number };
  assert.notEqual(second.ppid, first.ppid, "a new container");
});

test("kill -9 of berth server (process runtime): its containers die with it, a blocked one and what it spawned included; the next server starts clean", async (t) => {
  const home = tempHome(t);
  const port = randomPort();
  const server = berth(t, ["server", "--port", "0", "--runtime", "process"], { BERTH_HOME: home });
  const [, serverPort] = await server.waitFor(/listening on http:\/\/localhost:(\d+)/);
  const deploy = berth(t, ["deploy", tempApp(t, "orphans.ts", fixedPortApp(port)), "--server", `http://127.0.0.1:${serverPort}`, "--no-typecheck"], {
    BERTH_HOME: home,
  });
  assert.equal(await deploy.exited, 0, deploy.output());
  const url = (fn: string) => deploy.output().match(new RegExp(`${fn}\\s+(http://\\S+)`))![1]!;
  const served = (await (await request(url("fixed"))).json()) as { pid: number; ppid: number };
  const blocked = request(url("block")).catch((error: Error) => error);
  const [, agent, child] = await server.waitFor(/blocking agent (\d+) child (\d+)/);
  const pids = { fixedServer: served.pid, fixedAgent: served.ppid, blockedAgent: Number(agent), blockedChild: Number(child) };
  killAfter(t, () => Object.values(pids));
  for (const [name, pid] of Object.entries(pids)) assert.ok(alive(pid), `${name} runs`);

  server.child.kill("SIGKILL");
  await server.exited;
  await blocked;
  for (const [name, pid] of Object.entries(pids)) await waitFor(`${name} (${pid}) to die with the server`, () => !alive(pid), 5000);

  // The next server on the same home restores the app, and the fixed port is free for it.
  const next = berth(t, ["server", "--port", "0", "--runtime", "process"], { BERTH_HOME: home });
  const [, nextPort] = await next.waitFor(/listening on http:\/\/localhost:(\d+)/);
  const restored = await request(url("fixed").replace(`:${serverPort}`, `:${nextPort}`));
  assert.equal(restored.status, 200, await restored.clone().text());
  await restored.body?.cancel();
});

test("kill -9 of berth server during an image build (process runtime): the build's commands die with it", async (t) => {
  const home = tempHome(t);
  const pidFile = join(home, "build.pid");
  const server = berth(t, ["server", "--port", "0", "--runtime", "process"], { BERTH_HOME: home });
  const [, serverPort] = await server.waitFor(/listening on http:\/\/localhost:(\d+)/);
  const app = tempApp(
    t,
    "building.ts",
    `import { App, Image } from "berthjs";
const app = new App("building", { image: Image.debianSlim().runCommands("echo $$ > ${pidFile}; sleep 600") });
export const f = app.function().webEndpoint(() => "built");
`,
  );
  const deploy = berth(t, ["deploy", app, "--server", `http://127.0.0.1:${serverPort}`, "--no-typecheck"], { BERTH_HOME: home });
  const shell = await waitFor("the build step to run", () => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : undefined), 30_000);
  killAfter(t, () => [shell]);
  assert.ok(alive(shell));
  server.child.kill("SIGKILL");
  await server.exited;
  await deploy.exited;
  await waitFor(`the build's shell (${shell}) to die with the server`, () => !alive(shell), 5000);
});


/** A `sleep` argument no other run shares: 600 s and a random fraction. */
const sleepMarker = () => `600.${Math.floor(Math.random() * 1e9)}`;

test("kill -9 of berth server (sandbox runtime): a blocked container, what it spawned and an image build die with it; the next server sweeps its folder", sandboxTest(), async (t) => {
  const home = tempHome(t);
  const [inContainer, inBuild] = [sleepMarker(), sleepMarker()];
  const server = berth(t, ["server", "--port", "0", "--runtime", "sandbox"], { BERTH_HOME: home });
  const [, serverPort] = await server.waitFor(/listening on http:\/\/localhost:(\d+)/);
  const target = ["--server", `http://127.0.0.1:${serverPort}`, "--no-typecheck"];
  const blocking = tempApp(
    t,
    "blocking.ts",
    `import { spawn } from "node:child_process";
import { App } from "berthjs";
const app = new App("blocking");
export const block = app.function({ timeout: 600 }).webEndpoint(() => {
  spawn("sleep", ["${inContainer}"], { stdio: "ignore" });
  while (true) Math.random();
});
`,
  );
  const deploy = berth(t, ["deploy", blocking, ...target], { BERTH_HOME: home });
  assert.equal(await deploy.exited, 0, deploy.output());
  const url = deploy.output().match(/block\s+(http:\/\/\S+)/)![1]!;
  const blocked = request(url).catch((error: Error) => error);
  await waitFor("the blocked container's child", () => processesRunning("sleep", inContainer)[0], 30_000);
  const building = tempApp(
    t,
    "building.ts",
    `import { App, Image } from "berthjs";
const app = new App("building", { image: Image.debianSlim().runCommands("sleep ${inBuild}") });
export const f = app.function().webEndpoint(() => "built");
`,
  );
  const build = berth(t, ["deploy", building, ...target], { BERTH_HOME: home });
  await waitFor("the build step", () => processesRunning("sleep", inBuild)[0], 60_000);
  killAfter(t, () => [...processesRunning("sleep", inContainer), ...processesRunning("sleep", inBuild)]);
  const sandboxRoots = () => readdirSync(tmpdir()).filter((name) => name.startsWith(`berth-sandboxes-${server.child.pid}-`));
  assert.equal(sandboxRoots().length, 1, "the server's sandbox folder");

  server.child.kill("SIGKILL");
  await server.exited;
  await Promise.all([blocked, build.exited]);
  await waitFor("the blocked container's child to die with the server", () => processesRunning("sleep", inContainer).length === 0, 10_000);
  await waitFor("the build step to die with the server", () => processesRunning("sleep", inBuild).length === 0, 10_000);

  // The next server removes the dead one's sandbox folder as it starts.
  const next = berth(t, ["server", "--port", "0", "--runtime", "sandbox"], { BERTH_HOME: home });
  await next.waitFor(/listening on http:\/\/localhost:(\d+)/);
  assert.deepEqual(sandboxRoots(), [], "no sandbox folder of the dead server is left");
});

test("a starting server sweeps what a dead run left: its processes, its socket folder, its temp files", async (t) => {
  // A dead run: a process id that no longer runs, with a start time that cannot match.
  const dead = await deadPid();
  const run = `${dead}-1`;
  const leftover = spawn("sleep", ["600"], { env: { ...process.env, BERTH_RUN: `${run}/0.a1` }, stdio: "ignore", detached: true });
  t.after(() => {
    if (alive(leftover.pid!)) process.kill(leftover.pid!, "SIGKILL");
  });
  const sockets = join(tmpdir(), `berth-run-${run}-0`);
  mkdirSync(sockets, { recursive: true });
  writeFileSync(join(sockets, "c1.sock"), "");
  const home = tempHome(t);
  const imageTemp = join(home, "images", `${"a".repeat(64)}.${run}.0f0f.tmp`);
  const blobTemp = join(home, "blobs", "sha256", `${"b".repeat(64)}.${run}.0f0f.tmp`);
  mkdirSync(imageTemp, { recursive: true });
  mkdirSync(join(home, "blobs", "sha256"), { recursive: true });
  writeFileSync(blobTemp, "");
  // Temp files of a live run (this test process) are another server's work in progress: kept.
  const liveTemp = join(home, "blobs", "sha256", `${"c".repeat(64)}.${process.pid}-${startTime(process.pid)}.0f0f.tmp`);
  writeFileSync(liveTemp, "");

  await startPlatform(t, { home });
  await waitFor("the dead run's process to be killed", () => !alive(leftover.pid!), 5000);
  assert.equal(existsSync(sockets), false, "its socket folder is removed");
  assert.equal(existsSync(imageTemp), false, "its image temp folder is removed");
  assert.equal(existsSync(blobTemp), false, "its blob temp file is removed");
  assert.ok(existsSync(liveTemp), "a live run's temp file is kept");
});

/** A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), which with its pid names one run. */
function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

/** A pid that no process has now (a child that has exited). */
async function deadPid(): Promise<number> {
  const child = spawn("true");
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}
