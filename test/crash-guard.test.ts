/**
 * The gateway survives faults of its own: a real server in a child process
 * with faults injected into Node's classes (test/support/fault-server.ts)
 * answers the request that hit one with 500, or cuts its WebSocket and
 * frees the slot, logs it with the stack, and keeps serving everyone. A
 * fault that no request owns is not swallowed: the process exits as Node's
 * default would, saying so.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { REPO, request } from "./support/platform.js";
import { waitFor } from "./support/wait.js";
import { closed, connectWs, roundTrip } from "./support/websocket.js";

test("an exception in the gateway ends only its own request (500 or a cut WebSocket), logged; one outside any request ends the process", async (t) => {
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO, "test", "support", "fault-server.ts")], {
    cwd: REPO,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const ready = await waitFor(
    "the fault server to deploy",
    () => {
      if (child.exitCode !== null) throw new Error(`the fault server exited ${child.exitCode}:\n${stdout}\n${stderr}`);
      return /\{"url".*\}/.exec(stdout)?.[0];
    },
    60_000,
  );
  const { url, wsUrl, port, token } = JSON.parse(ready) as { url: string; wsUrl: string; port: number; token: string };

  assert.equal(await (await request(url)).text(), "got 0");

  // writeHead throws inside the listener that reads the container's answer.
  const head = await request(url, { headers: { "x-explode": "1" } });
  assert.equal(head.status, 500);
  assert.equal(((await head.json()) as { error: { code: string } }).error.code, "internal_error");
  assert.equal(await (await request(url)).text(), "got 0");

  // A write to the container throws inside the request body's listener.
  const body = await request(url, { method: "POST", body: "xxEXPLODExx" });
  assert.equal(body.status, 500);
  await body.text();
  assert.equal(await (await request(url, { method: "POST", body: "fine" })).text(), "got 4");

  // A WebSocket send throws inside a listener of the client's socket: only the process guard sees that one.
  const ws = await connectWs(t, wsUrl);
  assert.equal(await roundTrip(ws, "hello"), "hello");
  ws.send("EXPLODE");
  assert.equal((await closed(ws)).code, 1006, "the relay is cut");
  const inFlight = async () => {
    const stats = (await (await request(`http://localhost:${port}/api/apps/fault/stats`, { headers: { authorization: `Bearer ${token}` } })).json()) as { functions: { function: string; pools: { inFlight: number }[] }[] };
    return stats.functions.find((fn) => fn.function === "ws")!.pools.reduce((sum, pool) => sum + pool.inFlight, 0);
  };
  await waitFor("the WebSocket's slot to be released", async () => (await inFlight()) === 0);
  // maxInputs 1, maxContainers 1: a leaked slot would keep this from opening.
  const again = await connectWs(t, wsUrl);
  assert.equal(await roundTrip(again, "still here"), "still here");
  again.close();

  assert.equal(child.exitCode, null, "the server is still running");
  // The server's log (pino, JSON lines on stdout when not a terminal) has each fault once, with its stack.
  const log = () => `${stdout}\n${stderr}`;
  assert.match(log(), /"msg":"unexpected error while proxying a response; the request got 500 or was cut"/);
  assert.match(log(), /"message":"injected fault: writeHead","stack":"TypeError: injected fault: writeHead\\n {4}at /);
  assert.match(log(), /"message":"injected fault: a body write"/);
  assert.match(log(), /"msg":"unexpected error in a WebSocket relay; both sides were cut"/);
  assert.match(log(), /"message":"injected fault: a WebSocket send"/);

  child.stdin.write("outside\n");
  assert.equal(await exited, 1);
  assert.match(log(), /"level":60.*"message":"a fault outside any request".*"msg":"uncaught exception outside any request; exiting"/);
});
