/**
 * `berth serve --server` across a restart of the server (issue 10, item 7):
 * the served app is ephemeral, so a restarted server no longer has it. The
 * CLI notices the server going away (its log stream ends), says so, waits
 * for it, registers the app again when it is back, says so, and follows its
 * logs again: the dev URL answers and the app's output reaches the terminal.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { berth, tempHome } from "./support/cli.js";
import { request, tempApp } from "./support/platform.js";
import { waitFor } from "./support/wait.js";

const APP = `
import { App } from "berthjs";
const app = new App("reconnecting");
export const f = app.function().webEndpoint(({ query }) => {
  console.log("served " + query.n);
  return "hello";
});
`;

/** A port unlikely to be taken by parallel test runs on this machine: the restarted server must get the same one. */
const randomPort = () => 20_000 + Math.floor(Math.random() * 20_000);

async function status(url: string): Promise<number> {
  try {
    const response = await request(url);
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

for (const how of ["SIGKILL", "SIGTERM"] as const) {
  test(`serve --server re-registers its app and resumes its logs when the server comes back (${how})`, async (t) => {
    const home = tempHome(t);
    const port = randomPort();
    const env = { BERTH_HOME: home };
    const first = berth(t, ["server", "--port", String(port), "--grace", "1"], env);
    await first.waitFor(/listening on http:\/\/localhost:\d+/);
    const serve = berth(t, ["serve", tempApp(t, "app.ts", APP), "--server", `http://127.0.0.1:${port}`, "--no-typecheck"], env);
    const [, url] = await serve.waitFor(/f\s+(http:\/\/\S+)/, 60_000);
    await serve.waitFor(/Watching for changes/);
    assert.equal(await status(`${url}?n=1`), 200);
    await serve.waitFor(/served 1/);

    first.child.kill(how);
    await first.exited;
    await serve.waitFor(/lost the server .*waiting for it/i, 15_000);
    const second = berth(t, ["server", "--port", String(port)], env);
    await second.waitFor(/listening on http:\/\/localhost:\d+/);

    await serve.waitFor(/server .* is back.*registered .* again/i, 30_000);
    await waitFor("the dev URL to answer again", async () => (await status(`${url}?n=2`)) === 200 || undefined, 15_000, 200);
    await serve.waitFor(/served 2/, 10_000);
    serve.child.kill("SIGINT");
    assert.equal(await serve.exited, 0, serve.output());
    t.diagnostic(`berth serve said:\n${serve.output()}`);
  });
}
