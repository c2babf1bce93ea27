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

test("an API token issued straight into the store (berth token create --home) works on a running server at once", async (t) => {
  const { server, offline } = twoWriters(t);
  const running = await TokenService.open(server.security);
  const issued = await (await TokenService.open(offline.security)).createApiToken({ workspace: "ws", admin: true });
  assert.deepEqual(await running.authenticate(issued.token), { tokenId: issued.id, workspace: "ws", admin: true });
  await running.revoke(issued.id);
  assert.equal(await running.authenticate(issued.token), undefined);
  assert.equal(await (await TokenService.open(offline.security)).authenticate(issued.token), undefined, "revocation is stored");
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
