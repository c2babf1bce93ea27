/** Unit tests of the bounded line splitter and of a container's output on its way to log entries. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { redactor } from "../src/control/redact.js";
import { ContainerOutput } from "../src/logs/container-output.js";
import { LineSplitter, MAX_LINE_BYTES, type LinePiece } from "../src/logs/lines.js";
import type { LogEntry } from "../src/wire/control-api.js";

function split(chunks: (string | Buffer)[], maxBytes?: number): LinePiece[] {
  const pieces: LinePiece[] = [];
  const splitter = new LineSplitter((piece) => pieces.push(piece), maxBytes);
  for (const chunk of chunks) splitter.write(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  splitter.end();
  return pieces;
}

const text = (pieces: LinePiece[]) => pieces.map((piece) => piece.text);

test("lines are cut at newlines, across chunks; CRLF loses its CR; a last line without newline comes at the end", () => {
  assert.deepEqual(text(split(["one\ntw", "o\r\nthr", "ee"])), ["one", "two", "three"]);
  assert.deepEqual(text(split(["\n\n"])), ["", ""]);
  assert.ok(split(["a\n", "b\n"]).every((piece) => !piece.continued));
});

test("a line longer than the cap is let go in marked pieces of the cap, the last unmarked", () => {
  const pieces = split(["abcdefghij", "klm\nz\n"], 4);
  assert.deepEqual(text(pieces), ["abcd", "efgh", "ijkl", "m", "z"]);
  assert.deepEqual(
    pieces.map((piece) => piece.continued),
    [true, true, true, false, false],
  );
});

test("a 150 MB line without a newline is held 16 KiB at a time, never whole", () => {
  const chunk = Buffer.alloc(64 * 1024, "y");
  let pieces = 0;
  let longest = 0;
  let last: LinePiece | undefined;
  const splitter = new LineSplitter((piece) => {
    pieces += 1;
    longest = Math.max(longest, Buffer.byteLength(piece.text));
    last = piece;
  });
  const total = 150 * 1024 * 1024;
  for (let written = 0; written < total; written += chunk.length) splitter.write(chunk);
  assert.equal(pieces, total / MAX_LINE_BYTES - 1, "every full piece but the one still filling was let go");
  assert.equal(longest, MAX_LINE_BYTES);
  assert.equal(last?.continued, true);
  splitter.end();
  assert.equal(pieces, total / MAX_LINE_BYTES);
  assert.equal(last?.continued, false, "the stream's end completes the line");
});

test("UTF-8 characters cut by a chunk or a piece boundary come out whole; invalid bytes become U+FFFD", () => {
  const euro = Buffer.from("€"); // 3 bytes
  assert.deepEqual(text(split([euro.subarray(0, 1), Buffer.concat([euro.subarray(1), Buffer.from("\n")])])), ["€"]);
  // A cap of 5 bytes cuts "a€€" (7 bytes) inside the second euro: it moves whole to the next piece.
  assert.deepEqual(text(split(["a€€\n"], 5)), ["a€", "€"]);
  assert.deepEqual(text(split([Buffer.from([0x61, 0xff, 0x62, 0x0a])])), ["a\uFFFDb"]);
});

test("the agent's request label is stripped and its id kept, for every piece of a long line; malformed labels stay", () => {
  const pieces = split(["\x1eab12-3\x1fhello\n", "\x1eab12-4\x1f0123456789ABCDEFGH\n", "plain\n", "\x1eNOT OK\x1fx\n"], 20);
  assert.deepEqual(
    pieces.map((piece) => [piece.text, piece.requestId ?? null, piece.continued]),
    [
      ["hello", "ab12-3", false],
      ["0123456789AB", "ab12-4", true],
      ["CDEFGH", "ab12-4", false],
      ["plain", null, false],
      ["\x1eNOT OK\x1fx", null, false],
    ],
  );
});

function output(secrets: string[] = []) {
  const entries: LogEntry[] = [];
  const out = new ContainerOutput({
    app: "a",
    function: "f",
    container: "c1",
    redact: redactor(secrets),
    now: () => 1234,
    write: (entry) => entries.push(entry),
  });
  return { out, entries };
}

test("container output becomes entries with time, app, function, container, stream and request id, time first", () => {
  const { out, entries } = output();
  out.write(Buffer.from("\x1eab-1\x1finside\nout"), "stdout");
  out.write(Buffer.from("err\n"), "stderr");
  out.end("stdout");
  assert.deepEqual(entries, [
    { time: 1234, app: "a", function: "f", container: "c1", stream: "stdout", line: "inside", requestId: "ab-1" },
    { time: 1234, app: "a", function: "f", container: "c1", stream: "stderr", line: "err" },
    { time: 1234, app: "a", function: "f", container: "c1", stream: "stdout", line: "out" },
  ]);
  assert.ok(JSON.stringify(entries[0]).startsWith('{"time":'));
});

test("a secret printed across the 16 KiB cut of a long line is still masked whole", () => {
  const secret = "s3cret-value-0123456789";
  const { out, entries } = output([secret]);
  // The secret straddles the first cut.
  const line = `${"x".repeat(MAX_LINE_BYTES - 10)}${secret}${"y".repeat(MAX_LINE_BYTES)}\n`;
  out.write(Buffer.from(line), "stdout");
  const joined = entries.map((entry) => entry.line).join("");
  assert.ok(!joined.includes(secret.slice(0, 10)) && !joined.includes(secret.slice(10)), "no part of the secret shows");
  assert.match(joined, /x\[redacted\]y/);
  assert.equal(joined.length, line.length - 1 - secret.length + "[redacted]".length);
  assert.deepEqual(
    entries.map((entry) => entry.continued ?? false),
    entries.map((_entry, i) => i < entries.length - 1),
  );
});
