/**
 * The token service's memory against the store it shares with other
 * processes and nodes: tokens are checked from memory, and what another
 * writer does reaches it through the store's change feed (here SQLite's,
 * polled; PostgreSQL's NOTIFY is exercised by test/cluster.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { TokenService } from "../src/control/auth.js";
import { SqliteStore } from "../src/control/store/sqlite.js";
import { waitFor } from "./support/wait.js";

/** Two processes on one state directory: the server's store, and another (`berth token ... --home`). */
function twoWriters(t: TestContext) {
  const home = mkdtempSync(join(tmpdir(), "berth-tokens-"));
  const server = SqliteStore.inHome(home);
  const offline = SqliteStore.inHome(home);
  t.after(async () => {
    await server.close();
    await offline.close();
    rmSync(home, { recursive: true, force: true });
  });
  return { server, offline };
}

test("an API token issued straight into the store (berth token create --home) works on a running server within a second", async (t) => {
  const { server, offline } = twoWriters(t);
  let now = 0;
  const running = await TokenService.open(server.security, () => now);
  const issued = await (await TokenService.open(offline.security)).createApiToken({ workspace: "ws", admin: true });
  now = 999;
  assert.equal(await running.authenticate(issued.token), undefined, "every token was read 999 ms ago");
  now = 1000;
  assert.deepEqual(await running.authenticate(issued.token), { tokenId: issued.id, workspace: "ws", admin: true });
  await running.revoke(issued.id);
  assert.equal(await running.authenticate(issued.token), undefined);
  now = 5000;
  assert.equal(await running.authenticate(issued.token), undefined, "revocation is stored");
});

test("proxy tokens are checked from memory only; another writer's new and revoked tokens arrive through the change feed", async (t) => {
  const { server, offline } = twoWriters(t);
  const gateway = await TokenService.open(server.security);
  const stop = server.watch((change) => {
    if (change.topic === "token") void gateway.refresh(change.id);
  });
  t.after(stop);
  const other = await TokenService.open(offline.security);
  const proxy = await other.createProxyToken({ workspace: "ws" });
  assert.equal(gateway.checkProxy("ws", proxy.key, proxy.secret), false, "not read from the store on the request path");
  await waitFor("the new token to arrive", () => gateway.checkProxy("ws", proxy.key, proxy.secret) || undefined, 5000, 20);
  assert.equal(gateway.checkProxy("other", proxy.key, proxy.secret), false, "a token of another workspace");
  assert.equal(gateway.checkProxy("ws", proxy.key, "ws-wrong"), false);
  await other.revoke(proxy.id);
  await waitFor("the revocation to arrive", () => !gateway.checkProxy("ws", proxy.key, proxy.secret) || undefined, 5000, 20);
});

test("reload reads every token again: what was missed is caught up", async (t) => {
  const { server, offline } = twoWriters(t);
  const gateway = await TokenService.open(server.security);
  const other = await TokenService.open(offline.security);
  const kept = await other.createProxyToken({ workspace: "ws" });
  const revoked = await gateway.createProxyToken({ workspace: "ws" });
  await other.revoke(revoked.id);
  assert.equal(gateway.checkProxy("ws", revoked.key, revoked.secret), true, "nothing told it yet");
  await gateway.reload();
  assert.equal(gateway.checkProxy("ws", revoked.key, revoked.secret), false);
  assert.equal(gateway.checkProxy("ws", kept.key, kept.secret), true);
});

test("made-up keys cost no store read; made-up API ids one read of every token per second at most", async (t) => {
  const { server } = twoWriters(t);
  let reads = 0;
  // Counts every read the token service makes of the store.
  const store = new Proxy(server.security, {
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
  const gateway = await TokenService.open(store, () => now);
  const valid = await gateway.createProxyToken({ workspace: "ws" });
  reads = 0;
  for (let i = 0; i < 10_000; i++) assert.equal(gateway.checkProxy("ws", `wk-${i.toString(16).padStart(16, "0")}`, "ws-guess"), false);
  assert.equal(reads, 0, "unknown proxy keys never reach the store");
  assert.ok(gateway.checkProxy("ws", valid.key, valid.secret));
  now = 5_000;
  for (let i = 0; i < 1_000; i++) assert.equal(await gateway.authenticate(`bt_${i.toString(16).padStart(16, "0")}_secret`), undefined);
  assert.equal(reads, 1, "a thousand unknown API ids: one read of every token");
  now = 6_000;
  await gateway.authenticate(`bt_${"f".repeat(16)}_secret`);
  assert.equal(reads, 2, "and one more a second later");
});
