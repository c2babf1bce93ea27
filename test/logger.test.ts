/**
 * The server's log: JSON lines when nobody reads them in a terminal, one
 * readable line per event when someone does, a child logger per component,
 * levels, and a clear error for a level that does not exist.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BerthError } from "../src/errors/codes.js";
import { createLogger, parseLogLevel, type LogDestination } from "../src/logging/logger.js";
import { formatLine } from "../src/logging/pretty.js";

function capture(isTTY: boolean): LogDestination & { lines: string[] } {
  const lines: string[] = [];
  return { isTTY, lines, write: (chunk: string) => void lines.push(...chunk.split("\n").filter(Boolean)) };
}

test("not a terminal: one JSON object per event, with the component of the child logger", () => {
  const out = capture(false);
  const logger = createLogger({ destination: out });
  logger.child({ component: "gateway" }).info({ host: "x.localhost" }, "something happened");
  logger.debug("below the default level");
  assert.equal(out.lines.length, 1);
  const event: unknown = JSON.parse(out.lines[0] ?? "");
  assert.ok(typeof event === "object" && event !== null);
  assert.deepEqual(
    { ...event, time: 0, pid: 0, hostname: "" },
    { level: 30, time: 0, pid: 0, hostname: "", component: "gateway", host: "x.localhost", msg: "something happened" },
  );
});

test("a terminal: a readable line, an error's stack indented below it", () => {
  const out = capture(true);
  const logger = createLogger({ destination: out, level: "debug" }).child({ component: "control" });
  logger.debug({ app: "hello", version: 2 }, "deployed app");
  logger.error({ err: new Error("disk full") }, "could not restore app");
  // eslint-disable-next-line no-control-regex -- the colours a terminal gets, taken off to read the text
  const plain = out.lines.map((line) => line.replace(/\x1b\[\d+m/g, ""));
  assert.match(plain[0] ?? "", /^\d\d:\d\d:\d\d\.\d{3} DEBUG control: deployed app app=hello version=2$/);
  assert.match(plain[1] ?? "", /^\d\d:\d\d:\d\d\.\d{3} ERROR control: could not restore app$/);
  assert.match(plain[2] ?? "", /^ {4}Error: disk full$/);
  assert.equal(formatLine("not json"), "not json");
});

test("levels: by name, checked", () => {
  assert.equal(parseLogLevel("WARN"), "warn");
  assert.throws(() => parseLogLevel("loud"), (error: unknown) => error instanceof BerthError && error.code === "invalid_input" && /not a log level/.test(error.message));
  const out = capture(false);
  createLogger({ destination: out, level: "warn" }).info("dropped");
  assert.deepEqual(out.lines, []);
});
