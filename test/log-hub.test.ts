/** Unit tests of the log hub (batching, reads, follow, forgetting) and of access lines, on a fake clock over memory stores. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AccessLog, accessLine, accessPath } from "../src/logs/access.js";
import { LogHub } from "../src/logs/hub.js";
import { MemoryLogStore } from "../src/logs/memory-store.js";
import type { AppLogId } from "../src/logs/store.js";
import type { LogEntry } from "../src/wire/control-api.js";
import { FakeClock } from "./support/fake-clock.js";

const deployed: AppLogId = { workspace: "w", app: "a", ephemeral: false };
const served: AppLogId = { ...deployed, ephemeral: true };

function hub() {
  const clock = new FakeClock();
  const persistent = new MemoryLogStore();
  const ephemeral = new MemoryLogStore();
  const echoed: LogEntry[] = [];
  const logs = new LogHub({ persistent, ephemeral, clock, echo: (entry) => echoed.push(entry) });
  return { clock, persistent, ephemeral, echoed, logs };
}

const entry = (line: string, extra: Partial<LogEntry> = {}): LogEntry => ({ time: 1, app: "a", function: "f", container: "c", stream: "stdout", line, ...extra });
const lines = (entries: LogEntry[]) => entries.map((e) => e.line);

test("writes are echoed at once and stored in one batch 50 ms later; a read stores first", async () => {
  const { clock, persistent, echoed, logs } = hub();
  logs.write(deployed, entry("one"));
  logs.write(deployed, entry("two"));
  assert.deepEqual(lines(echoed), ["one", "two"]);
  assert.deepEqual((await persistent.read(deployed, { limit: 10 })).entries, []);
  clock.advance(50);
  assert.deepEqual(lines((await persistent.read(deployed, { limit: 10 })).entries), ["one", "two"]);
  logs.write(deployed, entry("three"));
  assert.deepEqual(lines((await logs.read(deployed, { limit: 10, tail: 1 })).entries), ["three"]);
});

test("a line that reaches the hub whole (a start-up error's message) is cut at 32 Ki characters, saying so", async () => {
  const { logs } = hub();
  logs.write(deployed, entry("x".repeat(10_000_000), { stream: "system" }));
  const [stored] = (await logs.read(deployed, { limit: 1 })).entries;
  assert.equal(stored!.line, `${"x".repeat(32 * 1024)} [cut: 10000000 characters]`);
});

test("a batch written whole (access lines) is stored at once, after the app's lines still waiting, and echoed", async () => {
  const { persistent, echoed, logs } = hub();
  logs.write(deployed, entry("output"));
  logs.writeBatch(deployed, [entry("GET / 200 1 ms", { stream: "access" }), entry("GET /b 200 2 ms", { stream: "access" })]);
  assert.deepEqual(lines((await persistent.read(deployed, { limit: 10 })).entries), ["output", "GET / 200 1 ms", "GET /b 200 2 ms"]);
  assert.deepEqual(lines(echoed), ["output", "GET / 200 1 ms", "GET /b 200 2 ms"]);
});

test("access records of several apps go out as one run per app, in order", () => {
  const clock = new FakeClock(5_000);
  const runs: [string, string[]][] = [];
  const access = new AccessLog({ write: (id, entries) => runs.push([id.app, entries.map((e) => e.requestId ?? "")]), clock, now: () => clock.now() });
  const a = { workspace: "w", appName: "a", functionName: "f", ephemeral: false, versionId: "v", hostLabel: "h" };
  const b = { ...a, appName: "b" };
  for (const [identity, requestId] of [[a, "1"], [{ ...a, functionName: "g" }, "2"], [b, "3"], [a, "4"]] as const) {
    access.record({ identity, requestId, method: "GET", url: "/", status: 200, durationMs: 1, coldStartMs: 0, container: "c", endedAt: clock.now() });
  }
  clock.advance(10);
  assert.deepEqual(runs, [["a", ["1", "2"]], ["b", ["3"]], ["a", ["4"]]]);
});

test("served apps go to their own store, deployed ones to theirs; forgetting drops a served log, keeps a deployed one", async () => {
  const { persistent, ephemeral, logs } = hub();
  logs.write(deployed, entry("kept"));
  logs.write(served, entry("dropped"));
  logs.forget(deployed);
  logs.forget(served);
  assert.deepEqual(lines((await persistent.read(deployed, { limit: 10 })).entries), ["kept"], "a stopped deployed app's pending lines are stored");
  assert.deepEqual((await ephemeral.read(served, { limit: 10 })).entries, []);
  assert.deepEqual((await persistent.read(served, { limit: 10 })).entries, []);
});

test("follow: the tail first, then each batch as it is stored, filtered, until aborted", async () => {
  const { clock, logs } = hub();
  logs.write(deployed, entry("old 1"));
  logs.write(deployed, entry("old 2"));
  const got: string[] = [];
  const abort = new AbortController();
  let wake: (() => void) | undefined;
  const sent = () => new Promise<void>((resolve) => (wake = resolve));
  let next = sent();
  const following = logs.follow(deployed, { tail: 1, function: "f" }, abort.signal, async (entries) => {
    got.push(...lines(entries));
    wake?.();
  });
  await next;
  assert.deepEqual(got, ["old 2"]);
  next = sent();
  logs.write(deployed, entry("new 1"));
  logs.write(deployed, entry("other function", { function: "g" }));
  logs.write(deployed, entry("new 2"));
  clock.advance(50);
  await next;
  assert.deepEqual(got, ["old 2", "new 1", "new 2"]);
  abort.abort();
  await following;
});

test("follow without tail or since starts at the end: nothing old", async () => {
  const { clock, logs } = hub();
  logs.write(deployed, entry("old"));
  clock.advance(50);
  const got: string[] = [];
  const abort = new AbortController();
  let wake: () => void = () => {};
  const next = new Promise<void>((resolve) => (wake = resolve));
  const following = logs.follow(deployed, {}, abort.signal, async (entries) => {
    got.push(...lines(entries));
    wake();
  });
  await new Promise((resolve) => setImmediate(resolve));
  logs.write(deployed, entry("new"));
  clock.advance(50);
  await next;
  assert.deepEqual(got, ["new"]);
  abort.abort();
  await following;
});

test("access lines: the query's values are left out, the line says method, path, status, time and cold start", () => {
  assert.equal(accessPath("/items?page=2&token=s3cret&flag"), "/items?page=…&token=…&…");
  assert.equal(accessPath("/plain"), "/plain");
  assert.equal(accessPath("/?"), "/");
  assert.equal(accessPath(`/${"a".repeat(2000)}`).length, 1025);
  assert.equal(accessLine({ method: "GET", path: "/x", status: 200, durationMs: 3.2, coldStartMs: 0 }), "GET /x 200 3.2 ms");
  assert.equal(accessLine({ method: "POST", path: "/", status: 500, durationMs: 60, coldStartMs: 48.5 }), "POST / 500 60 ms (cold start 48.5 ms)");
});

test("access records are kept raw and written in batches off the request path, stamped from their monotonic end", () => {
  const clock = new FakeClock(5_000);
  const written: [AppLogId, LogEntry][] = [];
  const access = new AccessLog({ write: (id, entries) => written.push(...entries.map((e): [AppLogId, LogEntry] => [id, e])), clock, now: () => 1_700_000_000_000 + clock.now() });
  const identity = { workspace: "w", appName: "a", functionName: "f", ephemeral: true, versionId: "v", hostLabel: "h" };
  access.record({ identity, requestId: "r-1", method: "GET", url: "/?k=v", status: 200, durationMs: 1.26, coldStartMs: 0, container: "c1", endedAt: 5_000 });
  assert.equal(written.length, 0, "nothing is formatted while the request ends");
  clock.advance(10);
  assert.equal(written.length, 1);
  const [id, line] = written[0]!;
  assert.deepEqual(id, served);
  assert.deepEqual(line, {
    time: 1_700_000_005_000,
    app: "a",
    function: "f",
    container: "c1",
    stream: "access",
    line: "GET /?k=… 200 1.3 ms",
    requestId: "r-1",
    access: { method: "GET", path: "/?k=…", status: 200, durationMs: 1.3, coldStartMs: 0 },
  });
  for (let i = 0; i < 256; i += 1) access.record({ identity, requestId: `r-${i}`, method: "GET", url: "/", status: 200, durationMs: 1, coldStartMs: 0, container: "c1", endedAt: clock.now() });
  assert.equal(written.length, 1, "not in the request that filled the batch");
  clock.advance(0);
  assert.equal(written.length, 257, "a full batch is written as soon as the event loop comes round, without waiting 10 ms");
});
