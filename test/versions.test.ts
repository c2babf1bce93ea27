/** Versions: every deploy is a new version; a rollback redeploys an earlier one as the newest. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";
import { request, startPlatform, tempApp } from "./support/platform.js";

const source = (answer: string) => `import { App } from "berthjs";
const app = new App("versioned");
export const v = app.function().webEndpoint(() => ${JSON.stringify(answer)});
`;

test("rollback redeploys an earlier version as a new version", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(t, "versioned.ts", source("first"));
  const url = platform.url(await platform.deploy(file), "v");
  writeFileSync(file, source("second"));
  assert.equal((await platform.deploy(file)).version, 2);
  assert.equal(await (await request(url)).json(), "second");

  const back = await platform.client.rollback("versioned", undefined, () => {});
  assert.equal(back.version, 3);
  assert.equal(await (await request(url)).json(), "first");

  const forward = await platform.client.rollback("versioned", 2, () => {});
  assert.equal(forward.version, 4);
  assert.equal(await (await request(url)).json(), "second");

  await assert.rejects(platform.client.rollback("versioned", 99, () => {}), /has no version 99/);
  await assert.rejects(platform.client.rollback("nothing-here", undefined, () => {}), /no deployed app named "nothing-here"/);
  const listed = (await platform.client.listApps()).find((app) => app.name === "versioned");
  assert.equal(listed?.version, 4);
});
