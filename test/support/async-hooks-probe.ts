/**
 * Run in a process of its own by test/dashboard-async-hooks.test.ts (the
 * test runner turns async_hooks on in its own process): a platform that
 * serves a function and the dashboard's pages, and whether async_hooks are
 * on in the process afterwards. Prints one JSON line.
 */
import { executionAsyncId } from "node:async_hooks";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundleApp } from "../../src/bundler/bundle.js";
import { ApiClient } from "../../src/cli/client.js";
import { startServer } from "../../src/server/start.js";
import { Browser } from "./form-browser.js";
import { request } from "./platform.js";

/** A promise's reaction runs in an async context of its own only while something tracks promises (an async hook, an AsyncLocalStorage in use). */
function asyncHooksOn(): Promise<boolean> {
  return new Promise((settle) => void Promise.resolve().then(() => settle(executionAsyncId() !== 0)));
}

const home = mkdtempSync(join(tmpdir(), "berth-hooks-"));
const server = await startServer({ home, port: 0, workspace: "test", warmAgents: 1, requireAuth: true, onLog: () => {} });
try {
  const token = server.bootstrapToken ?? "";
  const client = new ApiClient(server.url, undefined, token);
  const bundle = await bundleApp(resolve(import.meta.dirname, "../../examples/hello.ts"));
  await client.uploadBlob(bundle.hash, bundle.code);
  const deployed = await client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {});
  const answer = await request(deployed.functions[0]!.url);
  const served = { status: answer.status, body: await answer.text() };
  const beforeDashboard = await asyncHooksOn();

  const browser = new Browser(server.url);
  const login = await browser.get("/login");
  const loginHtml = await login.text();
  await browser.signIn(token);
  const apps = await browser.get("/w/test/apps/hello");
  const appsHtml = await apps.text();
  console.log(
    JSON.stringify({
      served,
      beforeDashboard,
      login: { status: login.status, form: loginHtml.includes('<form class="login"') },
      app: { status: apps.status, names: appsHtml.includes("hello") },
      afterDashboard: await asyncHooksOn(),
    }),
  );
} finally {
  await server.close();
  rmSync(home, { recursive: true, force: true });
}
