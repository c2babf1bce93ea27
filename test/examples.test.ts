/**
 * The examples, deployed to a real platform on the sandbox runtime (what
 * `berth server` runs) and called over real HTTP and WebSockets: the source
 * document's simple endpoints, then WebSockets, proxy auth, server-sent
 * events, and the client scripts (the typed client, plain fetch) run as the
 * README says, plus plain curl.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { REPO, request } from "./support/platform.js";
import { sandboxTest, startSandboxPlatform as startPlatform } from "./support/sandbox.js";
import { closed, connectWs, nextMessage } from "./support/websocket.js";

test("hello world returns the JSON string", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy("examples/hello.ts");
  const url = platform.url(result, "f");
  assert.match(url, /^http:\/\/test--hello-f\.localhost:\d+\/$/);
  const response = await request(url);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.ok(response.headers.get("berth-request-id"));
  assert.equal(await response.text(), '"Hello world!"');
});

test("square with a query parameter: valid, missing and non-integer", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy("examples/square.ts"), "square");
  const ok = await request(`${url}?x=42`);
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { square: 1764 });

  for (const query of ["", "?x=abc", "?x=1.5"]) {
    const bad = await request(`${url}${query}`);
    assert.equal(bad.status, 422, query);
    const body = (await bad.json()) as { error: { code: string; issues: { loc: string[] }[] } };
    assert.equal(body.error.code, "invalid_input");
    assert.deepEqual(body.error.issues[0]!.loc, ["query", "x"]);
  }
  const wrongMethod = await request(url, { method: "POST" });
  assert.equal(wrongMethod.status, 405);
});

test("square with a POST body: JSON object, malformed JSON, wrong content type", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy("examples/square-post.ts"), "square");
  const json = { "content-type": "application/json" };
  const ok = await request(url, { method: "POST", headers: json, body: '{"x": 42}' });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { square: 1764 });

  const malformed = await request(url, { method: "POST", headers: json, body: '{"x": 4' });
  assert.equal(malformed.status, 422);
  assert.deepEqual(((await malformed.json()) as { error: { issues: { loc: string[] }[] } }).error.issues[0]!.loc, ["body"]);

  const wrongType = await request(url, { method: "POST", headers: { "content-type": "text/plain" }, body: '{"x": 42}' });
  assert.equal(wrongType.status, 415);
  assert.equal(((await wrongType.json()) as { error: { code: string } }).error.code, "unsupported_media_type");
});

test("web-demo: typed body with a default returns HTML; bad fields are named; docs are served", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy("examples/web-demo.ts"), "f");
  const ok = await request(url, { method: "POST", headers: { "content-type": "application/json" }, body: '{"name": "Erik", "qty": 10}' });
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get("content-type")!, /^text\/html/);
  assert.equal(await ok.text(), "<html>Hello, Erik!</html>");

  const bad = await request(url, { method: "POST", headers: { "content-type": "application/json" }, body: '{"name": 7, "qty": "x"}' });
  assert.equal(bad.status, 422);
  const locs = ((await bad.json()) as { error: { issues: { loc: string[] }[] } }).error.issues.map((i) => i.loc.join("."));
  assert.deepEqual(locs.sort(), ["body.name", "body.qty"]);

  const openapi = await request(`${url}openapi.json`);
  assert.equal(openapi.status, 200);
  const doc = (await openapi.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
  assert.match(doc.openapi, /^3\.1/);
  assert.ok(doc.paths["/"]!.post);
  const docs = await request(`${url}docs`);
  assert.equal(docs.status, 200);
  assert.match(await docs.text(), /<html/i);
});

test("websockets: a chat room; a message from one client reaches every client", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy("examples/websockets.ts"), "chat");
  const page = await request(url);
  assert.equal(await page.text(), "connect a WebSocket to /room\n");
  const ada = await connectWs(t, `${url}room?name=ada`);
  assert.match((await nextMessage(ada)).data.toString(), /^welcome, ada: 1 here$/);
  const bob = await connectWs(t, `${url}room?name=bob`);
  assert.match((await nextMessage(bob)).data.toString(), /^welcome, bob: 2 here$/);
  ada.send("hello");
  assert.equal((await nextMessage(ada)).data.toString(), "ada: hello");
  assert.equal((await nextMessage(bob)).data.toString(), "ada: hello");
  ada.send(Buffer.from([1, 2]), { binary: true });
  assert.deepEqual(await closed(ada), { code: 1003, reason: "text only" });
});

test("proxy auth: 401 without the token's headers, served with them, which never reach the function", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy("examples/proxy-auth.ts");
  const refused = await request(platform.url(result, "report"));
  assert.equal(refused.status, 401);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "unauthorized");
  const token = await platform.client.createToken({ kind: "proxy" });
  const headers = { "berth-key": token.key!, "berth-secret": token.secret! };
  const ok = await request(platform.url(result, "report"), { headers });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { secretReport: "for authorised callers only", sawCredentials: false });
  const api = await request(`${platform.url(result, "api")}things`, { method: "POST", headers });
  assert.equal(await api.text(), "POST /things: authorised\n");
  assert.equal((await request(`${platform.url(result, "api")}things`)).status, 401);
});

test("server-sent events: each event reaches the client as it is written, not at the end", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy("examples/sse.ts"), "ticks");
  const response = await request(`${url}?count=4&every=400`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  const arrivals: { at: number; text: string }[] = [];
  const decoder = new TextDecoder();
  for await (const chunk of response.body!) arrivals.push({ at: performance.now(), text: decoder.decode(chunk, { stream: true }) });
  const events = arrivals.map((a) => a.text).join("").split("\n\n").filter(Boolean);
  assert.equal(events.length, 4);
  assert.match(events[0]!, /^id: 1\nevent: tick\ndata: \{"n":1,"at":"[^"]+"\}$/);
  assert.match(events[3]!, /^id: 4\n/);
  // Written 400 ms apart: had the stream been buffered, everything would arrive at once, at the end.
  assert.ok(arrivals.length >= 2, `events arrived in ${arrivals.length} chunk(s)`);
  assert.ok(arrivals.at(-1)!.at - arrivals[0]!.at >= 600, `first and last event ${Math.round(arrivals.at(-1)!.at - arrivals[0]!.at)} ms apart`);
});

/** Runs one of the examples' client scripts with tsx, as the README says to. */
function runScript(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--import", "tsx", script, ...args], { cwd: REPO, timeout: 60_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${script} failed: ${stderr || error.message}`)) : resolve(stdout),
    );
  });
}

test("the typed-client script calls square and web-demo with types from their files", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const square = platform.url(await platform.deploy("examples/square.ts"), "square");
  const demo = platform.url(await platform.deploy("examples/web-demo.ts"), "f");
  const output = await runScript("examples/typed-client.ts", [square, demo]);
  assert.equal(
    output,
    "square(42) = 1764\ngreet: 200 <html>Hello, Erik!</html>\nsquare(1.5): invalid_input: query.x Invalid input: expected int, received number\n",
  );
});

test("the README's recipes: plain fetch through undici's dispatcher, and plain curl", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy("examples/square.ts"), "square");
  assert.equal(await runScript("examples/call-with-fetch.ts", [`${url}?x=42`]), '200 {"square":1764}\n');
  // curl resolves *.localhost to loopback itself.
  const curl = await new Promise<string>((resolve, reject) =>
    execFile("curl", ["-s", `${url}?x=42`], { timeout: 30_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
  );
  assert.equal(curl, '{"square":1764}');
});
