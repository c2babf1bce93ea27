/**
 * Opening the dashboard leaves the data plane as fast as it was: hono/jsx
 * would run its renders in an AsyncLocalStorage, which on Node 20 turns on
 * async_hooks for the whole process for good, and every request the gateway
 * proxies then pays for them (src/dashboard/http.ts, renderWithoutAsyncContext).
 * Checked in a process of its own (test/support/async-hooks-probe.ts): the
 * test runner has async_hooks on in its own.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";

test("serving a function and the dashboard's pages leaves async_hooks off in the server's process", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "test/support/async-hooks-probe.ts"], { timeout: 120_000 });
  const seen = JSON.parse(stdout.trim().split("\n").at(-1)!);
  assert.deepEqual(seen.served, { status: 200, body: '"Hello world!"' });
  assert.equal(seen.beforeDashboard, false, "async_hooks were on before the dashboard rendered anything");
  assert.deepEqual(seen.login, { status: 200, form: true }, "the sign-in page renders");
  assert.deepEqual(seen.app, { status: 200, names: true }, "a signed-in page renders");
  assert.equal(seen.afterDashboard, false, "rendering the dashboard turned async_hooks on");
});
