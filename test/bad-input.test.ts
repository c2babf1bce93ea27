/**
 * What goes wrong, and what the user and the client see: duplicate labels,
 * handlers that throw or never return, unknown hosts, a valibot schema, and
 * a redeploy under load that must not fail a request in flight.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BerthError } from "../src/errors/codes.js";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { waitFor } from "./support/wait.js";

test("two functions with the same label are refused at deploy", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "dup.ts",
    `import { App } from "berthjs";
const app = new App("dup");
export const a = app.function().webEndpoint({ label: "same" }, () => 1);
export const b = app.function().webEndpoint({ label: "same" }, () => 2);
`,
  );
  await assert.rejects(platform.deploy(file), /functions a and b have the same URL label/);
});

test("a label with nothing URL-safe in it is the user's mistake: invalid_input naming it, not a 500", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "underscores.ts",
    `import { App } from "berthjs";
const app = new App("underscores");
export const f = app.function().webEndpoint({ label: "___" }, () => 1);
`,
  );
  await assert.rejects(platform.deploy(file), (error: unknown) => {
    assert.ok(error instanceof BerthError);
    assert.equal(error.code, "invalid_input");
    assert.equal(error.status, 422);
    assert.match(error.message, /Label "___" has no letters or digits/);
    return true;
  });
});

test("rollback: a malformed body is a 400, a bad version a 422; no body rolls back to the previous version", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(t, "rb.ts", `import { App } from "berthjs";\nconst app = new App("rb");\nexport const f = app.function().webEndpoint(() => 1);\n`);
  await platform.deploy(file);
  await platform.deploy(file);
  const rollback = (body?: string) =>
    request(`${platform.server.url}/api/apps/rb/rollback`, { method: "POST", headers: { ...platform.auth, "content-type": "application/json" }, body });
  const malformed = await rollback("{version: 1");
  assert.equal(malformed.status, 400);
  assert.equal(((await malformed.json()) as { error: { code: string } }).error.code, "bad_request");
  const wrongType = await rollback('{"version":"1"}');
  assert.equal(wrongType.status, 422);
  assert.equal(((await wrongType.json()) as { error: { code: string } }).error.code, "invalid_input");
  const apps = await platform.client.listApps();
  assert.equal(apps.find((app) => app.name === "rb")?.version, 2, "neither refused call rolled back");
  const empty = await rollback();
  assert.equal(empty.status, 200);
  assert.match(await empty.text(), /"type":"result".*"version":3/);
  assert.equal((await platform.client.listApps()).find((app) => app.name === "rb")?.version, 3);
});

test("a throwing handler gives a generic 500; the stack goes to the logs only", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "boom.ts",
    `import { App } from "berthjs";
const app = new App("boom");
export const boom = app.function().webEndpoint(() => { throw new Error("secret internals"); });
`,
  );
  const url = platform.url(await platform.deploy(file), "boom");
  const response = await request(url);
  assert.equal(response.status, 500);
  const body = await response.text();
  assert.doesNotMatch(body, /secret internals/);
  assert.deepEqual(JSON.parse(body), { error: { code: "internal_error", message: "Internal Server Error" } });
  const lines: string[] = [];
  await platform.client.logs("boom", {}, (entry) => lines.push(entry.line));
  assert.ok(lines.some((line) => line.includes("secret internals")), lines.join("\n"));
});

test("a handler that never returns is bounded by the function timeout: 504", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "hang.ts",
    `import { App } from "berthjs";
const app = new App("hang");
export const hang = app.function({ timeout: 1 }).webEndpoint(() => new Promise(() => {}));
`,
  );
  const url = platform.url(await platform.deploy(file), "hang");
  const started = Date.now();
  const response = await request(url);
  assert.equal(response.status, 504);
  assert.equal(((await response.json()) as { error: { code: string } }).error.code, "timeout");
  assert.ok(Date.now() - started < 10_000);
});

test("unknown hosts and the bare host answer JSON", async (t) => {
  const platform = await startPlatform(t);
  const unknown = await request(`http://test--nothing-here.localhost:${platform.server.port}/`);
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, "unknown_host");
  const deeper = await request(`http://a.b.localhost:${platform.server.port}/`);
  assert.equal(deeper.status, 404);
  const health = await request(`http://localhost:${platform.server.port}/api/health`);
  assert.equal(health.status, 200);
});

test("query validation with valibot works like zod", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "vsquare.ts",
    `import { App } from "berthjs";
import * as v from "valibot";
const app = new App("vsquare");
export const square = app.function().webEndpoint(
  { query: v.object({ x: v.pipe(v.string(), v.transform(Number), v.integer()) }) },
  ({ query }) => ({ square: query.x ** 2 }),
);
`,
  );
  const url = platform.url(await platform.deploy(file), "square");
  assert.deepEqual(await (await request(`${url}?x=42`)).json(), { square: 1764 });
  const bad = await request(`${url}?x=1.5`);
  assert.equal(bad.status, 422);
  assert.deepEqual(((await bad.json()) as { error: { issues: { loc: string[] }[] } }).error.issues[0]!.loc, ["query", "x"]);
});

test("a redeploy makes a new version; every request in flight during it succeeds", async (t) => {
  const platform = await startPlatform(t);
  const source = (version: string) => `import { App } from "berthjs";
const app = new App("rolling");
export const v = app.function({ concurrency: { maxInputs: 4 } }).webEndpoint(async () => {
  await new Promise((resolve) => setTimeout(resolve, 100));
  return ${JSON.stringify(version)};
});
`;
  const file = tempApp(t, "rolling.ts", source("v1"));
  const url = platform.url(await platform.deploy(file), "v");
  assert.equal(await (await request(url)).json(), "v1");

  const statuses: number[] = [];
  const answers = new Set<string>();
  let stop = false;
  const clients = Array.from({ length: 6 }, async () => {
    for (let i = 0; i < 200 && !stop; i += 1) {
      const response = await request(url);
      statuses.push(response.status);
      answers.add((await response.json()) as string);
    }
  });
  const { writeFileSync } = await import("node:fs");
  writeFileSync(file, source("v2"));
  const result = await platform.deploy(file);
  assert.equal(result.version, 2);
  await waitFor("the clients to get answers from the new version", () => answers.has("v2") || undefined);
  stop = true;
  await Promise.all(clients);
  assert.ok(statuses.length > 10);
  assert.deepEqual([...new Set(statuses)], [200]);
  assert.deepEqual([...answers].sort(), ["v1", "v2"]);
  assert.equal(await (await request(url)).json(), "v2");
});
