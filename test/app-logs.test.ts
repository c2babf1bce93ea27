/**
 * App logs against the real platform: request ids on a request's lines and
 * on its access line, the query's values left out, stacks in the user's
 * .ts files, logs that survive a restart, served apps that leave nothing
 * behind, and the `berth app logs` / `berth app versions` commands against
 * a real `berth server`, including a log bomb with the server's memory
 * measured.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import type { LogEntry, LogPage } from "../src/wire/control-api.js";
import { berth, tempHome } from "./support/cli.js";
import { request, startPlatform, tempApp, type TestPlatform } from "./support/platform.js";
import { closed, connectWs, refusedUpgrade, roundTrip } from "./support/websocket.js";
import { waitFor } from "./support/wait.js";

const TALK = `import { App } from "berthjs";
const app = new App("talk");
export const talk = app.function({ concurrency: { maxInputs: 10 } }).webEndpoint(async ({ request }) => {
  const n = new URL(request.url).searchParams.get("n");
  console.log(\`start \${n}\`);
  await new Promise((resolve) => setTimeout(resolve, 20));
  console.error(\`end \${n}\`);
  return n;
});
export const quiet = app.function().webEndpoint(() => {
  console.log("quiet here");
  return "shh";
});
`;

async function entries(platform: TestPlatform, app: string, query: { requestId?: string; function?: string; dev?: boolean } = {}): Promise<LogEntry[]> {
  const all: LogEntry[] = [];
  await platform.client.logs(app, query, (entry) => all.push(entry));
  return all;
}

test("a request's lines carry its request id, found with --request; one access line per request, query values left out", async (t) => {
  const platform = await startPlatform(t);
  const deployed = await platform.deploy(tempApp(t, "talk.ts", TALK));
  const url = platform.url(deployed, "talk");
  // Concurrent requests on one container: each line must still name its own request. A client's own id is ignored.
  const responses = await Promise.all(
    [1, 2, 3, 4, 5].map((n) => request(`${url}?n=${n}&token=s3cret-query-value`, { headers: { "berth-request-id": "forged-1" } })),
  );
  const ids = await Promise.all(
    responses.map(async (response, i) => {
      assert.equal(response.status, 200);
      assert.equal(await response.json(), String(i + 1));
      return response.headers.get("berth-request-id")!;
    }),
  );
  assert.equal(new Set(ids).size, 5);
  assert.ok(!ids.includes("forged-1"));
  await waitFor("five access lines", async () => (await entries(platform, "talk")).filter((e) => e.stream === "access").length === 5 || undefined);

  for (const [i, id] of ids.entries()) {
    const mine = await entries(platform, "talk", { requestId: id });
    assert.deepEqual(
      mine.map((e) => [e.stream, e.line.replace(/ \d+(\.\d+)? ms.*/, "")]),
      [
        ["stdout", `start ${i + 1}`],
        ["stderr", `end ${i + 1}`],
        ["access", "GET /?n=…&token=… 200"],
      ],
    );
    for (const entry of mine) {
      assert.equal(entry.requestId, id);
      assert.equal(entry.function, "talk");
      assert.match(entry.container, /^c\w+$/);
      assert.ok(entry.time > Date.now() - 60_000 && entry.time <= Date.now());
    }
    const access = mine.at(-1)!.access!;
    assert.equal(access.status, 200);
    assert.equal(access.method, "GET");
    assert.ok(access.durationMs >= 20, `${access.durationMs} ms`);
  }
  // At least the first waited for the container's start; later ones may have found it ready.
  const colds = await Promise.all(ids.map(async (id) => (await entries(platform, "talk", { requestId: id })).at(-1)!.access!.coldStartMs));
  assert.ok(colds.some((ms) => ms > 0), `cold starts: ${colds.join(", ")}`);
  assert.ok(!JSON.stringify(await entries(platform, "talk")).includes("s3cret-query-value"));
  assert.ok(!JSON.stringify(await entries(platform, "talk")).includes("forged-1"));

  const warm = await request(`${url}?n=6`);
  const warmId = warm.headers.get("berth-request-id")!;
  await warm.text();
  const access = await waitFor("the warm request's access line", async () =>
    (await entries(platform, "talk", { requestId: warmId })).find((e) => e.stream === "access"),
  );
  assert.equal(access.access?.coldStartMs, 0, "a running container: no cold start");
  assert.match(access.line, /^GET \/\?n=… 200 [\d.]+ ms$/);

  // Lines outside any request carry no id: the container's ready line, a function filter.
  const quietUrl = platform.url(deployed, "quiet");
  await (await request(quietUrl)).text();
  const quiet = await waitFor("quiet's lines", async () => {
    const found = await entries(platform, "talk", { function: "quiet" });
    return found.some((e) => e.stream === "access") ? found : undefined;
  });
  assert.ok(quiet.every((e) => e.function === "quiet"));
  assert.ok(quiet.some((e) => e.stream === "system" && e.requestId === undefined && /container ready/.test(e.line)));
});

