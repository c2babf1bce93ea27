/**
 * Parametrized functions: query parameters named in the `params` schema
 * select a container pool; defaults apply when absent; invalid values are a
 * 422 naming the field; `enter` runs once per container with its params; the
 * document's `?root=...` file server, `%2F` included.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { sandboxTest, startSandboxPlatform } from "./support/sandbox.js";
import { connectWs, refusedUpgrade, roundTrip } from "./support/websocket.js";

test("the server-files example: each ?root= gets its own pool of python file servers; %2F is / (sandbox runtime)", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const url = platform.url(await platform.deploy("examples/server-files.ts"), "files");
  assert.match(url, /^http:\/\/test--server-files\.localhost:\d+\/$/);

  const byDefault = await request(url);
  assert.equal(byDefault.status, 200);
  assert.match(await byDefault.text(), /berth\//, "root defaults to the container's working directory, the image's /");

  const slash = await request(`${url}?root=%2F`);
  assert.equal(slash.status, 200);
  assert.match(await slash.text(), /Directory listing for \/\?root=\/[^]*etc\//);

  const file = await request(`${url}hostname?root=${encodeURIComponent("/etc")}`);
  assert.equal(file.status, 200);
  assert.equal(await file.text(), "berth\n");

  const explicitDefault = await request(`${url}?root=.`);
  assert.equal(explicitDefault.status, 200);
  await explicitDefault.text();

  const pools = platform.server.platform.stats("test", "server")[0]!.pools;
  assert.deepEqual(pools.map((pool) => pool.params).sort(), [`root="."`, `root="/"`, `root="/etc"`].sort());
  for (const pool of pools) assert.equal(pool.coldStarts, 1, `one container for ${pool.params}`);
});

const PARAMS_APP = `
import { App } from "berthjs";
import { z } from "zod";

const app = new App("paramsapp");
let enters = 0;
const params = z.object({ n: z.coerce.number().int().min(1).default(1), mode: z.enum(["a", "b"]).default("a") });

export const fn = app
  .function({
    params,
    concurrency: { maxInputs: 10 },
    enter: ({ params }) => {
      enters += 1;
      return { pid: process.pid, seen: { ...params } };
    },
  })
  .fetchApp(({ params, state }) => ({
    fetch: () => Response.json({ params, state, enters }),
  }));

export const required = app
  .function({ params: z.object({ region: z.string().min(2) }) })
  .webEndpoint(({ params }) => ({ region: params.region }));

export const regexed = app
  .function({ params: z.object({ code: z.string().regex(/^[a-z]+$/).default("eu"), pattern: z.string().min(2).default("xx") }) })
  .webEndpoint(({ params }) => params);
`;

test("params: defaults, coercion, one pool and one enter per set, 422 for invalid, missing or repeated values", async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy(tempApp(t, "params.ts", PARAMS_APP));
  const url = platform.url(result, "fn");
  type Body = { params: { n: number; mode: string }; state: { pid: number; seen: unknown }; enters: number };
  const get = async (query: string) => {
    const response = await request(`${url}${query}`);
    assert.equal(response.status, 200, query);
    return (await response.json()) as Body;
  };

  const plain = await get("");
  assert.deepEqual(plain.params, { n: 1, mode: "a" });
  assert.deepEqual(plain.state.seen, { n: 1, mode: "a" });
  assert.equal(plain.enters, 1);
  const same = await get("?n=1&mode=a&unrelated=x");
  assert.equal(same.state.pid, plain.state.pid, "explicit defaults share the default set's pool");

  const two = await get("?n=2");
  assert.deepEqual(two.params, { n: 2, mode: "a" });
  assert.notEqual(two.state.pid, plain.state.pid, "another set, another container");
  assert.equal(two.enters, 1, "enter ran once in this container");
  const twoAgain = await get("?mode=a&n=2");
  assert.equal(twoAgain.state.pid, two.state.pid);
  assert.equal(twoAgain.enters, 1);

  for (const [query, loc, message] of [
    ["?n=abc", "n", /integer/],
    ["?n=0", "n", />= 1/],
    ["?mode=c", "mode", /"a", "b"/],
    ["?n=1&n=2", "n", /more than once/],
  ] as const) {
    const response = await request(`${url}${query}`);
    assert.equal(response.status, 422, query);
    const body = (await response.json()) as { error: { code: string; issues: { loc: string[]; message: string }[] } };
    assert.equal(body.error.code, "invalid_input");
    assert.deepEqual(body.error.issues[0]!.loc, ["query", loc], query);
    assert.match(body.error.issues[0]!.message, message, query);
  }
  assert.equal(platform.server.platform.stats("test", "paramsapp").find((s) => s.function === "fn")!.pools.length, 2, "invalid sets start nothing");

  const requiredUrl = platform.url(result, "required");
  const missing = await request(requiredUrl);
  assert.equal(missing.status, 422);
  assert.deepEqual(((await missing.json()) as { error: { issues: { loc: string[]; message: string }[] } }).error.issues, [
    { loc: ["query", "region"], message: "required" },
  ]);
  const region = await request(`${requiredUrl}?region=eu`);
  assert.equal(region.status, 200);
  assert.deepEqual(await region.json(), { region: "eu" });

  // Regexes run only in the container (never user regexes on client input in the gateway): a mismatch fails that set's start.
  const regexedUrl = platform.url(result, "regexed");
  const lower = await request(`${regexedUrl}?code=us`);
  assert.equal(lower.status, 200);
  assert.deepEqual(await lower.json(), { code: "us", pattern: "xx" });
  const upper = await request(`${regexedUrl}?code=US`);
  assert.equal(upper.status, 503);
  assert.match(((await upper.json()) as { error: { message: string } }).error.message, /invalid params: params\.code: .*must match pattern/);
  const shortPattern = await request(`${regexedUrl}?pattern=x`);
  assert.equal(shortPattern.status, 422, "a field named pattern keeps its other constraints in the gateway");
  await shortPattern.text();
});

test("params select the pool of WebSocket connections too, and invalid ones are refused with 422", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "ws-params.ts",
    `import { createServer } from "node:http";
import { App } from "berthjs";
import { WebSocketServer } from "ws";
import { z } from "zod";
const app = new App("wsparams");
export const room = app.function({ params: z.object({ name: z.string().default("lobby") }), concurrency: { maxInputs: 10 } }).nodeApp(({ params }) => {
  const server = createServer((_req, res) => res.end(params.name));
  new WebSocketServer({ server }).on("connection", (ws) => ws.on("message", (data) => ws.send(params.name + ":" + data.toString())));
  return server;
});
`,
  );
  const url = platform.url(await platform.deploy(file), "room");
  const lobby = await connectWs(t, url);
  assert.equal(await roundTrip(lobby, "hi"), "lobby:hi");
  const kitchen = await connectWs(t, `${url}?name=kitchen`);
  assert.equal(await roundTrip(kitchen, "hi"), "kitchen:hi");
  const refused = await refusedUpgrade(t, `${url}?name=a&name=b`);
  assert.equal(refused.status, 422);
});

test("params schemas the gateway cannot read are refused when the app is imported", async () => {
  const { App } = await import("../src/sdk/index.js");
  const v = await import("valibot");
  const { z } = await import("zod");
  const app = new App("refused");
  assert.throws(
    () => app.function({ params: v.object({ root: v.string() }) }).fetchApp(() => ({ fetch: () => new Response("") })),
    /params needs a schema that can describe itself as JSON Schema/,
  );
  assert.throws(
    () => app.function({ params: z.string() as never }).fetchApp(() => ({ fetch: () => new Response("") })),
    /params must be an object schema/,
  );
  const fine = app.function({ params: z.object({ root: z.string().default(".") }) }).fetchApp(() => ({ fetch: () => new Response("") }));
  const manifest = fine.describe("fine");
  assert.deepEqual(manifest.params, ["root"]);
  assert.deepEqual((manifest.paramsSchema as { properties: unknown }).properties, { root: { default: ".", type: "string" } });
});
