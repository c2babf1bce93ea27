/**
 * Bytes from a container are untrusted: through the real server, with real
 * deployed functions, a container that answers with malformed HTTP gets its
 * request a 502 (or a cut response once the head went out), is logged once
 * per container however often it happens, and never takes the gateway down.
 * The first two cases are the crashes of issue 9: a Python redirect app
 * building `Location` from `?next=%01`, and a raw server writing a header
 * with a control character; before the fix each one made the gateway
 * process exit.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { request, startPlatform, tempApp, type TestPlatform } from "./support/platform.js";
import { logs, waitFor } from "./support/wait.js";

const REFUSED = /the gateway refused a response of this container/;

/** A Python redirect app, as people write them: Location straight from the query string. */
const PYTHON_REDIRECT = `
import { spawn } from "node:child_process";
import { App } from "berthjs";
const app = new App("pyredirect");
const PY = \`
import http.server, urllib.parse, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        self.send_response(302)
        self.send_header("Location", q.get("next", ["/"])[0])
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
\`;
export const login = app.function({ maxContainers: 1 }).webServer({}, () => {
  spawn("python3", ["-c", PY], { stdio: "inherit" });
});
`;

/**
 * A raw TCP server that answers each request with the bytes its path names.
 * `close` scenarios end the connection after writing; the others keep it.
 */
const RAW_SERVER = `
import { createServer } from "node:net";
import { App } from "berthjs";
const app = new App("rawhttp");
const ok = (...fields: string[]) => ["HTTP/1.1 200 OK", ...fields, "", ""].join("\\r\\n");
const SCENARIOS: Record<string, { bytes: string; close?: boolean }> = {
  "/ok": { bytes: ok("Content-Length: 2") + "ok" },
  "/control-char-value": { bytes: ok("X-A: a\\x01b", "Content-Length: 2") + "ok", close: true },
  "/space-in-name": { bytes: ok("Bad Name: x", "Content-Length: 2") + "ok", close: true },
  "/bare-lf": { bytes: "HTTP/1.1 200 OK\\nContent-Length: 2\\n\\nok" },
  "/obs-fold": { bytes: ok("X-A: a", " folded", "Content-Length: 2") + "ok", close: true },
  "/conflicting-length": { bytes: ok("Content-Length: 2", "Content-Length: 5") + "ok", close: true },
  "/length-and-chunked": { bytes: ok("Content-Length: 2", "Transfer-Encoding: chunked") + "2\\r\\nok\\r\\n0\\r\\n\\r\\n", close: true },
  "/bad-status": { bytes: "HTTP/1.1 2000 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok", close: true },
  "/oversized-head": { bytes: ok("X-Big: " + "a".repeat(70 * 1024), "Content-Length: 2") + "ok" },
  "/bad-chunk": { bytes: ok("Transfer-Encoding: chunked") + "2\\r\\nok\\r\\nzz\\r\\n" },
  "/short-body": { bytes: ok("Content-Length: 10") + "hello", close: true },
  "/long-body": { bytes: ok("Content-Length: 2") + "okEXTRA" },
  "/close-before-answer": { bytes: "", close: true },
};
/** Answers each request, then 100 ms later sends a second response nobody asked for, on the kept-alive connection. */
export const late = app.function({ maxContainers: 1 }).webServer({}, ({ port }) => {
  let served = 0;
  createServer((socket) => {
    socket.on("error", () => {});
    socket.on("data", () => {
      served += 1;
      socket.write(ok("Content-Length: " + String(served).length) + served);
      setTimeout(() => socket.write(ok("Content-Length: 8") + "INJECTED"), 100);
    });
  }).listen(port, "0.0.0.0");
});
export const raw = app.function({ maxContainers: 1 }).webServer({}, ({ port }) => {
  createServer((socket) => {
    let buffered = "";
    socket.on("error", () => {});
    socket.on("data", (data) => {
      buffered += data.toString("latin1");
      let end;
      while ((end = buffered.indexOf("\\r\\n\\r\\n")) >= 0) {
        const path = buffered.slice(0, end).split(" ")[1]!;
        buffered = buffered.slice(end + 4);
        const scenario = SCENARIOS[path] ?? SCENARIOS["/ok"]!;
        socket.write(Buffer.from(scenario.bytes, "latin1"));
        if (scenario.close) socket.end();
      }
    });
  }).listen(port, "0.0.0.0");
});
`;

async function refusals(platform: TestPlatform, app: string): Promise<string[]> {
  return (await logs(platform, app)).filter((entry) => REFUSED.test(entry.line)).map((entry) => entry.line);
}

test("a Python redirect with ?next=%01 gets 502, is logged once, and the gateway keeps serving", async (t) => {
  const platform = await startPlatform(t, { rateLimit: null });
  const url = platform.url(await platform.deploy(tempApp(t, "redirect.ts", PYTHON_REDIRECT)), "login");

  const good = await request(`${url}?next=/home`);
  assert.equal(good.status, 302);
  assert.equal(good.headers.get("location"), "/home");

  for (let i = 0; i < 20; i += 1) {
    const bad = await request(`${url}?next=%01`);
    assert.equal(bad.status, 502);
    const body = (await bad.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "upstream_failed");
    assert.match(body.error.message, /malformed HTTP response/);
    assert.ok(bad.headers.get("berth-request-id"));
  }
  // Still serving, the same container included.
  const after = await request(`${url}?next=/again`);
  assert.equal(after.status, 302);
  assert.equal(after.headers.get("location"), "/again");

  const lines = await waitFor("the refusal in the logs", async () => {
    const found = await refusals(platform, "pyredirect");
    return found.length > 0 ? found : undefined;
  });
  assert.equal(lines.length, 1, `logged once per container, not per request: ${lines.join("\n")}`);
  assert.match(lines[0]!, /the value of its Location header has a control character: "Location: \\u0001"; the client got 502/);
});