test("a thrown error's stack names the user's .ts file and line, once, without the bundle or the agent", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "boom.ts",
    `import { App } from "berthjs";
const app = new App("boom");
function deep(depth: number): number {
  if (depth > 2) throw new Error("kaboom");
  return deep(depth + 1);
}
export const boom = app.function().webEndpoint(() => deep(0));
`,
  );
  const response = await request(platform.url(await platform.deploy(file), "boom"));
  assert.equal(response.status, 500);
  const id = response.headers.get("berth-request-id")!;
  await response.text();
  const lines = await waitFor("the stack", async () => {
    const found = (await entries(platform, "boom", { requestId: id })).filter((e) => e.stream === "stderr").map((e) => e.line);
    return found.some((line) => / at /.test(line)) && found.length >= 5 ? found : undefined;
  });
  assert.equal(lines[0], "request failed: Error: kaboom", "the message once, with no prefix before it");
  assert.equal(lines.filter((line) => line.includes("kaboom")).length, 1);
  const name = join("test", file.split(`${join("test", "")}`).pop()!);
  assert.equal(lines[1], `    at deep (${name}:4:24)`);
  assert.equal(lines[2], `    at deep (${name}:5:10)`);
  assert.ok(lines.some((line) => line.includes(`${name}:7:`)), "the handler's own line");
  for (const line of lines) {
    assert.doesNotMatch(line, /app\.mjs|dist\/agent|file:\/\//, "no frame in the bundle, the agent or a file URL");
  }
  // The map sits beside the bundle, so importing the bundle does not read it.
  const [runDir] = readdirSync(join(platform.home, "run"));
  assert.ok(existsSync(join(platform.home, "run", runDir!, "app.mjs.map")));
  assert.doesNotMatch(readFileSync(join(platform.home, "run", runDir!, "app.mjs"), "utf8"), /sourceMappingURL=data:/);
});

