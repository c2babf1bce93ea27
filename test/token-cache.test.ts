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

test("made-up keys cost no store read: the index is re-read at most once a second, which also finds tokens issued elsewhere", (t) => {
  const sqlite = new SqliteSecurityStore(":memory:");
  t.after(() => sqlite.close());
  let reads = 0;
  // Counts every read the token service makes of the store.
  const store = new Proxy(sqlite, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (property === "getToken" || property === "listTokens") reads += 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  let now = 0;
  const gateway = new TokenService(store, () => now);
  const valid = gateway.createProxyToken({ workspace: "ws" });
  reads = 0;
  for (let i = 0; i < 10_000; i++) assert.equal(gateway.checkProxy("ws", `wk-${i.toString(16).padStart(16, "0")}`, "ws-guess"), false);
  assert.equal(reads, 1, "one re-read of the index for ten thousand unknown keys");
  assert.ok(gateway.checkProxy("ws", valid.key, valid.secret));
  // Issued by another process (`berth token create --home`): found at the next re-read, within a second.
  const offline = new TokenService(sqlite, () => now).createProxyToken({ workspace: "ws" });
  now = 500;
  assert.equal(gateway.checkProxy("ws", offline.key, offline.secret), false, "the index was read 500 ms ago");
  now = 1_000;
  assert.ok(gateway.checkProxy("ws", offline.key, offline.secret), "re-read after a second");
  reads = 0;
  for (let i = 0; i < 1_000; i++) gateway.authenticate(`bt_${i.toString(16).padStart(16, "0")}_secret`);
  assert.equal(reads, 0, "API tokens go through the same index");
});
