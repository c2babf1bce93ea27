/** The token service's cache against the store it shares with other processes, on a fake clock. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TokenService } from "../src/control/auth.js";
import { SqliteSecurityStore } from "../src/control/store/security-sqlite.js";

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
