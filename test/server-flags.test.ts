/** `berth server`'s flags as server options (sizes, proxy lists, rate limits, caps), `berth workspace limit`'s flags, and clear errors. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limitRequest } from "../src/cli/security-commands.js";
import { parseSize, securityOptions } from "../src/cli/server-flags.js";
import { mergeLimit } from "../src/control/security-api.js";

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

test("capacity, fairness and body flags become options, with clear errors", () => {
  assert.deepEqual(
    securityOptions({
      clientRateLimit: "20",
      failedAuthLimit: "5",
      maxContainers: "8",
      capacityWait: "10",
      bodyTimeout: "30",
      bodyMinRate: "4KiB",
      publicMetrics: true,
    }),
    {
      requireAuth: true,
      clientRateLimit: { rate: 20, burst: 100 },
      failedAuthLimit: { rate: 5, burst: 50 },
      maxContainers: 8,
      capacityWaitMs: 10_000,
      publicMetrics: true,
      limits: { bodyTimeoutMs: 30_000, bodyMinBytesPerSecond: 4096 },
    },
  );
  assert.deepEqual(securityOptions({ clientRateLimit: "2", clientBurst: "3" }).clientRateLimit, { rate: 2, burst: 3 });
  assert.throws(() => securityOptions({ clientBurst: "3" }), /--client-burst needs --client-rate-limit/);
  assert.throws(() => securityOptions({ maxContainers: "0" }), /--max-containers takes a whole number ≥ 1/);
  assert.throws(() => securityOptions({ maxContainers: "2.5" }), /--max-containers/);
  assert.throws(() => securityOptions({ bodyMinRate: "0" }), /--body-min-rate/);
});

test("workspace limit flags: any subset; `default` returns a value to the server's; merged over what is stored", () => {
  assert.deepEqual(limitRequest({ containers: "4" }), { containers: 4 });
  assert.deepEqual(limitRequest({ rate: "50", clientRate: "default", containers: "default" }), { rate: 50, clientRate: null, containers: null });
  assert.throws(() => limitRequest({ containers: "-1" }), /--containers takes a whole number or "default"/);
  assert.throws(() => limitRequest({ rate: "0" }), /--rate takes a number > 0/);
  const stored = { workspace: "a", rate: 10, burst: 50, clientRate: 2, clientBurst: 10, containers: 3 };
  assert.deepEqual(mergeLimit(stored, { containers: 5 }), { ...stored, containers: 5 }, "the rest stays");
  assert.deepEqual(mergeLimit(stored, { rate: 20 }), { ...stored, rate: 20, burst: 100 }, "a new rate alone gets 5 s worth");
  assert.deepEqual(mergeLimit(stored, { burst: 7 }), { ...stored, burst: 7 });
  assert.deepEqual(mergeLimit(stored, { rate: null, clientRate: null, containers: null }), { workspace: "a" });
  assert.deepEqual(mergeLimit({ workspace: "a" }, { clientRate: 1 }), { workspace: "a", clientRate: 1, clientBurst: 5 });
  assert.throws(() => mergeLimit({ workspace: "a" }, { burst: 3 }), /a burst needs a rate/);
});

test("workspace limits: clearing a burst gives 5 s worth of the rate in force", () => {
  assert.deepEqual(mergeLimit({ workspace: "a", rate: 10, burst: 3 }, { burst: null }), { workspace: "a", rate: 10, burst: 50 });
});
