/**
 * Proxy auth and the workspace rate limit, against a real platform: the
 * gateway answers 401 and 429 itself, and a refused request never starts a
 * container.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { test, type TestContext } from "node:test";
import type { WorkspaceLimitView } from "../src/wire/control-api.js";
import { request, startPlatform, tempApp, type TestPlatform } from "./support/platform.js";
import { freePort } from "./support/ports.js";

/** Every web function kind, protected; `port` is the webServer's (free on this machine). */
const protectedApp = (port: number) => `
import { createServer } from "node:http";
import { App } from "berthjs";
const app = new App("guarded");
const echo = (request: Request) =>
  Response.json({ key: request.headers.get("berth-key"), secret: request.headers.get("berth-secret") });
export const endpoint = app.function().webEndpoint({ requiresProxyAuth: true }, ({ request }) => echo(request));
export const fetcher = app.function().fetchApp({ requiresProxyAuth: true }, () => ({ fetch: echo }));
export const node = app.function().nodeApp({ requiresProxyAuth: true }, () => (req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ key: req.headers["berth-key"] ?? null, secret: req.headers["berth-secret"] ?? null }));
});
export const server = app.function().webServer({ port: ${port}, requiresProxyAuth: true }, () => {
  createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ key: req.headers["berth-key"] ?? null, secret: req.headers["berth-secret"] ?? null }));
  }).listen(${port}, "127.0.0.1");
});
export const open = app.function().webEndpoint(() => "open");
`;


async function deployGuarded(t: TestContext, platform: TestPlatform) {
  const result = await platform.deploy(tempApp(t, "guarded.ts", protectedApp(await freePort())));
  const urls = ["endpoint", "fetcher", "node", "server"].map((name) => platform.url(result, name));
  return { result, urls, open: platform.url(result, "open") };
}

/** Containers started so far for every function of the app (pools appear on first admitted request). */
async function coldStarts(platform: TestPlatform, app: string): Promise<number> {
  const stats = (await platform.client.stats(app)) as { functions: { pools: { coldStarts: number }[] }[] };
  return stats.functions.flatMap((fn) => fn.pools).reduce((sum, pool) => sum + pool.coldStarts, 0);
}

test("proxy auth: missing, wrong, guessed, foreign and revoked credentials get 401 before any container starts", async (t) => {
  const platform = await startPlatform(t, { requireAuth: true });
  const { urls } = await deployGuarded(t, platform);
  const mine = await platform.client.createToken({ kind: "proxy", name: "ci" });
  const foreign = await platform.client.createToken({ kind: "proxy", workspace: "other" });
  assert.match(mine.key!, /^wk-[0-9a-f]{16}$/);
  assert.match(mine.secret!, /^ws-[A-Za-z0-9_-]{43}$/);

  const attempts: Record<string, Record<string, string>> = {
    none: {},
    "key only": { "berth-key": mine.key! },
    "wrong secret": { "berth-key": mine.key!, "berth-secret": `ws-${randomBytes(32).toString("base64url")}` },
    "guessed key": { "berth-key": `wk-${randomBytes(8).toString("hex")}`, "berth-secret": mine.secret! },
    "other workspace": { "berth-key": foreign.key!, "berth-secret": foreign.secret! },
    "api token as proxy key": { "berth-key": mine.id, "berth-secret": platform.server.bootstrapToken! },
  };
  for (const url of urls) {
    for (const [what, headers] of Object.entries(attempts)) {
      const response = await request(url, { headers });
      assert.equal(response.status, 401, `${what} at ${url}`);
      assert.match(response.headers.get("www-authenticate") ?? "", /^Berth-Key/);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, "unauthorized");
    }
  }
  assert.equal(await coldStarts(platform, "guarded"), 0, "a refused request started a container");
  const metrics = await (await request(`${platform.server.url}/metrics`, { headers: platform.auth })).text();
  const refused = [...metrics.matchAll(/^berth_gateway_refusals_total\{[^}]*status="401"[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  assert.equal(refused, urls.length * Object.keys(attempts).length, "every refusal is counted in /metrics");

  const good = { "berth-key": mine.key!, "berth-secret": mine.secret! };
  for (const url of urls) {
    const response = await request(url, { headers: good });
    assert.equal(response.status, 200, url);
    // The credentials stop at the gateway: the function never sees them.
    assert.deepEqual(await response.json(), { key: null, secret: null });
  }

  await platform.client.revokeToken(mine.id);
  for (const url of urls) assert.equal((await request(url, { headers: good })).status, 401, `revoked at ${url}`);
});

test("an endpoint without requiresProxyAuth stays open", async (t) => {
  const platform = await startPlatform(t);
  const { open } = await deployGuarded(t, platform);
  const response = await request(open);
  assert.equal(response.status, 200);
  assert.equal(await response.json(), "open");
});

test("rate limit: 429 with Retry-After beyond the burst, admitted again after refill, per workspace and configurable", async (t) => {
  // 20/s with a burst of 10: the first 10 pass at once, then about one every 50 ms. The test is one client that may
  // use all of it (the client's share is tested in hardening.test.ts).
  const platform = await startPlatform(t, { rateLimit: { rate: 20, burst: 10 }, clientRateLimit: { rate: 20, burst: 10 } });
  const { open } = await deployGuarded(t, platform);
  await new Promise((resolve) => setTimeout(resolve, 600)); // the deploy's own requests are not counted; let the bucket refill

  const started = performance.now();
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 40; i++) {
    const response = await request(open);
    await response.arrayBuffer();
    statuses.push(response.status);
    if (response.status === 429) retryAfter ??= response.headers.get("retry-after");
  }
  const elapsedSeconds = (performance.now() - started) / 1000;
  const admitted = statuses.filter((s) => s === 200).length;
  assert.ok(statuses.every((s) => s === 200 || s === 429), `unexpected statuses ${statuses}`);
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(200), "the burst passes");
  assert.ok(statuses.includes(429), "requests beyond the burst are refused");
  // Admitted = burst + rate × elapsed (+1 for the token being earned when the loop ends).
  assert.ok(admitted <= 10 + Math.ceil(20 * elapsedSeconds) + 1, `${admitted} admitted in ${elapsedSeconds.toFixed(2)} s`);
  assert.equal(retryAfter, "1");

  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.equal((await request(open)).status, 200, "admitted again once the bucket refilled");

  // A tighter limit for this workspace applies at once.
  const limit = (view: WorkspaceLimitView) => ({ rate: view.rate, burst: view.burst, custom: view.custom });
  assert.deepEqual(limit(await platform.client.workspaceLimit("test")), { rate: 20, burst: 10, custom: false });
  // One token per 100 s: the next two pass, then nothing for longer than any test runs.
  await platform.client.setWorkspaceLimit("test", { rate: 0.01, burst: 2 });
  assert.deepEqual(limit(await platform.client.workspaceLimit("test")), { rate: 0.01, burst: 2, custom: true });
  const after = [];
  for (let i = 0; i < 4; i++) after.push((await request(open)).status);
  assert.deepEqual(after, [200, 200, 429, 429]);
});