test("malformed responses from a raw server: 502 or a cut response, the connection discarded, one log line", async (t) => {
  const platform = await startPlatform(t, { rateLimit: null });
  const url = platform.url(await platform.deploy(tempApp(t, "raw.ts", RAW_SERVER)), "raw");
  assert.equal(await (await request(`${url}ok`)).text(), "ok");

  for (const path of ["control-char-value", "space-in-name", "bare-lf", "obs-fold", "conflicting-length", "length-and-chunked", "bad-status", "oversized-head"]) {
    const response = await request(`${url}${path}`);
    assert.equal(response.status, 502, path);
    assert.match(await response.text(), /malformed HTTP response/, path);
    // Every refusal closed that connection: the next request is served on a fresh one.
    const next = await request(`${url}ok`);
    assert.equal(next.status, 200, `after ${path}`);
    assert.equal(await next.text(), "ok");
  }

  for (const path of ["bad-chunk", "short-body"]) {
    const response = await request(`${url}${path}`);
    assert.equal(response.status, 200, path);
    await assert.rejects(response.text(), `${path}: the client must see the response cut, not complete`);
    assert.equal(await (await request(`${url}ok`)).text(), "ok");
  }

  // A container that closes without answering is a failure, not a protocol violation: 502, nothing logged for it here.
  assert.equal((await request(`${url}close-before-answer`)).status, 502);

  // Bytes beyond the declared length: the client gets exactly the declared body, and the connection is not reused.
  const long = await request(`${url}long-body`);
  assert.equal(long.status, 200);
  assert.equal(await long.text(), "ok");
  for (let i = 0; i < 3; i += 1) assert.equal(await (await request(`${url}ok`)).text(), "ok");

  const lines = await refusals(platform, "rawhttp");
  assert.equal(lines.length, 1, `once per container: ${lines.join("\n")}`);
  assert.match(lines[0]!, /X-A header has a control character/);
});

test("a response nobody asked for, sent on an idle kept-alive connection, never reaches the next client", async (t) => {
  const platform = await startPlatform(t, { rateLimit: null });
  const url = platform.url(await platform.deploy(tempApp(t, "raw.ts", RAW_SERVER)), "late");
  const answers: string[] = [];
  for (let i = 0; i < 5; i += 1) {
    answers.push(await (await request(url)).text());
    // Past the container's unsolicited second answer: the gateway must have dropped that connection.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.ok(!answers.includes("INJECTED"), `answers: ${answers.join(", ")}`);
  assert.deepEqual(answers, ["1", "2", "3", "4", "5"]);
  const lines = await waitFor("the refusal in the logs", async () => {
    const found = await refusals(platform, "rawhttp");
    return found.length > 0 ? found : undefined;
  });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /it sent bytes with no request outstanding .*; the connection was closed/);
});

/**
 * A `node` function whose code writes garbage onto the agent's multiplexed
 * socket (src/mux), which it can reach from inside its own process: only
 * the requests on that container's wire fail (502), the gateway logs it
 * once to the app, opens a new wire for the next request, and other
 * functions never notice.
 */
const WIRE_BREAKER = `
import { Socket } from "node:net";
import { App } from "berthjs";
const app = new App("wirebreaker");
export const breaker = app.function({ maxContainers: 1 }).nodeApp(() => (req, res) => {
  if (req.url === "/break") {
    const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
    const wires = handles.filter((h): h is Socket & { server?: { address(): unknown } } =>
      h instanceof Socket && String((h as { server?: { address(): unknown } }).server?.address?.() ?? "").endsWith("mux.sock"));
    // A frame of an unknown type (9) on stream 1.
    for (const wire of wires) wire.write(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 9]));
    res.setHeader("x-wires", String(wires.length));
    return;
  }
  res.end("ok");
});
export const bystander = app.function({}).webEndpoint(() => "still here");
`;

test("a function that writes garbage onto its agent's multiplexed socket fails only its own requests", async (t) => {
  const platform = await startPlatform(t, { rateLimit: null });
  const name = await platform.deploy(tempApp(t, "wire.ts", WIRE_BREAKER));
  const breaker = platform.url(name, "breaker");
  const bystander = platform.url(name, "bystander");
  assert.equal(await (await request(breaker)).text(), "ok");
  assert.equal(await (await request(bystander)).json(), "still here");

  const broken = await request(`${breaker}break`);
  assert.equal(broken.status, 502);
  assert.equal(((await broken.json()) as { error: { code: string } }).error.code, "upstream_failed");

  // The same container serves the next request over a new wire; the other function never noticed.
  for (let i = 0; i < 3; i += 1) {
    assert.equal(await (await request(breaker)).text(), "ok");
    assert.equal(await (await request(bystander)).json(), "still here");
  }
  const lines = await waitFor("the wire fault in the logs", async () => {
    const found = (await logs(platform, "wirebreaker")).filter((entry) => /broke the wire's protocol/.test(entry.line));
    return found.length > 0 ? found : undefined;
  });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!.line, /unknown|malformed frame/);
});
