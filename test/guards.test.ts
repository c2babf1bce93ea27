/**
 * The gateway guards on an HTTP upgrade (the WebSocket path, which has no
 * ServerResponse), with the real token service and rate limiter on a fake
 * clock, behind a plain node:http server.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { test } from "node:test";
import { TokenService } from "../src/control/auth.js";
import { SqliteSecurityStore } from "../src/control/store/security-sqlite.js";
import { DEFAULT_LIMITS, Guards } from "../src/gateway/guards.js";
import { RateLimiter } from "../src/gateway/rate-limiter.js";

function exchange(port: number, head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    const timer = setTimeout(() => socket.destroy(), 3000);
    socket.on("data", (data) => (text += data.toString()));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.write(head);
  });
}

test("upgrades are refused with 401 / 429 / 431 on the socket before anything else happens", async (t) => {
  const store = new SqliteSecurityStore(":memory:");
  t.after(() => store.close());
  const tokens = new TokenService(store);
  const proxy = tokens.createProxyToken({ workspace: "ws" });
  let now = 0;
  const guards = new Guards({
    limits: { ...DEFAULT_LIMITS, maxHeaderCount: 10 },
    proxyAuth: tokens,
    rateLimiter: new RateLimiter({ rate: 1, burst: 2 }),
    now: () => now,
  });
  const server = createServer();
  server.on("upgrade", (req, socket) => {
    if (!guards.admitUpgrade({ workspace: "ws", requiresProxyAuth: true }, req, socket, { "berth-request-id": "r1" })) return;
    socket.end("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const upgrade = (extra: string) => `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${extra}\r\n`;
  const good = `Berth-Key: ${proxy.key}\r\nBerth-Secret: ${proxy.secret}\r\n`;

  const anonymous = await exchange(port, upgrade(""));
  assert.match(anonymous, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  assert.match(anonymous, /berth-request-id: r1/);
  assert.match(anonymous, /www-authenticate: Berth-Key/);
  assert.match(anonymous, /"code":"unauthorized"/);

  assert.match(await exchange(port, upgrade(good)), /^HTTP\/1\.1 101 /);
  assert.match(await exchange(port, upgrade(good)), /^HTTP\/1\.1 101 /);
  const limited = await exchange(port, upgrade(good));
  assert.match(limited, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
  assert.match(limited, /retry-after: 1/);
  now = 2000; // two tokens again: the flood below spends one (the rate limit comes before the limits), the next upgrade the other
  const flood = Array.from({ length: 12 }, (_, i) => `X-${i}: v\r\n`).join("");
  assert.match(await exchange(port, upgrade(good + flood)), /^HTTP\/1\.1 431 /);
  assert.match(await exchange(port, upgrade(good)), /^HTTP\/1\.1 101 /);

  tokens.revoke(proxy.id);
  assert.match(await exchange(port, upgrade(good)), /^HTTP\/1\.1 401 /);
});

test("a token issued straight into the store (berth token create --home) works on a running server at once", (t) => {
  const store = new SqliteSecurityStore(":memory:");
  t.after(() => store.close());
  const running = new TokenService(store);
  const offline = new TokenService(store).createApiToken({ workspace: "ws", admin: true });
  assert.deepEqual(running.authenticate(offline.token), { tokenId: offline.id, workspace: "ws", admin: true });
  running.revoke(offline.id);
  assert.equal(running.authenticate(offline.token), undefined);
  assert.equal(new TokenService(store).authenticate(offline.token), undefined, "revocation is stored");
});

test("a revocation written by another process is seen within a second", (t) => {
  const store = new SqliteSecurityStore(":memory:");
  t.after(() => store.close());
  let now = 0;
  const gateway = new TokenService(store, () => now);
  const proxy = gateway.createProxyToken({ workspace: "ws" });
  assert.ok(gateway.checkProxy("ws", proxy.key, proxy.secret));
  new TokenService(store, () => now).revoke(proxy.id);
  now = 999;
  assert.ok(gateway.checkProxy("ws", proxy.key, proxy.secret), "still cached");
  now = 1000;
  assert.ok(!gateway.checkProxy("ws", proxy.key, proxy.secret), "read again and refused");
  now = 5000;
  assert.ok(!gateway.checkProxy("ws", proxy.key, proxy.secret));
});
