/** Unit tests of the agent's request labels on stdout/stderr, read back by the platform's line splitter. */
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { test } from "node:test";
import { labelOutput, withRequestId } from "../src/agent/request-output.js";
import { LineSplitter, type LinePiece } from "../src/logs/lines.js";

function fakeStream() {
  const written: Buffer[] = [];
  const stream = {
    write(chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) {
      written.push(typeof chunk === "string" ? Buffer.from(chunk, typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8") : Buffer.from(chunk));
      if (typeof encoding === "function") (encoding as () => void)();
      if (typeof callback === "function") (callback as () => void)();
      return true;
    },
  };
  labelOutput(stream as unknown as NodeJS.WriteStream);
  return { stream: stream as unknown as NodeJS.WriteStream, written };
}

function linesOf(written: Buffer[]): [string, string | null][] {
  const pieces: LinePiece[] = [];
  const splitter = new LineSplitter((piece) => pieces.push(piece));
  for (const chunk of written) splitter.write(chunk);
  splitter.end();
  return pieces.map((piece) => [piece.text, piece.requestId ?? null]);
}

const requestWith = (id: string) => ({ rawHeaders: ["Host", "x", "berth-request-id", id] }) as unknown as IncomingMessage;

test("lines begun inside a request carry its id, in strings and bytes, across writes and timers; others none", async () => {
  const { stream, written } = fakeStream();
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  stream.write("before, unfinished ");
  const listener = withRequestId(() => {
    stream.write("ends the line begun outside\n");
    stream.write("one\ntwo");
    stream.write(" continued\n");
    stream.write(Buffer.from("three\nfour\n"));
    setTimeout(() => {
      stream.write("after a timer\n", () => done());
    }, 1);
  });
  listener(requestWith("ab12-3"), {} as ServerResponse);
  stream.write("outside\n");
  await finished;
  assert.deepEqual(linesOf(written), [
    ["before, unfinished ends the line begun outside", null],
    ["one", "ab12-3"],
    ["two continued", "ab12-3"],
    ["three", "ab12-3"],
    ["four", "ab12-3"],
    ["outside", null],
    ["after a timer", "ab12-3"],
  ]);
});

test("concurrent requests keep their own ids; a malformed id header labels nothing", async () => {
  const { stream, written } = fakeStream();
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  const handled: Promise<void>[] = [];
  const listener = withRequestId(() => {
    handled.push(
      (async () => {
        const me = String(handled.length);
        stream.write(`first ${me}\n`);
        await tick();
        stream.write(`second ${me}\n`);
      })(),
    );
  });
  listener(requestWith("r-1"), {} as ServerResponse);
  listener(requestWith("r-2"), {} as ServerResponse);
  listener(requestWith("NOT\x1fVALID"), {} as ServerResponse);
  await Promise.all(handled);
  assert.deepEqual(linesOf(written), [
    ["first 0", "r-1"],
    ["first 1", "r-2"],
    ["first 2", null],
    ["second 0", "r-1"],
    ["second 1", "r-2"],
    ["second 2", null],
  ]);
});

test("a string in another encoding is labelled as the bytes it stands for", () => {
  const { stream, written } = fakeStream();
  withRequestId(() => {
    (stream.write as (chunk: string, encoding: BufferEncoding) => boolean)(Buffer.from("hex line\n").toString("hex"), "hex");
  })(requestWith("r-9"), {} as ServerResponse);
  assert.deepEqual(linesOf(written), [["hex line", "r-9"]]);
});

test("the id header is found in any case; repeated, it labels nothing", () => {
  const { stream, written } = fakeStream();
  const listener = withRequestId((req) => {
    stream.write(`${(req as unknown as { label: string }).label}\n`);
  });
  const request = (label: string, rawHeaders: string[]) => ({ label, rawHeaders }) as unknown as IncomingMessage;
  listener(request("mixed case", ["Host", "x", "Berth-Request-Id", "m-1"]), {} as ServerResponse);
  listener(request("repeated", ["berth-request-id", "a-1", "Host", "x", "berth-request-id", "a-2"]), {} as ServerResponse);
  listener(request("none", ["Host", "x"]), {} as ServerResponse);
  assert.deepEqual(linesOf(written), [
    ["mixed case", "m-1"],
    ["repeated", null],
    ["none", null],
  ]);
});
