/**
 * `fetchApp` end to end with Hono 4: routes, path and query parameters, the
 * document's JSON `/echo`, middleware, custom statuses, server-sent events
 * that must arrive one by one through the gateway, client aborts reaching the
 * container, WebSockets through @hono/node-ws, and factories that fail.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { closed, connectWs, roundTrip } from "./support/websocket.js";

const HONO_APP = `
import { App } from "berthjs";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { createNodeWebSocket } from "@hono/node-ws";

const app = new App("honoapp");
let release: () => void = () => {};
let aborted = false;

export const api = app.function({ concurrency: { maxInputs: 20 } }).fetchApp(() => {
  const web = new Hono();
  const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app: web });
  web.use("*", async (c, next) => {
    await next();
    c.header("x-middleware", "ran");
  });
  web.get("/users/:id", (c) => c.json({ id: c.req.param("id"), sort: c.req.query("sort") ?? null, tags: c.req.queries("tag") ?? [] }));
  web.post("/echo", async (c) => c.json(await c.req.json()));
  web.post("/items", (c) => c.json({ created: true }, 201));
  web.get("/teapot", (c) => c.text("short and stout", 418));
  web.get("/events", (c) =>
    streamSSE(c, async (stream) => {
      await stream.writeSSE({ event: "tick", data: "one" });
      await new Promise<void>((resolve) => (release = resolve));
      await stream.writeSSE({ event: "tick", data: "two" });
    }),
  );
  web.post("/release", (c) => {
    release();
    return c.text("released");
  });
  web.get("/forever", (c) => {
    aborted = false;
    c.req.raw.signal.addEventListener("abort", () => (aborted = true));
    return streamSSE(c, async (stream) => {
      for (let i = 0; i < 600 && !aborted; i += 1) {
        await stream.writeSSE({ data: String(i) });
        await stream.sleep(50);
      }
    });
  });
  web.get("/aborted", (c) => c.json({ aborted }));
  web.get("/ws", upgradeWebSocket(() => ({
    onMessage(event, ws) {
      ws.send("hono:" + String(event.data));
    },
  })));
  return { fetch: web.fetch, injectWebSocket };
});
`;

test("Hono: routes, path and query parameters, /echo, middleware, custom statuses, 404", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "hono.ts", HONO_APP)), "api");

  const user = await request(`${url}users/42?sort=desc&tag=a&tag=b`);
  assert.equal(user.status, 200);
  assert.equal(user.headers.get("x-middleware"), "ran");
  assert.deepEqual(await user.json(), { id: "42", sort: "desc", tags: ["a", "b"] });

  const echo = await request(`${url}echo`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"hello":["world",1]}' });
  assert.equal(echo.status, 200);
  assert.deepEqual(await echo.json(), { hello: ["world", 1] });

  const created = await request(`${url}items`, { method: "POST" });
  assert.equal(created.status, 201);
  assert.deepEqual(await created.json(), { created: true });

  const teapot = await request(`${url}teapot`);
  assert.equal(teapot.status, 418);
  assert.equal(await teapot.text(), "short and stout");

  const missing = await request(`${url}nope`);
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get("x-middleware"), "ran");
  await missing.text();
});

test("Hono: server-sent events arrive one by one, and a client abort reaches the container", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "hono.ts", HONO_APP)), "api");

  const events = await request(`${url}events`);
  assert.equal(events.status, 200);
  assert.match(events.headers.get("content-type")!, /^text\/event-stream/);
  const reader = events.body!.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  // The handler sends "two" only after /release, which the test calls only after reading "one":
  // a gateway that buffered the stream would never deliver "one" and the read would time out.
  while (!seen.includes("data: one")) {
    const chunk = await withTimeout(reader.read(), "the first event did not arrive before the stream ended");
    assert.ok(!chunk.done, "the stream ended before the first event");
    seen += decoder.decode(chunk.value, { stream: true });
  }
  assert.ok(!seen.includes("data: two"));
  assert.equal(await (await request(`${url}release`, { method: "POST" })).text(), "released");
  for (;;) {
    const chunk = await withTimeout(reader.read(), "the stream did not finish");
    if (chunk.done) break;
    seen += decoder.decode(chunk.value, { stream: true });
  }
  assert.match(seen, /event: tick\ndata: one\n\n[^]*event: tick\ndata: two\n\n/);

  const controller = new AbortController();
  const forever = await request(`${url}forever`, { signal: controller.signal });
  const foreverReader = forever.body!.getReader();
  await withTimeout(foreverReader.read(), "no first event");
  controller.abort();
  await foreverReader.read().catch(() => {});
  let aborted = false;
  for (let i = 0; i < 100 && !aborted; i += 1) {
    aborted = ((await (await request(`${url}aborted`)).json()) as { aborted: boolean }).aborted;
    if (!aborted) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(aborted, "the container's request signal never aborted after the client went away");
  let inFlight = -1;
  for (let i = 0; i < 100 && inFlight !== 0; i += 1) {
    inFlight = platform.server.platform.stats("test", "honoapp")[0]!.pools[0]!.inFlight;
    if (inFlight !== 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(inFlight, 0, "the aborted request's slot is released");
});

test("Hono: WebSockets through @hono/node-ws's upgradeWebSocket", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "hono.ts", HONO_APP)), "api");
  const ws = await connectWs(t, `${url}ws`);
  assert.equal(ws.extensions, "", "permessage-deflate must not be negotiated");
  assert.equal(await roundTrip(ws, "hi"), "hono:hi");
  assert.equal(await roundTrip(ws, "again"), "hono:again");
  const done = closed(ws);
  ws.close(1000, "bye");
  assert.equal((await done).code, 1000);
  // A plain GET on the WebSocket route is the app's to answer, not the gateway's.
  const plain = await request(`${url}users/7`);
  assert.equal(plain.status, 200);
  await plain.text();
});

test("fetchApp factories that throw or return a non-app fail start-up with a clear error", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "bad.ts",
    `import { App } from "berthjs";
const app = new App("badfactory");
export const throws = app.function().fetchApp(() => { throw new Error("database unreachable"); });
export const notApp = app.function().fetchApp(() => ({ handler: 1 }) as never);
export const notNode = app.function().nodeApp(() => 42 as never);
`,
  );
  const result = await platform.deploy(file);
  const cases: [string, RegExp][] = [
    ["throws", /database unreachable/],
    ["notApp", /must return an object with a fetch\(request\) method, got an object with keys \[handler\]/],
    ["notNode", /must return a \(req, res\) function, an http\.Server or a Fastify instance, got number/],
  ];
  for (const [name, pattern] of cases) {
    const response = await request(platform.url(result, name));
    assert.equal(response.status, 503, name);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "startup_failed");
    assert.match(body.error.message, pattern);
  }
});

function withTimeout<T>(promise: Promise<T>, message: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms))),
  ]);
}
