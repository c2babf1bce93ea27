/**
 * The log store conformance suite, run against every store (files, memory):
 * pages forward and back, filters, cursors across rotation, the byte bound,
 * dropping. Then what only files do: persistence, a torn last line, safe
 * directory names.
 */
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { silentLogger, type Logger } from "../src/logging/logger.js";
import { FileLogStore } from "../src/logs/file-store.js";
import { MemoryLogStore } from "../src/logs/memory-store.js";
import type { AppLogId, LogStore } from "../src/logs/store.js";
import type { LogEntry } from "../src/wire/control-api.js";

const app: AppLogId = { workspace: "w", app: "a", ephemeral: false };

function entry(n: number, extra: Partial<LogEntry> = {}): LogEntry {
  return { time: 1000 + n, app: "a", function: n % 2 === 0 ? "even" : "odd", container: "c1", stream: "stdout", line: `line ${n}`, ...extra };
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-logs-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const stores: [string, (t: TestContext, maxBytes?: number) => LogStore][] = [
  ["files", (t, maxBytes) => new FileLogStore(tempDir(t), { maxBytes, logger: silentLogger() })],
  ["memory", (_t, maxBytes) => new MemoryLogStore(maxBytes)],
];

const lines = (entries: LogEntry[]) => entries.map((e) => e.line);

for (const [name, make] of stores) {
  describe(`log store: ${name}`, () => {
    test("reads forward in pages: each cursor continues where the last page ended, `more` until the end", async (t) => {
      const store = make(t);
      store.append(app, Array.from({ length: 25 }, (_, n) => entry(n)));
      const first = await store.read(app, { limit: 10 });
      assert.deepEqual(lines(first.entries), Array.from({ length: 10 }, (_, n) => `line ${n}`));
      assert.equal(first.more, true);
      const second = await store.read(app, { limit: 10, after: first.cursor });
      assert.equal(second.entries[0]!.line, "line 10");
      const third = await store.read(app, { limit: 10, after: second.cursor });
      assert.deepEqual(lines(third.entries), ["line 20", "line 21", "line 22", "line 23", "line 24"]);
      assert.equal(third.more, false);
      const empty = await store.read(app, { limit: 10, after: third.cursor });
      assert.deepEqual(empty.entries, []);
      assert.equal(empty.cursor, third.cursor, "nothing new: the cursor stays");
      store.append(app, [entry(25)]);
      assert.deepEqual(lines((await store.read(app, { limit: 10, after: third.cursor })).entries), ["line 25"]);
    });

    test("tail gives the newest N matching, in order, and the end as cursor; tail 0 only the cursor", async (t) => {
      const store = make(t);
      store.append(app, Array.from({ length: 10 }, (_, n) => entry(n)));
      const tail = await store.read(app, { limit: 1000, tail: 3 });
      assert.deepEqual(lines(tail.entries), ["line 7", "line 8", "line 9"]);
      const none = await store.read(app, { limit: 1000, tail: 0 });
      assert.deepEqual(none.entries, []);
      assert.equal(none.cursor, tail.cursor);
      store.append(app, [entry(10)]);
      assert.deepEqual(lines((await store.read(app, { limit: 1000, after: tail.cursor })).entries), ["line 10"]);
    });

    test("filters: function, request id and since, alone and together, forward and in a tail", async (t) => {
      const store = make(t);
      store.append(app, [
        entry(0, { requestId: "r-1" }),
        entry(1, { requestId: "r-1" }),
        entry(2, { requestId: "r-12" }),
        entry(3),
        entry(4, { requestId: "r-1", line: "line 4 mentions r-12" }),
      ]);
      assert.deepEqual(lines((await store.read(app, { limit: 100, function: "even" })).entries), ["line 0", "line 2", "line 4 mentions r-12"]);
      assert.deepEqual(lines((await store.read(app, { limit: 100, requestId: "r-12" })).entries), ["line 2"], "an id inside another, or in a line, is no match");
      assert.deepEqual(lines((await store.read(app, { limit: 100, since: 1003 })).entries), ["line 3", "line 4 mentions r-12"]);
      assert.deepEqual(lines((await store.read(app, { limit: 100, requestId: "r-1", function: "odd" })).entries), ["line 1"]);
      assert.deepEqual(lines((await store.read(app, { limit: 100, tail: 5, since: 1002, function: "even" })).entries), ["line 2", "line 4 mentions r-12"]);
    });

    test("bounded by bytes: the oldest go first, a cursor from before them resumes at the oldest kept", async (t) => {
      const store = make(t, 64 * 1024);
      const first = await store.read(app, { limit: 1, tail: 0 });
      const long = "x".repeat(1000);
      for (let n = 0; n < 500; n += 1) store.append(app, [entry(n, { line: `${n} ${long}` })]);
      const all: LogEntry[] = [];
      for (let page = await store.read(app, { limit: 50 }); ; page = await store.read(app, { limit: 50, after: page.cursor })) {
        all.push(...page.entries);
        if (!page.more) break;
      }
      const bytes = all.reduce((sum, e) => sum + JSON.stringify(e).length + 1, 0);
      assert.ok(bytes <= 64 * 1024, `kept ${bytes} bytes`);
      assert.ok(bytes >= 48 * 1024, `kept ${bytes} bytes, more than 3/4 of the bound`);
      assert.equal(all.at(-1)!.time, 1499, "the newest are kept");
      const numbers = all.map((e) => Number(e.line.split(" ")[0]));
      assert.deepEqual(numbers, numbers.map((_, i) => numbers[0]! + i), "a contiguous run of the newest");
      const resumed = await store.read(app, { limit: 1, after: first.cursor });
      assert.equal(resumed.entries[0]!.line, all[0]!.line);
    });

    test("a page holds at most 4 MiB of entries whatever the limit", async (t) => {
      const store = make(t, 32 * 1024 * 1024);
      const big = "z".repeat(16 * 1024);
      store.append(app, Array.from({ length: 600 }, (_, n) => entry(n, { line: big })));
      const page = await store.read(app, { limit: 5000 });
      assert.ok(page.more);
      assert.ok(page.entries.length < 600 && page.entries.length >= 250, `${page.entries.length} entries`);
      const tail = await store.read(app, { limit: 5000, tail: 5000 });
      assert.ok(tail.entries.length < 600 && tail.entries.length >= 250, `${tail.entries.length} entries`);
      assert.equal(tail.entries.at(-1)!.time, 1599);
    });

    test("apps are apart (a served app and a deployed one of the same name too); drop forgets one and tells watchers", async (t) => {
      const store = make(t);
      const served = { ...app, ephemeral: true };
      store.append(app, [entry(1)]);
      store.append(served, [entry(2)]);
      let told = 0;
      const stop = store.watch(served, () => (told += 1));
      store.append(served, [entry(3)]);
      assert.equal(told, 1);
      store.drop(served);
      assert.equal(told, 2);
      stop();
      store.append(served, [entry(4)]);
      assert.equal(told, 2, "an unwatched log tells nobody");
      assert.deepEqual(lines((await store.read(app, { limit: 10 })).entries), ["line 1"]);
      assert.deepEqual(lines((await store.read(served, { limit: 10 })).entries), ["line 4"]);
    });
  });
}

test("memory: lines of every length and script survive its ring wrapping around, growing, and a line larger than the bound", async () => {
  const maxBytes = 100 * 1024;
  const store = new MemoryLogStore(maxBytes);
  const scripts = ["plain", "é accentué", "日本語のログ", "emoji 🚢⚓", "quote \" and \\ and \n"];
  const written: string[] = [];
  // Lengths that do not divide the ring's size, so lines straddle its end at every offset.
  for (let n = 0; n < 3000; n += 1) {
    const line = `${n} ${scripts[n % scripts.length]!} ${"x".repeat((n * 37) % 900)}`;
    written.push(line);
    store.append(app, [entry(n, { line })]);
  }
  const all: LogEntry[] = [];
  for (let page = await store.read(app, { limit: 100 }); ; page = await store.read(app, { limit: 100, after: page.cursor })) {
    all.push(...page.entries);
    if (!page.more) break;
  }
  const bytes = all.reduce((sum, e) => sum + Buffer.byteLength(JSON.stringify(e)) + 1, 0);
  assert.ok(bytes <= maxBytes && bytes > maxBytes - 2048, `kept ${bytes} bytes`);
  assert.deepEqual(lines(all), written.slice(-all.length), "the newest lines, whole and in order");
  const tail = await store.read(app, { limit: 7, tail: 7 });
  assert.deepEqual(lines(tail.entries), written.slice(-7));

  const huge = "h".repeat(150 * 1024);
  store.append(app, [entry(3000, { line: huge })]);
  const alone = await store.read(app, { limit: 10 });
  assert.deepEqual(lines(alone.entries), [huge], "a line over the bound is kept alone");
  store.append(app, [entry(3001, { line: "after" })]);
  assert.deepEqual(lines((await store.read(app, { limit: 10 })).entries), ["after"]);
});

test("memory: the index of line ends wraps and grows: long lines, then thousands of short ones, read whole from any cursor", async () => {
  const store = new MemoryLogStore(200 * 1024);
  const written: string[] = [];
  const write = (line: string) => {
    written.push(line);
    store.append(app, [entry(written.length, { line })]);
  };
  for (let n = 0; n < 500; n += 1) write(`long ${n} ${"y".repeat(1500)}`);
  for (let n = 0; n < 4000; n += 1) write(`s${n}`);
  const all: LogEntry[] = [];
  const cursors: string[] = [];
  for (let page = await store.read(app, { limit: 333 }); ; page = await store.read(app, { limit: 333, after: page.cursor })) {
    all.push(...page.entries);
    cursors.push(page.cursor);
    if (!page.more) break;
  }
  assert.ok(all.length > 2048, `${all.length} lines kept`);
  assert.deepEqual(lines(all), written.slice(-all.length));
  const resumed = await store.read(app, { limit: 2, after: cursors[3] });
  assert.deepEqual(lines(resumed.entries), written.slice(-all.length + 4 * 333, -all.length + 4 * 333 + 2));
  assert.deepEqual(lines((await store.read(app, { limit: 3, tail: 3 })).entries), written.slice(-3));
});

test("memory: access lines are kept as compact records and read back exactly, among JSON lines, across the ring wrapping", async () => {
  const maxBytes = 64 * 1024;
  const store = new MemoryLogStore(maxBytes);
  const paths = ["/", "/items?page=…&token=…", '/q"uote\\back', "/caf\u00e9/日本/🚢", "/ctl\u0001\u001f", `/${"p".repeat(1024)}…`];
  const access = (n: number): LogEntry => {
    const path = paths[n % paths.length]!;
    const info = { method: n % 3 === 0 ? "POST" : "GET", path, status: n % 5 === 0 ? 499 : 200, durationMs: (n % 97) / 10 + 0.1, coldStartMs: n % 7 === 0 ? 14.8 : 0 };
    return { time: 1_764_000_000_000 + n, app: "a", function: n % 2 === 0 ? "even" : "odd", container: `c${n % 3}`, stream: "access", line: `${info.method} ${path} ${info.status}`, requestId: `ab12-${n.toString(36)}`, access: info };
  };
  const written: LogEntry[] = [];
  for (let n = 0; n < 2000; n += 1) {
    // Every few requests a line of the container's own output, and entries a record would not keep exactly: stored as JSON.
    const batch = [access(n)];
    if (n % 10 === 0) batch.push(entry(n, { line: `out ${n}` }));
    if (n % 50 === 0) batch.push({ ...access(n), node: "n2" }, { ...access(n), access: { ...access(n).access!, path: "/lone\ud800" }, line: "GET /lone\ud800 200" });
    written.push(...batch);
    store.append(app, batch);
  }
  const all: LogEntry[] = [];
  for (let page = await store.read(app, { limit: 250 }); ; page = await store.read(app, { limit: 250, after: page.cursor })) {
    all.push(...page.entries);
    if (!page.more) break;
  }
  assert.deepEqual(all, written.slice(-all.length), "the newest entries, exactly as written, in order");
  const asJson = all.reduce((sum, e) => sum + Buffer.byteLength(JSON.stringify(e)) + 1, 0);
  assert.ok(asJson > 1.2 * maxBytes, `the bound held ${asJson} bytes of JSON: access lines are stored smaller than their JSON`);
  const last = written.at(-1)!;
  const byId = await store.read(app, { limit: 10, requestId: last.requestId });
  assert.deepEqual(byId.entries, all.filter((e) => e.requestId === last.requestId));
  assert.ok(byId.entries.length >= 1);
  const tail = await store.read(app, { limit: 5, tail: 5, stream: "access", function: "odd" });
  assert.deepEqual(tail.entries, all.filter((e) => e.stream === "access" && e.function === "odd").slice(-5));
});

test("files: the log survives a new store on the same directory; a line torn mid-write is cut off", async (t) => {
  const dir = tempDir(t);
  const before = new FileLogStore(dir, { logger: silentLogger() });
  before.append(app, [entry(1), entry(2)]);
  const cursor = (await before.read(app, { limit: 10 })).cursor;
  const [segment] = readdirSync(join(dir, "w", "a"));
  appendFileSync(join(dir, "w", "a", segment!), '{"time":1003,"app":"a","func');
  const after = new FileLogStore(dir, { logger: silentLogger() });
  assert.deepEqual(lines((await after.read(app, { limit: 10 })).entries), ["line 1", "line 2"]);
  after.append(app, [entry(3)]);
  assert.deepEqual(lines((await after.read(app, { limit: 10, after: cursor })).entries), ["line 3"], "cursors outlive the store");
});

test("files: rotation keeps whole segments under the bound; names cannot leave the directory", async (t) => {
  const dir = tempDir(t);
  const store = new FileLogStore(dir, { maxBytes: 80 * 1024, logger: silentLogger() });
  for (let n = 0; n < 300; n += 1) store.append(app, [entry(n, { line: "y".repeat(2000) })]);
  const files = readdirSync(join(dir, "w", "a"));
  const total = files.reduce((sum, file) => sum + statSync(join(dir, "w", "a", file)).size, 0);
  assert.ok(total <= 80 * 1024 && files.length >= 7, `${files.length} segments, ${total} bytes`);
  const evil: AppLogId = { workspace: "..", app: "../../etc", ephemeral: false };
  store.append(evil, [entry(1)]);
  assert.ok(existsSync(join(dir, "%2E%2E", "%2E%2E%2F%2E%2E%2Fetc")));
  assert.deepEqual(lines((await store.read(evil, { limit: 10 })).entries), ["line 1"]);
});

test("files: a disk that refuses writes loses lines, never throws, and warns once per 1000 failures", async (t) => {
  const blocker = join(tempDir(t), "not-a-directory");
  writeFileSync(blocker, "");
  const warnings: unknown[] = [];
  const logger = { warn: (fields: unknown) => warnings.push(fields) } as unknown as Logger;
  const store = new FileLogStore(blocker, { logger });
  for (let n = 0; n < 1001; n += 1) store.append(app, [entry(n)]);
  assert.equal(warnings.length, 2);
  assert.deepEqual((await store.read(app, { limit: 10 })).entries, []);
});
