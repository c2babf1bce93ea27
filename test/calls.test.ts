/**
 * CallRegistry, unit-tested on a fake clock: a real node:http server whose
 * handler hands each request to the registry, as the gateway does, and a
 * test that plays the proxy (writing the call's response when it wants)
 * and moves time by hand. The 303 handoff to a result URL, the follower
 * that waits, one waiter at a time, redirects of a follower that waits too
 * long, expiry of unclaimed results, HEAD, and errors reaching the follower.
 */
import assert from "node:assert/strict";
import { createServer, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { test, type TestContext } from "node:test";
import { CallRegistry, type Call } from "../src/gateway/calls.js";
import { FakeClock } from "./support/fake-clock.js";

const DELAY_MS = 150_000;
const TTL_MS = 60_000;
const HOST = "local--app-fn";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A registry behind a loopback server; `arrived()` resolves once the next request has reached the registry. */
async function harness(t: TestContext) {
  const clock = new FakeClock();
  const registry = new CallRegistry({ delayMs: DELAY_MS, resultTtlMs: TTL_MS, clock });
  const calls: Call[] = [];
  const waiters: (() => void)[] = [];
  let arrivals = 0;
  const server = createServer((req, res) => {
    const idHeader = { "berth-request-id": `r${arrivals}` };
    if (CallRegistry.isResultUrl(req.url)) registry.follow(req.headers["x-host"] === "other" ? "local--other" : HOST, req, res, idHeader);
    else calls.push(registry.begin(req, res, HOST, idHeader));
    arrivals += 1;
    waiters.splice(0).forEach((wake) => wake());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    registry.close();
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  let seen = 0;
  return {
    clock,
    registry,
    /** Sends a request; resolves with the whole answer. */
    send(path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
      return new Promise((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: options.headers, agent: false }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (body += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end();
      });
    },
    /** Waits until one more request has been handed to the registry (begin or follow). */
    async arrived(): Promise<void> {
      seen += 1;
      while (arrivals < seen) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    /** The most recent call begun. */
    lastCall(): Call {
      const call = calls.at(-1);
      assert.ok(call, "a call was begun");
      return call;
    },
  };
}

/** Starts a call and moves past the delay: resolves with its 303. */
async function parked(h: Awaited<ReturnType<typeof harness>>): Promise<{ call: Call; location: string; answer: Answer }> {
  const pending = h.send("/work");
  await h.arrived();
  const call = h.lastCall();
  h.clock.advance(DELAY_MS);
  const answer = await pending;
  assert.equal(answer.status, 303);
  const location = answer.headers.location;
  assert.ok(typeof location === "string");
  return { call, location, answer };
}

function respond(call: Call, status: number, body: string): void {
  call.writeHead(status, ["content-type", "text/plain", "x-from", "container"]);
  call.write(Buffer.from(body));
  call.end();
}

test("a call that answers within the delay is never parked", { timeout: 10_000 }, async (t) => {
  const h = await harness(t);
  const pending = h.send("/work");
  await h.arrived();
  h.clock.advance(DELAY_MS - 1);
  respond(h.lastCall(), 200, "in time");
  h.clock.advance(1);
  const answer = await pending;
  assert.equal(answer.status, 200);
  assert.equal(answer.body, "in time");
  h.lastCall().settle();
  assert.equal(h.clock.pending, 0, "no timer left behind");
});

test("303 handoff: no answer within the delay → 303 to a result URL, where the call's own answer is handed out once", { timeout: 10_000 }, async (t) => {
  const h = await harness(t);
  const { call, location, answer } = await parked(h);
  assert.match(location, /^\/__berth\/calls\/[a-z0-9-]+\.[0-9a-f]{32}$/);
  assert.equal(answer.headers["berth-request-id"], "r0");
  assert.deepEqual(JSON.parse(answer.body), {
    call: location.slice("/__berth/calls/".length),
    location,
    message: "The call has not answered yet. Follow the Location URL (GET) to wait for its result; it is handed out once.",
  });

  const following = h.send(location);
  await h.arrived();
  respond(call, 201, "done late");
  const result = await following;
  assert.equal(result.status, 201);
  assert.equal(result.headers["x-from"], "container");
  assert.equal(result.body, "done late");

  const again = await h.send(location);
  assert.equal(again.status, 404);
  assert.equal((JSON.parse(again.body) as { error: { code: string } }).error.code, "not_found");
});

test("a result that is ready before anyone follows waits for the follower", { timeout: 10_000 }, async (t) => {
  const h = await harness(t);
  const { call, location } = await parked(h);
  respond(call, 200, "ready early");
  h.clock.advance(TTL_MS - 1);
  const result = await h.send(location);
  assert.equal(result.status, 200);
  assert.equal(result.body, "ready early");
});

test("one waiter: while one client waits at a result URL, another gets 409 result_busy", { timeout: 10_000 }, async (t) => {
  const h = await harness(t);
  const { call, location } = await parked(h);
  const first = h.send(location);
  await h.arrived();
  const second = await h.send(location);
  assert.equal(second.status, 409);
  assert.equal((JSON.parse(second.body) as { error: { code: string } }).error.code, "result_busy");
  respond(call, 200, "for the first");
  assert.equal((await first).body, "for the first");
});

test("a follower still waiting after another delay is redirected to the same URL; a new follower can then wait", { timeout: 10_000 }, async (t) => {
  const h = await harness(t);
  const { call, location } = await parked(h);
  const waiting = h.send(location);
  await h.arrived();
  h.clock.advance(DELAY_MS);
  const redirected = await waiting;
  assert.equal(redirected.status, 303);
  assert.equal(redirected.headers.location, location);
  assert.match(redirected.body, /still running/);

  const next = h.send(location);
  await h.arrived();
  respond(call, 200, "finally");
  assert.equal((await next).body, "finally");
});

test("expiry: a result nobody claims within resultTtlMs is dropped, its call aborted, its URL 404", { timeout: 10_000 }, async (t) => {
  const h = await harness(t);
  const { call, location } = await parked(h);
  respond(call, 200, "unclaimed");
  h.clock.advance(TTL_MS - 1);
  assert.equal(call.signal.aborted, false);
  h.clock.advance(1);
  assert.equal(call.signal.aborted, true, "the upstream work is released");
  const late = await h.send(location);
  assert.equal(late.status, 404);
  assert.match(late.body, /expired 60 s after it finished/);
});

test("HEAD at a result URL gets the head of the answer, no body, and leaves the result for the GET", { timeout: 10_000 }, async (t) => {
  const h = await harness(t);
  const { call, location } = await parked(h);
  respond(call, 200, "body that HEAD does not get");
  for (let i = 0; i < 2; i++) {
    const head = await h.send(location, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers["x-from"], "container");
    assert.equal(head.body, "");
  }
  const get = await h.send(location);
  assert.equal(get.status, 200);
  assert.equal(get.body, "body that HEAD does not get");
  assert.equal((await h.send(location)).status, 404, "the GET took it");
});

test("a HEAD that waits for a running call answers when it finishes; the result stays until it expires", { timeout: 10_000 }, async (t) => {
  const h = await harness(t);
  const { call, location } = await parked(h);
  const head = h.send(location, { method: "HEAD" });
  await h.arrived();
  respond(call, 201, "later");
  assert.equal((await head).status, 201);
  h.clock.advance(TTL_MS);
  assert.equal((await h.send(location)).status, 404, "unclaimed by a GET, it expired");
});

test("result URLs: other methods get 405; another function's host and unknown ids get 404", { timeout: 10_000 }, async (t) => {
  const h = await harness(t);
  const { call, location } = await parked(h);
  const post = await h.send(location, { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, "GET");
  assert.equal((await h.send(location, { headers: { "x-host": "other" } })).status, 404);
  assert.equal((await h.send("/__berth/calls/0123456789abcdef0123456789abcdef")).status, 404);
  // Still waiting for its own follower.
  const follower = h.send(location);
  await h.arrived();
  respond(call, 200, "still mine");
  assert.equal((await follower).body, "still mine");
});

test("a call that fails after its 303 hands the error to the follower, from the error table", { timeout: 10_000 }, async (t) => {
  const h = await harness(t);
  const { call, location } = await parked(h);
  const follower = h.send(location);
  await h.arrived();
  call.fail("timeout", "The function did not finish within its timeout of 3 s.");
  const answer = await follower;
  assert.equal(answer.status, 504);
  assert.equal(answer.headers["berth-request-id"], "r0", "the original request's id");
  assert.deepEqual(JSON.parse(answer.body), { error: { code: "timeout", message: "The function did not finish within its timeout of 3 s." } });
});
