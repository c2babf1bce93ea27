/**
 * A container killed from outside while it starts (issue 10, item 5): the
 * function did nothing wrong, so a replacement starts at once, without the
 * backoff that the function's own failures get, and the requests waiting
 * for it are served by the replacement instead of failing with 503. The
 * function's own failures still back off (test/lifecycle.test.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { containers, waitForLog } from "./support/wait.js";

const SLOW_START_APP = `
import { App } from "berthjs";
const app = new App("slowstart");
export const f = app.function({
  enter: async () => {
    console.log("entering in " + process.pid);
    await new Promise((resolve) => setTimeout(resolve, 1500));
  },
}).webEndpoint(() => ({ pid: process.pid }));
`;

test("kill -9 of a starting container: a replacement starts at once and the waiting requests get 200", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "slowstart.ts", SLOW_START_APP)), "f");
  const waiting = request(url);
  const entering = await waitForLog(platform, "slowstart", /entering in (\d+)/);
  const victim = Number(/entering in (\d+)/.exec(entering.line)![1]);
  process.kill(victim, "SIGKILL");
  // A request that arrives while the replacement starts waits for it too.
  await waitForLog(platform, "slowstart", /killed during start-up/);
  const later = request(url);

  const answers = await Promise.all([waiting, later]);
  for (const answer of answers) {
    const text = await answer.text();
    assert.equal(answer.status, 200, text);
    assert.notEqual((JSON.parse(text) as { pid: number }).pid, victim);
  }
  const now = await containers(platform, "slowstart", "f");
  assert.equal(now.startFailures, 1, "the killed start");
  const pool = (await platform.client.stats("slowstart")).functions[0]!.pools[0]!;
  assert.equal(pool.backoffMs, 0, "no backoff for a kill from outside");
});
