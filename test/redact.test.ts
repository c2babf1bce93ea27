/** Unit tests of log redaction: which values are masked and how. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { redactor } from "../src/control/redact.js";

test("every occurrence of each value is masked, longest first; short values are left alone", () => {
  const redact = redactor(["s3cret-token", "s3cret-token-extended", "abc", "abcdef", "abcdef"]);
  assert.equal(redact("token=s3cret-token and again s3cret-token"), "token=[redacted] and again [redacted]");
  assert.equal(redact("long: s3cret-token-extended"), "long: [redacted]", "the longer value is masked whole");
  assert.equal(redact("abc is too short to hide; abcdef is not"), "abc is too short to hide; [redacted] is not");
  assert.equal(redact("nothing here"), "nothing here");
});

test("no values: lines pass through untouched", () => {
  const redact = redactor([]);
  const line = "plain line";
  assert.equal(redact(line), line);
});

test("a multi-line value is masked line by line, as logs arrive", () => {
  const key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----";
  const redact = redactor([key]);
  assert.equal(redact("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "[redacted]");
  assert.equal(redact("loaded -----BEGIN KEY-----"), "loaded [redacted]");
});