test("a rate-limited request never starts a container", async (t) => {
  const platform = await startPlatform(t, { rateLimit: { rate: 0.01, burst: 1 } });
  const { open } = await deployGuarded(t, platform);
  await platform.client.setWorkspaceLimit("test", { rate: 0.01, burst: 1 });
  // The first request takes the bucket's only token (and starts one container); the rest are refused.
  assert.equal((await request(open)).status, 200);
  const before = await coldStarts(platform, "guarded");
  for (let i = 0; i < 5; i++) assert.equal((await request(`${open.replace("guarded-open", "guarded-endpoint")}`)).status, 401);
  const refused = await request(open);
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get("retry-after")) >= 1);
  assert.equal(await coldStarts(platform, "guarded"), before);
});

test("refusals of bodiless requests keep the connection; refusals with an unread body close it", async (t) => {
  const platform = await startPlatform(t, { requireAuth: true });
  const { urls } = await deployGuarded(t, platform);
  const url = new URL(urls[0]!);
  const answers = await new Promise<string>((resolve) => {
    const socket = connect(Number(url.port), "127.0.0.1");
    let text = "";
    const timer = setTimeout(() => socket.destroy(), 3000);
    socket.on("data", (data) => (text += data.toString()));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(text);
    });
    const get = `GET / HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`;
    // Two GETs, then a POST whose 1 MB body is never sent, then a GET that must not be answered.
    socket.write(`${get}${get}POST / HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 1000000\r\n\r\n${get}`);
  });
  const statuses = [...answers.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  assert.deepEqual(statuses, ["401", "401", "401"]);
  assert.equal((answers.match(/connection: close/gi) ?? []).length, 1, "only the refusal with a pending body closes");
});

test("WebSocket upgrades take the same guards: 401 without credentials, 429 past the limit, no container started", async (t) => {
  const platform = await startPlatform(t, { requireAuth: true, rateLimit: { rate: 0.01, burst: 2 } });
  const { result } = await deployGuarded(t, platform);
  const url = new URL(platform.url(result, "fetcher"));
  const proxy = await platform.client.createToken({ kind: "proxy" });
  const upgrade = (extra: string) =>
    new Promise<string>((resolve) => {
      const socket = connect(Number(url.port), "127.0.0.1");
      let text = "";
      const timer = setTimeout(() => socket.destroy(), 3000);
      socket.on("data", (data) => {
        text += data.toString();
        if (text.includes("\r\n\r\n")) socket.destroy();
      });
      socket.on("close", () => {
        clearTimeout(timer);
        resolve(text);
      });
      socket.on("error", () => {});
      socket.write(
        `GET / HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\n${extra}\r\n`,
      );
    });
  const credentials = `Berth-Key: ${proxy.key}\r\nBerth-Secret: ${proxy.secret}\r\n`;

  const anonymous = await upgrade("");
  assert.match(anonymous, /^HTTP\/1\.1 401 /);
  assert.match(anonymous, /www-authenticate: Berth-Key/i);
  assert.match(await upgrade(`Berth-Key: ${proxy.key}\r\nBerth-Secret: ws-guess\r\n`), /^HTTP\/1\.1 401 /);
  assert.equal(await coldStarts(platform, "guarded"), 0, "a refused upgrade started a container");

  // The bucket holds 2: two admitted upgrades (whatever the app answers), then 429.
  assert.doesNotMatch(await upgrade(credentials), /^HTTP\/1\.1 4(01|29) /);
  assert.doesNotMatch(await upgrade(credentials), /^HTTP\/1\.1 4(01|29) /);
  const limited = await upgrade(credentials);
  assert.match(limited, /^HTTP\/1\.1 429 /);
  assert.match(limited, /retry-after: \d+/i);
});