test("a WebSocket connection gets one access line when it ends: 101 and its life; a refused upgrade its status", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "ws.ts",
    `import { createServer } from "node:http";
import { App } from "berthjs";
import { WebSocketServer } from "ws";
const app = new App("wslog");
export const sock = app.function({ concurrency: { maxInputs: 10 } }).webServer({}, ({ port }) => {
  const http = createServer((_req, res) => res.end("plain"));
  new WebSocketServer({ server: http, path: "/ws" }).on("connection", (ws) => ws.on("message", (data) => ws.send(data)));
  http.listen(port, "0.0.0.0");
});
`,
  );
  const url = platform.url(await platform.deploy(file), "sock");
  const ws = await connectWs(t, `${url}ws?room=secret-room`);
  assert.equal(await roundTrip(ws, "hi"), "hi");
  await new Promise((resolve) => setTimeout(resolve, 100));
  ws.close(1000);
  await closed(ws);
  const refused = await refusedUpgrade(t, `${url}nope`);
  const access = await waitFor("two access lines", async () => {
    const found = (await entries(platform, "wslog")).filter((e) => e.stream === "access");
    return found.length === 2 ? found : undefined;
  });
  // Told apart by request id, not order: the WebSocket's line is written when its connection ends, which under load can come after the refusal's.
  const refusal = access.find((entry) => entry.requestId === refused.headers["berth-request-id"]);
  const open = access.find((entry) => entry !== refusal);
  assert.ok(refusal, JSON.stringify(access));
  assert.equal(open!.access?.status, 101);
  assert.equal(open!.access?.path, "/ws?room=…");
  assert.ok(open!.access!.durationMs >= 100, `${open!.access!.durationMs} ms: the connection's life`);
  assert.match(open!.requestId!, /^[0-9a-f]{8}-\w+$/);
  assert.equal(refusal!.access?.status, refused.status);
  assert.equal(refusal!.requestId, refused.headers["berth-request-id"]);
});

test("logs survive a server restart; a stopped deployed app keeps its log", async (t) => {
  const home = tempHome(t);
  const first = await startPlatform(t, { home });
  const url = first.url(await first.deploy(tempApp(t, "talk.ts", TALK)), "talk");
  const response = await request(`${url}?n=before-restart`);
  const id = response.headers.get("berth-request-id")!;
  await response.text();
  await waitFor("the access line", async () => (await entries(first, "talk", { requestId: id })).some((e) => e.stream === "access") || undefined);
  await first.client.stopApp("talk");
  await first.server.close();

  const second = await startPlatform(t, { home });
  const kept = await entries(second, "talk", { requestId: id });
  assert.deepEqual(
    kept.map((e) => e.stream),
    ["stdout", "stderr", "access"],
  );
  assert.equal(kept[0]!.line, "start before-restart");
  assert.ok(existsSync(join(home, "logs", "test", "talk")));
});

test("a served app's log is in memory only and gone when it stops", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "talk.ts", TALK), { ephemeral: true }), "talk");
  await (await request(`${url}?n=dev`)).text();
  await waitFor("the served app's lines", async () => (await entries(platform, "talk", { dev: true })).some((e) => e.line === "start dev") || undefined);
  await assert.rejects(entries(platform, "talk"), /no deployed app named "talk"/, "the deployed app of that name is another, absent, app");
  await platform.client.stopApp("talk", true);
  await assert.rejects(entries(platform, "talk", { dev: true }), /no served app named "talk"/);
  assert.ok(!existsSync(join(platform.home, "logs", "test")) || readdirSync(join(platform.home, "logs", "test")).length === 0);
  // Served again under the same name, it starts with an empty log: the last session's lines were dropped.
  await platform.deploy(tempApp(t, "talk.ts", TALK), { ephemeral: true });
  assert.ok(!(await entries(platform, "talk", { dev: true })).some((e) => e.line === "start dev"));
});

/** A real `berth server` in its own home; the CLI in that home uses its admin token. */
async function realServer(t: TestContext, args: string[] = []) {
  const home = tempHome(t);
  const env = { BERTH_HOME: home };
  const server = berth(t, ["server", "--port", "0", ...args], env);
  const [, port] = await server.waitFor(/listening on http:\/\/localhost:(\d+)/);
  const url = `http://127.0.0.1:${port}`;
  const cli = async (command: string[], extra: Record<string, string> = {}) => {
    const run = berth(t, [...command, "--server", url], { ...env, ...extra });
    const code = await run.exited;
    return { code, output: run.output() };
  };
  return { home, env, server, url, cli };
}

