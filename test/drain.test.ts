/**
 * Draining through the real platform: on redeploy, live reload and app stop,
 * containers stop taking new inputs, finish what they have in flight, run
 * `exit`, then end; old and new versions overlap until the old one is
 * drained. The first test is Knative's graceful-drain e2e test as the issue
 * states it (six 12 s requests started 1 s apart, then a redeploy).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { sleep, stats, waitFor, waitForLog } from "./support/wait.js";

const versioned = (answer: string, ms: number) => `
import { App } from "berthjs";
const app = new App("drain");
export const work = app.function({
  exit: () => console.log("exit ran in ${answer}"),
}).webEndpoint(async ({ query }) => {
  await new Promise((resolve) => setTimeout(resolve, Number(query.ms ?? ${ms})));
  return { version: "${answer}" };
});
`;

test("graceful drain: six 12 s requests 1 s apart survive a redeploy with the old answer; new requests get the new version", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(t, "drain.ts", versioned("v1", 12_000));
  const url = platform.url(await platform.deploy(file), "work");

  const inFlight: Promise<{ status: number; body: unknown }>[] = [];
  for (let i = 0; i < 6; i += 1) {
    inFlight.push(request(url).then(async (response) => ({ status: response.status, body: await response.json() })));
    await sleep(1000);
  }
  writeFileSync(file, versioned("v2", 0));
  await platform.deploy(file);

  // Both versions run side by side while the old one drains.
  const during = await stats(platform, "drain");
  assert.ok(during.some((f) => f.draining && f.pools[0]!.inFlight > 0), "the old version is draining with work in flight");
  const fresh = await request(url);
  assert.equal(fresh.status, 200);
  assert.deepEqual(await fresh.json(), { version: "v2" });

  const results = await Promise.all(inFlight);
  assert.deepEqual(
    results,
    Array.from({ length: 6 }, () => ({ status: 200, body: { version: "v1" } })),
  );
  await waitForLog(platform, "drain", /exit ran in v1/);
  await waitFor("the old version to be gone", async () => (await stats(platform, "drain")).every((f) => !f.draining) || undefined, 15_000);
});

test("live reload (an ephemeral redeploy) lets the old version finish its request", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(t, "drain.ts", versioned("old", 1500));
  const url = platform.url(await platform.deploy(file, { ephemeral: true }), "work");
  assert.match(url, /-dev\./);
  const slow = request(url);
  await waitFor("the request to be in flight", async () => (await stats(platform, "drain", true))[0]!.pools[0]?.inFlight === 1 || undefined);
  writeFileSync(file, versioned("new", 0));
  await platform.deploy(file, { ephemeral: true });
  assert.deepEqual(await (await request(url)).json(), { version: "new" });
  const old = await slow;
  assert.equal(old.status, 200);
  assert.deepEqual(await old.json(), { version: "old" });
});

test("app stop: the URL stops answering at once, in-flight requests finish, exit runs", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(t, "drain.ts", versioned("stopping", 1500));
  const url = platform.url(await platform.deploy(file), "work");
  const slow = request(url);
  await waitFor("the request to be in flight", async () => (await stats(platform, "drain"))[0]!.pools[0]?.inFlight === 1 || undefined);
  const stopped = platform.client.stopApp("drain");
  // The stop takes the routes away before it records the app as stopped (and long before the drain ends).
  await waitFor("the app to be recorded as stopped", async () => (await platform.client.listApps()).some((app) => app.name === "drain" && app.state === "stopped") || undefined);
  const refused = await request(url);
  assert.equal(refused.status, 404);
  await refused.body?.cancel();
  const old = await slow;
  assert.equal(old.status, 200);
  assert.deepEqual(await old.json(), { version: "stopping" });
  await stopped;
  await waitForLog(platform, "drain", /exit ran in stopping/);
});
