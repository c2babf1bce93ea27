/**
 * `nodeApp` end to end with Express 5 (the document's Flask `/echo` twin) and
 * Fastify 5, a `ws` server attached to a user's own `http.Server`, and what
 * the gateway forwards: every method, the full path and query, repeated
 * headers and cookies, redirects, and the X-Forwarded-* headers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { request as rawRequest } from "undici";
import { loopback, request, startPlatform, tempApp } from "./support/platform.js";
import { sandboxTest, startSandboxPlatform } from "./support/sandbox.js";
import { closed, connectWs, nextMessage, roundTrip } from "./support/websocket.js";

test("the flask-app example: Express 5 POST /echo (sandbox runtime)", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const url = platform.url(await platform.deploy("examples/flask-app.ts"), "flaskApp");
  assert.match(url, /^http:\/\/test--flask-app-flask-app\.localhost:\d+\/$/);
  const echo = await request(`${url}echo`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"hello":"world","n":[1,2]}' });
  assert.equal(echo.status, 200);
  assert.deepEqual(await echo.json(), { hello: "world", n: [1, 2] });
});

test("the fastapi-app example: Hono POST /echo (sandbox runtime)", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const url = platform.url(await platform.deploy("examples/fastapi-app.ts"), "fastapiApp");
  const echo = await request(`${url}echo`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"hello":"world"}' });
  assert.equal(echo.status, 200);
  assert.deepEqual(await echo.json(), { hello: "world" });
});

const EXPRESS_APP = `
import { createServer } from "node:http";
import { App } from "berthjs";
import express from "express";
import { WebSocketServer } from "ws";

const app = new App("expressapp");

export const web = app.function({ concurrency: { maxInputs: 10 } }).nodeApp(() => {
  const api = express();
  api.all("/{*rest}", (req, res, next) => {
    if (req.path === "/redirect") return next();
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      res.status(207);
      res.set("x-custom", "yes");
      res.append("set-cookie", ["a=1; Path=/", "b=2; HttpOnly"]);
      res.json({
        method: req.method,
        url: req.originalUrl,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString(),
      });
    });
  });
  api.get("/redirect", (_req, res) => res.redirect(302, "/elsewhere?x=1"));
  const server = createServer(api);
  const wss = new WebSocketServer({ server, path: "/socket" });
  wss.on("connection", (ws, req) => {
    ws.send(JSON.stringify({ url: req.url, forwardedFor: req.headers["x-forwarded-for"], forwardedHost: req.headers["x-forwarded-host"], cookie: req.headers.cookie }));
    ws.on("message", (data, isBinary) => {
      const text = data.toString();
      if (!isBinary && text.startsWith("close:")) return ws.close(Number(text.slice(6)), "bye from the app");
      ws.send(isBinary ? data : "express:" + text, { binary: isBinary });
    });
  });
  return server;
});

export const fast = app.function().nodeApp(async () => {
  const { default: Fastify } = await import("fastify");
  const fastify = Fastify();
  fastify.post("/echo", async (request, reply) => {
    reply.code(202).header("x-fastify", "1");
    return { got: request.body, q: request.query };
  });
  return fastify;
});
`;

type Seen = { method: string; url: string; rawHeaders: string[]; body: string };

function headerValues(seen: Seen, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < seen.rawHeaders.length; i += 2) if (seen.rawHeaders[i]!.toLowerCase() === name) values.push(seen.rawHeaders[i + 1]!);
  return values;
}

test("Express: every method, full path and query, repeated headers and cookies, any status, forwarding headers, redirects", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "express.ts", EXPRESS_APP)), "web");
  const host = new URL(url).host;
  for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
    const withBody = method !== "GET" && method !== "OPTIONS";
    // undici's raw request keeps repeated headers apart (fetch's Headers would join them).
    const response = await rawRequest(`${url}a/b%20c/d?x=1&x=2&y=%2F`, {
      dispatcher: loopback,
      method,
      headers: ["x-multi", "one", "x-multi", "two", "cookie", "s=1", "x-forwarded-for", "6.6.6.6", ...(withBody ? ["content-type", "text/plain"] : [])],
      body: withBody ? `body of ${method}` : undefined,
    });
    assert.equal(response.statusCode, 207, method);
    assert.equal(response.headers["x-custom"], "yes");
    assert.deepEqual(response.headers["set-cookie"], ["a=1; Path=/", "b=2; HttpOnly"]);
    const seen = (await response.body.json()) as Seen;
    assert.equal(seen.method, method);
    assert.equal(seen.url, "/a/b%20c/d?x=1&x=2&y=%2F");
    assert.equal(seen.body, withBody ? `body of ${method}` : "");
    assert.deepEqual(headerValues(seen, "x-multi"), ["one", "two"]);
    assert.deepEqual(headerValues(seen, "cookie"), ["s=1"]);
    assert.deepEqual(headerValues(seen, "x-forwarded-for"), ["127.0.0.1"], "a client-sent X-Forwarded-For is not trusted");
    assert.deepEqual(headerValues(seen, "x-forwarded-proto"), ["http"]);
    assert.deepEqual(headerValues(seen, "x-forwarded-host"), [host]);
    assert.deepEqual(headerValues(seen, "host"), [host]);
  }
  const redirect = await request(`${url}redirect`);
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get("location"), "/elsewhere?x=1");
  await redirect.text();
});

test("Express: ws attached to the app's own http.Server gets the path, query and headers, relays text, binary and close codes", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "express.ts", EXPRESS_APP)), "web");
  const ws = await connectWs(t, `${url}socket?a=1&b=%2F`, { headers: { cookie: "s=1; t=2", "x-forwarded-for": "6.6.6.6" } });
  assert.deepEqual(JSON.parse((await nextMessage(ws)).data.toString()), {
    url: "/socket?a=1&b=%2F",
    forwardedFor: "127.0.0.1",
    forwardedHost: new URL(url).host,
    cookie: "s=1; t=2",
  });
  assert.equal(await roundTrip(ws, "ping"), "express:ping");
  ws.send(Buffer.from([0, 1, 2, 255]));
  const binary = await nextMessage(ws);
  assert.equal(binary.isBinary, true);
  assert.deepEqual([...binary.data], [0, 1, 2, 255]);
  const done = closed(ws);
  ws.send("close:4002");
  assert.deepEqual(await done, { code: 4002, reason: "bye from the app" }, "the app's close code and reason reach the client");
});

test("Fastify 5: a Fastify instance is made ready and served", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "express.ts", EXPRESS_APP)), "fast");
  const response = await request(`${url}echo?a=1`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"x":[1]}' });
  assert.equal(response.status, 202);
  assert.equal(response.headers.get("x-fastify"), "1");
  assert.deepEqual(await response.json(), { got: { x: [1] }, q: { a: "1" } });
});