test("berth app logs: --json, --request, --function, --tail, --since, -f; berth app versions names who deployed", async (t) => {
  const { env, url, cli } = await realServer(t);
  const created = await cli(["token", "create", "--name", "ci-bot"]);
  assert.equal(created.code, 0, created.output);
  const token = /^(bt_\S+)$/m.exec(created.output)![1]!;
  const file = tempApp(t, "talk.ts", TALK);
  assert.equal((await cli(["deploy", file, "--no-typecheck", "--token", token])).code, 0);
  const second = await cli(["deploy", file, "--no-typecheck"]);
  assert.equal(second.code, 0, second.output);
  const talkUrl = /talk\s+(http:\/\/\S+)/.exec(second.output)![1]!;

  const versions = await cli(["app", "versions", "talk"]);
  assert.equal(versions.code, 0, versions.output);
  const rows = versions.output.trim().split("\n");
  assert.match(rows[0]!, /VERSION\s+DEPLOYED\s+BUNDLE\s+BY/);
  assert.match(rows[1]!, /^ {2}v1 .+ [0-9a-f]{12} {2}ci-bot \(bt_[0-9a-f]{16}\)$/);
  assert.match(rows[2]!, /^\* v2 .+ [0-9a-f]{12} {2}bootstrap admin \(bt_[0-9a-f]{16}\)$/);
  const versionsJson = await cli(["app", "versions", "talk", "--json"]);
  const [v1, v2] = JSON.parse(versionsJson.output.slice(versionsJson.output.indexOf("["))) as { bundleHash: string; current: boolean }[];
  assert.equal(v1!.bundleHash, v2!.bundleHash, "the same file, the same bundle");
  assert.deepEqual([v1!.current, v2!.current], [false, true]);

  // The follower shows the newest line first, which says it is connected before the request it must see.
  await (await request(`${talkUrl}?n=before`)).text();
  await waitFor("the first access line", async () => /GET \/\?n=… 200/.test((await cli(["app", "logs", "talk", "--tail", "1"])).output) || undefined);
  const follower = berth(t, ["app", "logs", "talk", "-f", "--tail", "1", "--server", url], env);
  await follower.waitFor(/GET \/\?n=… 200/);
  const response = await request(`${talkUrl}?n=followed`);
  const id = response.headers.get("berth-request-id")!;
  await response.text();
  await follower.waitFor(new RegExp(`talk\\[c\\w+\\] ${id} start followed`));
  await follower.waitFor(new RegExp(`${id} GET /\\?n=… 200 [\\d.]+ ms`));
  follower.child.kill("SIGINT");
  assert.equal(await follower.exited, 0);

  const json = await cli(["app", "logs", "talk", "--json", "--request", id]);
  const lines = json.output.trim().split("\n").map((line) => JSON.parse(line) as LogEntry);
  assert.deepEqual(
    lines.map((e) => [e.stream, e.requestId]),
    [
      ["stdout", id],
      ["stderr", id],
      ["access", id],
    ],
  );
  const quietUrl = talkUrl.replace("talk-talk", "talk-quiet");
  await (await request(quietUrl)).text();
  await waitFor("quiet's access line", async () => /GET \/ 200/.test((await cli(["app", "logs", "talk", "--function", "quiet"])).output) || undefined);
  const quiet = await cli(["app", "logs", "talk", "--function", "quiet"]);
  assert.ok(quiet.output.trim().split("\n").every((line) => / quiet\[c\w+\] /.test(line)), quiet.output);
  const tail = await cli(["app", "logs", "talk", "--tail", "1"]);
  assert.equal(tail.output.trim().split("\n").length, 1);
  assert.match(tail.output, /GET \/ 200/);
  assert.match((await cli(["app", "logs", "talk", "--since", "10m"])).output, /start followed/);
  assert.equal((await cli(["app", "logs", "talk", "--since", "2999-01-01"])).output.trim(), "");
  const bad = await cli(["app", "logs", "talk", "--since", "yesterday"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.output, /--since takes a duration/);
  const tooMany = await cli(["app", "logs", "talk", "--tail", "999999"]);
  assert.notEqual(tooMany.code, 0);
  assert.match(tooMany.output, /tail/);
});

/** Resident memory of a process, in MB (Linux). */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match![1]) / 1024;
}

function directoryBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0);
}

test("a log bomb (40 lines of 5 MB, one 150 MB line without newline) keeps the server's memory, the store and app logs bounded", async (t) => {
  // At `warn`, the server does not copy container output into its own log (the test would hold it all).
  const { home, server, url, cli } = await realServer(t, ["--log-level", "warn"]);
  const file = tempApp(
    t,
    "bomb.ts",
    `import { App } from "berthjs";
const app = new App("bomb");
export const bomb = app.function({ timeout: 300 }).webEndpoint(() => {
  const line = "x".repeat(5 * 1024 * 1024);
  for (let i = 0; i < 40; i += 1) process.stdout.write(line + "\\n");
  process.stdout.write("y".repeat(150 * 1024 * 1024));
  return "done";
});
export const ping = app.function().webEndpoint(() => "pong");
`,
  );
  const deployed = await cli(["deploy", file, "--no-typecheck"]);
  assert.equal(deployed.code, 0, deployed.output);
  const bombUrl = /bomb\s+(http:\/\/\S+)/.exec(deployed.output)![1]!;
  const pingUrl = /ping\s+(http:\/\/\S+)/.exec(deployed.output)![1]!;
  assert.equal(await (await request(pingUrl)).text(), '"pong"');
  const pid = server.child.pid!;
  const before = rssMb(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 50);
  t.after(() => clearInterval(sampler));
  const started = Date.now();
  const response = await request(bombUrl);
  assert.equal(await response.text(), '"done"');
  // The container's pipe drains after its answer: wait until the end of the long line is stored and nothing more comes.
  const token = readToken(home);
  let last = "";
  await waitFor(
    "the bomb's output to be stored",
    async () => {
      const page = (await (await request(`${url}/api/apps/bomb/logs?tail=1`, { headers: { authorization: `Bearer ${token}` } })).json()) as LogPage;
      const settled = page.cursor === last && page.entries[0]?.line.startsWith("y");
      last = page.cursor;
      return settled || undefined;
    },
    180_000,
    1000,
  );
  clearInterval(sampler);
  const after = rssMb(pid);
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(`server RSS: ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB peak, ${after.toFixed(0)} MB after (${seconds.toFixed(1)} s for 350 MB)`);
  assert.ok(peak - before < 120, `the server grew by ${(peak - before).toFixed(0)} MB`);

  const stored = directoryBytes(join(home, "logs"));
  t.diagnostic(`log store: ${(stored / 1024 / 1024).toFixed(1)} MiB on disk`);
  assert.ok(stored <= 16 * 1024 * 1024, `${stored} bytes on disk`);
  const logs = await cli(["app", "logs", "bomb", "--tail", "5000", "--json"]);
  assert.equal(logs.code, 0);
  assert.ok(logs.output.length < 5 * 1024 * 1024, `app logs printed ${logs.output.length} bytes`);
  const printed = logs.output.trim().split("\n").map((line) => JSON.parse(line) as LogEntry);
  assert.ok(printed.every((e) => e.line.length <= 16 * 1024));
  assert.ok(printed.some((e) => e.continued && /^y+$/.test(e.line)), "the long line, in marked pieces");
  const page = await request(`${url}/api/apps/bomb/logs?tail=5000`, { headers: { authorization: `Bearer ${token}` } });
  assert.ok((await page.text()).length < 4.5 * 1024 * 1024);
  assert.equal(await (await request(pingUrl)).text(), '"pong"', "the server still serves");
});

function readToken(home: string): string {
  const config = JSON.parse(readFileSync(join(home, "config.json"), "utf8")) as { tokens?: Record<string, string> };
  const token = Object.values(config.tokens ?? {})[0];
  assert.ok(token, "the server saved its admin token");
  return token;
}
