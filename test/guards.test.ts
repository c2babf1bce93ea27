/**
 * Guards, unit-tested on a fake clock: the order of the checks (proxy auth,
 * then the workspace's rate limit, then size limits), each refusal with its
 * status and headers as a client receives it, and the watch over streaming
 * bodies (size of chunked bodies, stalls). Proxy tokens are real ones, from
 * a token service over an in-memory store.
 */
import assert from "node:assert/strict";
import { createServer, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { once } from "node:events";
import { connect, type AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { test, type TestContext } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TokenService } from "../src/control/auth.js";
import { SqliteStore } from "../src/control/store/sqlite.js";
import { DEFAULT_LIMITS, Guards, type GatewayLimits, type GuardedRoute, type RequestBody } from "../src/gateway/guards.js";
import { FailedAuthLimiter, RateLimiter, type RateLimit } from "../src/gateway/rate-limiter.js";
import { FakeClock } from "./support/fake-clock.js";

const PROTECTED: GuardedRoute = { workspace: "team", requiresProxyAuth: true };
const OPEN: GuardedRoute = { workspace: "team", requiresProxyAuth: false };

async function makeGuards(
  t: TestContext,
  options: { rate?: number; burst?: number; client?: RateLimit; failedAuth?: RateLimit; limits?: Partial<GatewayLimits> } = {},
) {
  const clock = new FakeClock();
  const blobs = mkdtempSync(join(tmpdir(), "berth-guards-"));
  const store = new SqliteStore(":memory:", blobs);
  t.after(async () => {
    await store.close();
    rmSync(blobs, { recursive: true, force: true });
  });
  const tokens = await TokenService.open(store.security);
  const proxy = await tokens.createProxyToken({ workspace: "team" });
  // Unless a test is about the client's share, one client may take the whole budget.
  const rateLimiter = new RateLimiter({ rate: options.rate ?? 10, burst: options.burst ?? 2 }, { clientLimit: options.client ?? { rate: 1e6, burst: 1e6 } });
  const failedAuth = options.failedAuth ? new FailedAuthLimiter(options.failedAuth) : undefined;
  const guards = new Guards({ limits: { ...DEFAULT_LIMITS, ...options.limits }, proxyAuth: tokens, rateLimiter, failedAuth, clock });
  const credentials = { "berth-key": proxy.key, "berth-secret": proxy.secret };
  return { clock, guards, credentials, other: await tokens.createProxyToken({ workspace: "elsewhere" }) };
}

/** A request head as the checks read it. */
function head(headers: Record<string, string> = {}, raw: string[] = []): { headers: IncomingHttpHeaders; rawHeaders: string[] } {
  return { headers, rawHeaders: [...Object.entries(headers).flat(), ...raw] };
}

test("order: auth before the rate limit, so a refused stranger spends none of the workspace's budget", { timeout: 10_000 }, async (t) => {
  const { guards, credentials } = await makeGuards(t, { burst: 1 });
  assert.equal(guards.check(PROTECTED, head())?.code, "unauthorized");
  assert.equal(guards.check(PROTECTED, head({ "berth-key": credentials["berth-key"], "berth-secret": "ws-wrong" }))?.code, "unauthorized");
  // The one token of the bucket is still there for the workspace's own client...
  assert.equal(guards.check(PROTECTED, head(credentials)), null);
  // ...and now it is spent.
  assert.equal(guards.check(PROTECTED, head(credentials))?.code, "rate_limited");
});

test("order: the rate limit before size limits, and every check of an allowed request passes", { timeout: 10_000 }, async (t) => {
  const { guards, credentials } = await makeGuards(t, { burst: 1, limits: { maxBodyBytes: 10 } });
  assert.equal(guards.check(PROTECTED, head({ ...credentials, "content-length": "11" }))?.code, "payload_too_large");
  assert.equal(guards.check(PROTECTED, head({ ...credentials, "content-length": "11" }))?.code, "rate_limited");
});

test("each refusal: proxy auth, a token of another workspace, rate limit with Retry-After, then refilled on the clock", { timeout: 10_000 }, async (t) => {
  const { clock, guards, credentials, other } = await makeGuards(t, { rate: 0.5, burst: 1 });
  const missing = guards.check(PROTECTED, head());
  assert.equal(missing?.code, "unauthorized");
  assert.match(missing?.message ?? "", /requires proxy auth/);
  assert.deepEqual(missing?.headers, { "www-authenticate": 'Berth-Key realm="berth"' });
  assert.equal(guards.check(PROTECTED, head({ "berth-key": other.key, "berth-secret": other.secret }))?.code, "unauthorized");
  assert.equal(guards.check(OPEN, head()), null, "an open endpoint needs no credentials");
  const limited = guards.check(PROTECTED, head(credentials));
  assert.equal(limited?.code, "rate_limited");
  assert.deepEqual(limited?.headers, { "retry-after": "2" }, "0.5/s: the next token is 2 s away");
  clock.advance(1_999);
  assert.equal(guards.check(OPEN, head())?.code, "rate_limited");
  clock.advance(1);
  assert.equal(guards.check(OPEN, head()), null);
});

test("a client's share: one address flooding a public endpoint is refused before it empties the workspace's budget", { timeout: 10_000 }, async (t) => {
  const { clock, guards, credentials } = await makeGuards(t, { rate: 4, burst: 8, client: { rate: 1, burst: 2 } });
  assert.equal(guards.check(OPEN, head(), "6.6.6.6"), null);
  assert.equal(guards.check(OPEN, head(), "6.6.6.6"), null);
  const flood = guards.check(OPEN, head(), "6.6.6.6");
  assert.equal(flood?.code, "rate_limited");
  assert.match(flood?.message ?? "", /from your address/);
  assert.deepEqual(flood?.headers, { "retry-after": "1" });
  for (let i = 0; i < 100; i++) assert.equal(guards.check(OPEN, head(), "6.6.6.6")?.code, "rate_limited");
  // The flood cost the workspace 2 tokens of 8: others and the workspace's own authenticated clients still pass.
  assert.equal(guards.check(OPEN, head(), "10.0.0.1"), null);
  assert.equal(guards.check(OPEN, head(), "10.0.0.2"), null);
  for (let i = 0; i < 4; i++) assert.equal(guards.check(PROTECTED, head(credentials), "6.6.6.6"), null, "credentials take the workspace's budget only");
  const spent = guards.check(OPEN, head(), "10.0.0.3");
  assert.equal(spent?.code, "rate_limited", "now the workspace's 8 are spent");
  assert.equal(spent?.message, undefined, "the workspace's own refusal");
  clock.advance(1_000);
  assert.equal(guards.check(OPEN, head(), "6.6.6.6"), null, "1/s: the flooder's next token");
});

test("failed auth per address: past its burst an address gets 429 without its credentials being checked; others are unaffected", { timeout: 10_000 }, async (t) => {
  const { clock, guards, credentials } = await makeGuards(t, { failedAuth: { rate: 1, burst: 3 } });
  const wrong = head({ "berth-key": "wk-0000000000000000", "berth-secret": "ws-wrong" });
  for (let i = 0; i < 3; i++) assert.equal(guards.check(PROTECTED, wrong, "6.6.6.6")?.code, "unauthorized");
  const blocked = guards.check(PROTECTED, wrong, "6.6.6.6");
  assert.equal(blocked?.code, "rate_limited");
  assert.match(blocked?.message ?? "", /failed authentications/);
  assert.deepEqual(blocked?.headers, { "retry-after": "1" });
  assert.equal(guards.check(PROTECTED, head(credentials), "6.6.6.6")?.code, "rate_limited", "refused before the credentials are read");
  assert.equal(guards.check(PROTECTED, head(credentials), "10.0.0.1"), null, "another address");
  assert.equal(guards.check(OPEN, head(), "6.6.6.6"), null, "public endpoints need no auth, so no auth limit");
  clock.advance(1_000);
  assert.equal(guards.check(PROTECTED, head(credentials), "6.6.6.6"), null, "a refill; a success takes nothing");
  assert.equal(guards.check(PROTECTED, head(credentials), "6.6.6.6"), null);
});

test("each refusal: header count, a transfer coding that does not end in chunked, a declared body over the limit", { timeout: 10_000 }, async (t) => {
  const { guards } = await makeGuards(t, { burst: 100, limits: { maxHeaderCount: 3, maxBodyBytes: 1_000 } });
  assert.equal(guards.check(OPEN, head({ a: "1", b: "2", c: "3", d: "4" }))?.code, "headers_too_large");
  assert.equal(guards.check(OPEN, head({ "transfer-encoding": "chunked, gzip" }))?.code, "bad_request");
  assert.equal(guards.check(OPEN, head({ "transfer-encoding": "gzip, chunked" })), null);
  assert.equal(guards.check(OPEN, head({ "content-length": "1001" }))?.code, "payload_too_large");
  assert.equal(guards.check(OPEN, head({ "content-length": "1000" })), null);
});

/** A loopback server whose handler runs `admit` on every request and answers 200 when admitted. */
async function admitting(t: TestContext, guards: Guards, route: GuardedRoute): Promise<number> {
  const server = createServer((req, res) => {
    if (guards.admit(route, req, res, { "berth-request-id": "r1" })) res.end("admitted");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

function get(port: number, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path: "/", headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("a refusal as the client receives it: the table's status and JSON, the guard's headers and the request id", { timeout: 10_000 }, async (t) => {
  const { guards, credentials } = await makeGuards(t, { burst: 1 });
  const port = await admitting(t, guards, PROTECTED);
  const refused = await get(port, {});
  assert.equal(refused.status, 401);
  assert.equal(refused.headers["www-authenticate"], 'Berth-Key realm="berth"');
  assert.equal(refused.headers["berth-request-id"], "r1");
  assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, "unauthorized");
  assert.equal((await get(port, credentials)).body, "admitted");
  const limited = await get(port, credentials);
  assert.equal(limited.status, 429);
  assert.equal(limited.headers["retry-after"], "1");
});

test("a refused request whose body was not read is answered with Connection: close and its connection cut", { timeout: 10_000 }, async (t) => {
  const { guards, clock } = await makeGuards(t, { burst: 10, limits: { maxBodyBytes: 100 } });
  const port = await admitting(t, guards, OPEN);
  const socket = connect(port, "127.0.0.1");
  t.after(() => socket.destroy());
  let received = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => (received += chunk));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  // Declares 1 000 000 bytes and keeps sending: the answer comes at once, then the cut (on the clock).
  socket.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + "a".repeat(1000));
  while (!received.includes("\r\n\r\n{")) await new Promise((resolve) => setImmediate(resolve));
  assert.match(received, /^HTTP\/1\.1 413 /);
  assert.match(received, /connection: close/i);
  clock.advance(1_000);
  await closed;
});

/** A request body the test writes into, as the client would send it. */
function body(headers: IncomingHttpHeaders): PassThrough & RequestBody {
  return Object.assign(new PassThrough(), { headers });
}

test("watchBody: a chunked body is stopped once it passes the limit", { timeout: 10_000 }, async (t) => {
  const { guards } = await makeGuards(t, { limits: { maxBodyBytes: 10 } });
  const req = body({ "transfer-encoding": "chunked" });
  let stops = 0;
  const watch = guards.watchBody(req, () => (stops += 1));
  req.write(Buffer.alloc(6));
  req.write(Buffer.alloc(4));
  assert.equal(watch.stopped(), null, "10 bytes is the limit, not over it");
  req.write(Buffer.alloc(1));
  assert.equal(watch.stopped(), "too_large");
  assert.equal(stops, 1);
  assert.equal(req.isPaused(), true, "no more reading");
});

test("watchBody: a body with no byte for bodyIdleTimeoutMs is stopped as stalled; each byte restarts the wait", { timeout: 10_000 }, async (t) => {
  const { guards, clock } = await makeGuards(t, { limits: { bodyIdleTimeoutMs: 60_000, bodyTimeoutMs: 600_000 } });
  const req = body({ "content-length": "100" });
  const watch = guards.watchBody(req, () => {});
  clock.advance(59_000);
  req.write(Buffer.alloc(1));
  clock.advance(59_000);
  assert.equal(watch.stopped(), null, "59 s since the last byte");
  clock.advance(1_000);
  assert.equal(watch.stopped(), "stalled");
});

test("watchBody: a trickling body holds its container for the body timeout, plus 1 s per min-rate bytes, not longer", { timeout: 10_000 }, async (t) => {
  const { guards, clock } = await makeGuards(t, { limits: { bodyIdleTimeoutMs: 10_000, bodyTimeoutMs: 60_000, bodyMinBytesPerSecond: 1_000 } });
  const req = body({ "content-length": "1000000" });
  let stops = 0;
  const watch = guards.watchBody(req, () => (stops += 1));
  // One byte every 3 s: never idle for 10 s, and 20 bytes earn 20 ms.
  for (let i = 0; i < 20; i++) {
    clock.advance(3_000);
    assert.equal(watch.stopped(), null, `${(i + 1) * 3} s`);
    req.write(Buffer.alloc(1));
  }
  clock.advance(19);
  assert.equal(watch.stopped(), null, "60 s + 20 ms is the deadline");
  clock.advance(1);
  assert.equal(watch.stopped(), "too_slow");
  assert.equal(stops, 1);
  assert.equal(req.isPaused(), true);
});

test("watchBody: a fast body earns time as it arrives; a finished one is never cut", { timeout: 10_000 }, async (t) => {
  const { guards, clock } = await makeGuards(t, { limits: { bodyIdleTimeoutMs: 10_000, bodyTimeoutMs: 1_000, bodyMinBytesPerSecond: 1_000 } });
  const req = body({ "content-length": "5001" });
  const watch = guards.watchBody(req, () => {});
  req.write(Buffer.alloc(5_000));
  clock.advance(5_999);
  assert.equal(watch.stopped(), null, "1 s + 5 000 bytes at 1 000 B/s = 6 s");
  const ended = once(req, "end");
  req.end(Buffer.alloc(1));
  await ended;
  assert.equal(clock.pending, 0);
  clock.advance(60_000);
  assert.equal(watch.stopped(), null);
});

test("watchBody: a body held back because the container reads slowly is not a stall; a finished body leaves no timer", { timeout: 10_000 }, async (t) => {
  const { guards, clock } = await makeGuards(t, { limits: { bodyIdleTimeoutMs: 1_000 } });
  const req = body({ "content-length": "3" });
  const watch = guards.watchBody(req, () => {});
  req.write(Buffer.alloc(1));
  req.pause();
  clock.advance(5_000);
  assert.equal(watch.stopped(), null, "paused for 5 s: the gateway holds the client back, the client is not stalling");
  assert.equal(clock.pending, 1);
  req.resume();
  const ended = once(req, "end");
  req.end(Buffer.alloc(2));
  await ended;
  assert.equal(clock.pending, 0, "the stall timer is cancelled when the body ends");
  assert.equal(watch.stopped(), null);
  assert.equal(guards.watchBody(body({}), () => {}).stopped(), null, "no body, nothing watched");
  assert.equal(clock.pending, 0);
});
