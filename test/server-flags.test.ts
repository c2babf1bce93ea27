/** `berth server`'s security flags as server options: sizes, proxy lists, rate limits, and clear errors. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSize, securityOptions } from "../src/cli/server-flags.js";

test("sizes take bytes and binary units", () => {
  assert.equal(parseSize("1000"), 1000);
  assert.equal(parseSize("100k"), 100 * 1024);
  assert.equal(parseSize("512MiB"), 512 * 1024 ** 2);
  assert.equal(parseSize("4GiB"), 4 * 1024 ** 3);
  assert.equal(parseSize("1.5g"), 1.5 * 1024 ** 3);
  assert.throws(() => parseSize("lots"), /"lots" is not a size/);
  assert.throws(() => parseSize("-1"), /not a size/);
});

test("flags become options; a server always requires tokens", () => {
  assert.deepEqual(securityOptions({}), { requireAuth: true });
  assert.deepEqual(securityOptions({ trustProxy: "10.0.0.0/8, 192.0.2.10,", rateLimit: "50", maxBody: "1MiB", secretKeyFile: "/keys/berth" }), {
    requireAuth: true,
    trustProxy: ["10.0.0.0/8", "192.0.2.10"],
    rateLimit: { rate: 50, burst: 250 },
    limits: { maxBodyBytes: 1024 ** 2 },
    secretKeyFile: "/keys/berth",
  });
  assert.deepEqual(securityOptions({ burst: "10" }).rateLimit, { rate: 200, burst: 10 });
  assert.throws(() => securityOptions({ rateLimit: "0" }), /--rate-limit must be > 0/);
  assert.throws(() => securityOptions({ burst: "1.5" }), /--burst an integer/);
});
