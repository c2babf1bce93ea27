/**
 * The error table (src/errors/codes.ts) and the README's table of errors
 * say the same: every code with its status, no code missing from either.
 * And `BerthError` round-trips through the JSON the platform answers with,
 * which is how the CLI reads the server's errors.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { BerthError, ERRORS, errorBody, issuesOf, type ErrorCode } from "../src/errors/codes.js";

/** `| 404 | \`not_found\` | ... |` rows of the README's "Errors and status codes" section, as `code → status`. */
function readmeTable(): Map<string, number[]> {
  const readme = readFileSync(resolve(import.meta.dirname, "..", "README.md"), "utf8");
  const start = readme.indexOf("## Errors and status codes");
  assert.ok(start >= 0, "the README has an errors section");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const rows = new Map<string, number[]>();
  for (const match of section.matchAll(/^\|\s*(\d{3})\s*\|\s*`([a-z_]+)`\s*\|/gm)) {
    const [, status, code] = match;
    if (status === undefined || code === undefined) continue;
    rows.set(code, [...(rows.get(code) ?? []), Number(status)]);
  }
  return rows;
}

test("the README's error table lists every code of src/errors/codes.ts with its status, and nothing else", () => {
  const documented = readmeTable();
  const table = new Map(Object.entries(ERRORS).map(([code, entry]) => [code, [entry.status]]));
  const missing = [...table.keys()].filter((code) => !documented.has(code));
  const unknown = [...documented.keys()].filter((code) => !table.has(code));
  assert.deepEqual(missing, [], "codes missing from the README's table");
  assert.deepEqual(unknown, [], "codes in the README that src/errors/codes.ts does not have");
  for (const [code, statuses] of documented) assert.deepEqual(statuses, table.get(code), `the status of ${code}`);
});

test("a BerthError answers with its code's status and the table's message unless it has its own", () => {
  const plain = new BerthError("queue_full");
  assert.equal(plain.status, 503);
  assert.deepEqual(plain.toJSON(), { error: { code: "queue_full", message: ERRORS.queue_full.message } });
  const specific = new BerthError("invalid_input", "bad label", { details: { issues: [{ loc: ["label"], message: "too long" }] }, headers: { "retry-after": "1" } });
  assert.deepEqual(specific.toJSON(), { error: { code: "invalid_input", message: "bad label", issues: [{ loc: ["label"], message: "too long" }] } });
  assert.deepEqual(specific.headers, { "retry-after": "1" });
  for (const [code, entry] of Object.entries(ERRORS)) {
    assert.ok(entry.status >= 400 && entry.status <= 599, `${code} is an error status`);
    assert.ok(entry.message.length > 0, `${code} has a message`);
  }
});

test("the JSON of an answer becomes the same BerthError again (how the CLI reads the server)", () => {
  const issues = [{ loc: ["body", "name"], message: "required" }];
  const read = BerthError.fromResponse(422, errorBody("invalid_input", "Invalid request input.", { issues }));
  assert.equal(read.code, "invalid_input");
  assert.equal(read.message, "Invalid request input.");
  assert.deepEqual(issuesOf(read), issues);
  // Not our JSON (a proxy's page, an unknown code): the status decides.
  const foreign: [number, unknown, ErrorCode][] = [
    [404, "<html>", "not_found"],
    [502, { error: { code: "no_such_code" } }, "upstream_failed"],
    [418, undefined, "bad_request"],
    [599, null, "internal_error"],
  ];
  for (const [status, body, code] of foreign) assert.equal(BerthError.fromResponse(status, body).code, code, `HTTP ${status}`);
});
