/**
 * Fairness between clients, against a real platform, with clients on
 * different loopback addresses (127.0.0.x): one address flooding a public
 * endpoint gets 429 from its own share and leaves the workspace's budget to
 * everyone else, the workspace's own authenticated calls included; an
 * address that keeps failing auth (proxy auth or API tokens) gets 429
 * before its credentials are looked at, while other addresses are served;
 * behind `--trust-proxy`, the forwarded client address is the key, and a
 * client that is not a trusted proxy cannot pick its key with
 * X-Forwarded-For.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { Agent, fetch as undiciFetch, type RequestInit } from "undici";
import { startPlatform, tempApp, type TestPlatform } from "./support/platform.js";

const APP = `
import { App } from "berthjs";
const app = new App("fair");
export const open = app.function({ concurrency: { maxInputs: 100 } }).webEndpoint(() => "open");
export const own = app.function({ concurrency: { maxInputs: 100 } }).webEndpoint({ requiresProxyAuth: true }, () => "own");
`;

/** A client whose connections come from `address` (any 127.0.0.0/8 address is this machine). */
function client(t: TestContext, address: string) {
  const agent = new Agent({
    localAddress: address,
    connect: {
      lookup: (_hostname: string, options: unknown, callback: unknown) => {
        const cb = (typeof options === "function" ? options : callback) as (...args: unknown[]) => void;
        const all = typeof options === "object" && options !== null && (options as { all?: boolean }).all;
        if (all) cb(null, [{ address: "127.0.0.1", family: 4 }]);
        else cb(null, "127.0.0.1", 4);
      },
    },
  });
  t.after(() => agent.close());
  return async (url: string, init: RequestInit = {}) => {
    const response = await undiciFetch(url, { ...init, dispatcher: agent });
    const text = await response.text();
    return { status: response.status, text, retryAfter: response.headers.get("retry-after") };
  };
}

async function setup(t: TestContext, options: Parameters<typeof startPlatform>[1]): Promise<{ platform: TestPlatform; open: string; own: string; headers: Record<string, string> }> {
  const platform = await startPlatform(t, options);
  const result = await platform.deploy(tempApp(t, "fair.ts", APP));
  const proxy = await platform.client.createToken({ kind: "proxy" });
  return { platform, open: platform.url(result, "open"), own: platform.url(result, "own"), headers: { "berth-key": proxy.key!, "berth-secret": proxy.secret! } };
}

test("one address flooding a public endpoint is held to its share; the workspace's own calls and other clients still pass", async (t) => {
  // A budget of 40 at once, 1/s after: the flood alone could spend it all in a blink without a per-client share (10).
  const { open, own, headers } = await setup(t, { requireAuth: true, rateLimit: { rate: 1, burst: 40 } });
  const flooder = client(t, "127.0.0.2");
  const statuses: number[] = [];
  let refusal = "";
  for (let i = 0; i < 200; i++) {
    const answer = await flooder(open);
    statuses.push(answer.status);
    if (answer.status === 429) refusal ||= answer.text;
  }
  const served = statuses.filter((s) => s === 200).length;
  assert.ok(served <= 12, `the flooder got ${served} of 200 through (its share: a quarter of 40, plus refill)`);
  assert.match(refusal, /Too many requests from your address/);

  const workspace = client(t, "127.0.0.1");
  const mine = [];
  for (let i = 0; i < 5; i++) mine.push((await workspace(own, { headers })).status);
  assert.deepEqual(mine, [200, 200, 200, 200, 200], "the workspace's own authenticated calls are not starved");
  const neighbour = client(t, "127.0.0.3");
  const theirs = [];
  for (let i = 0; i < 5; i++) theirs.push((await neighbour(open)).status);
  assert.deepEqual(theirs, [200, 200, 200, 200, 200], "another public client has its own share");
});

test("failed auth per address: a flood of wrong keys turns into slow 429s before any check; other addresses and the control API's own limit", async (t) => {
  const { platform, own, headers } = await setup(t, { requireAuth: true, failedAuthLimit: { rate: 0.01, burst: 5 } });
  const attacker = client(t, "127.0.0.2");
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) {
    const key = `wk-${i.toString(16).padStart(16, "0")}`;
    statuses.push((await attacker(own, { headers: { "berth-key": key, "berth-secret": "ws-guess" } })).status);
  }
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429], "after 5 failures only 429");
  const started = Date.now();
  const blocked = await attacker(own, { headers });
  assert.ok(Date.now() - started >= 900, "the answer is held back a second: a flood slows to one request per second per connection");
  assert.equal(blocked.status, 429, "even right credentials from that address wait for the refill");
  assert.match(blocked.text, /failed authentications/);
  assert.ok(Number(blocked.retryAfter) > 90 && Number(blocked.retryAfter) <= 100, `Retry-After ${blocked.retryAfter}: 0.01/s, one token is ~100 s away`);
  const api = await attacker(`${platform.server.url}/api/apps`, { headers: { authorization: `Bearer ${platform.token}` } });
  assert.equal(api.status, 429, "the control API counts the same failures");

  const other = client(t, "127.0.0.3");
  assert.equal((await other(own, { headers })).status, 200);
  // An address failing API tokens on the control API is held the same way.
  const guesses = [];
  for (let i = 0; i < 6; i++) guesses.push((await other(`${platform.server.url}/api/apps`, { headers: { authorization: `Bearer bt_${"0".repeat(16)}_x` } })).status);
  assert.deepEqual(guesses, [401, 401, 401, 401, 401, 429]);
  assert.equal((await client(t, "127.0.0.1")(`${platform.server.url}/api/apps`, { headers: platform.auth })).status, 200);
});

test("--trust-proxy: the forwarded client is the key; an untrusted client's X-Forwarded-For is ignored", async (t) => {
  const { open } = await setup(t, { rateLimit: { rate: 0.01, burst: 8 }, trustProxy: ["127.0.0.1"] });
  // From the trusted proxy (127.0.0.1): each forwarded client has its own share of 2.
  const proxy = client(t, "127.0.0.1");
  const forwarded = async (ip: string) => (await proxy(open, { headers: { "x-forwarded-for": ip } })).status;
  assert.deepEqual([await forwarded("203.0.113.1"), await forwarded("203.0.113.1"), await forwarded("203.0.113.1")], [200, 200, 429]);
  assert.equal(await forwarded("203.0.113.2"), 200, "another client behind the proxy");
  // From an untrusted address, made-up X-Forwarded-For values do not buy new shares.
  const liar = client(t, "127.0.0.2");
  const lies = [];
  for (let i = 0; i < 4; i++) lies.push((await liar(open, { headers: { "x-forwarded-for": `198.51.100.${i}` } })).status);
  assert.deepEqual(lies, [200, 200, 429, 429]);
});
