/**
 * The storage conformance suite: one set of tests that every engine of the
 * storage interface (src/control/store/types.ts) passes, run by
 * test/store-sqlite.test.ts and test/store-postgres.test.ts. Each test gets
 * a fresh, empty database and may open it several times, as several nodes
 * (or a server and `berth token create --home`) do.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { BerthError } from "../../src/errors/codes.js";
import type { AppManifest } from "../../src/sdk/contract.js";
import type { Change, Store, TokenRecord } from "../../src/control/store/types.js";
import { waitFor } from "./wait.js";

export interface FreshDatabase {
  /** Another connection to the same database (another node, another process). */
  open(): Promise<Store>;
  /** Changes the stored bytes of a blob behind the store's back. */
  corruptBlob(hash: string): Promise<void>;
  /** Records schema version `version` as applied, as a newer berth would. */
  recordSchemaVersion(version: number): Promise<void>;
}

export interface Engine {
  name: string;
  fresh(): Promise<FreshDatabase>;
}

const BY = { tokenId: "bt_0123456789abcdef", name: "ci" };

const manifest = (name: string): AppManifest => ({ name, functions: [] }) as unknown as AppManifest;

const token = (id: string, extra: Partial<TokenRecord> = {}): TokenRecord => ({
  id,
  kind: "api",
  workspace: "ws",
  admin: false,
  name: `token ${id}`,
  secretHash: createHash("sha256").update(id).digest(),
  createdAt: 1000,
  revokedAt: null,
  ...extra,
});

const hashOf = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

export function storeSuite(engine: Engine): void {
  /** A store on a fresh database, closed after the test. */
  async function open(t: { after(fn: () => unknown): void }, db?: FreshDatabase) {
    const database = db ?? (await engine.fresh());
    const store = await database.open();
    t.after(() => store.close());
    return { store, database };
  }

  test(`${engine.name}: a deployment creates the app and numbers its versions`, async (t) => {
    const { store } = await open(t);
    const first = await store.apps.recordDeployment({ workspace: "ws", name: "shop", ephemeral: false, bundleHash: "a".repeat(64), manifest: manifest("shop"), now: 1000, deployedBy: BY });
    assert.equal(first.version.number, 1);
    assert.equal(first.app.currentVersionId, first.version.id);
    assert.equal(first.app.state, "deployed");
    assert.equal(first.app.ephemeral, false);
    assert.equal(first.app.createdAt, 1000);
    assert.deepEqual(first.version.manifest, manifest("shop"));
    assert.deepEqual(first.version.deployedBy, BY);
    const second = await store.apps.recordDeployment({ workspace: "ws", name: "shop", ephemeral: false, bundleHash: "b".repeat(64), manifest: manifest("shop"), now: 2000, deployedBy: BY });
    assert.equal(second.app.id, first.app.id);
    assert.equal(second.version.number, 2);
    assert.equal(second.app.updatedAt, 2000);
    assert.equal(second.app.createdAt, 1000);
    assert.deepEqual((await store.apps.getApp("ws", "shop"))?.currentVersionId, second.version.id);
    assert.deepEqual((await store.apps.getAppById(first.app.id))?.name, "shop");
    assert.deepEqual((await store.apps.listVersions(first.app.id)).map((v) => [v.number, v.bundleHash[0]]), [[1, "a"], [2, "b"]]);
    assert.equal((await store.apps.getVersion(first.version.id))?.bundleHash, "a".repeat(64));
    assert.equal(await store.apps.getVersion("nope"), undefined);
  });

  test(`${engine.name}: deployed and served apps of one name are separate; lists filter by workspace; delete removes versions`, async (t) => {
    const { store } = await open(t);
    const deployed = await store.apps.recordDeployment({ workspace: "ws", name: "x", ephemeral: false, bundleHash: "a".repeat(64), manifest: manifest("x"), now: 1, deployedBy: BY });
    const served = await store.apps.recordDeployment({ workspace: "ws", name: "x", ephemeral: true, bundleHash: "a".repeat(64), manifest: manifest("x"), now: 1, deployedBy: BY });
    await store.apps.recordDeployment({ workspace: "other", name: "y", ephemeral: false, bundleHash: "a".repeat(64), manifest: manifest("y"), now: 1, deployedBy: BY });
    assert.notEqual(deployed.app.id, served.app.id);
    assert.equal(served.version.number, 1);
    assert.equal((await store.apps.getApp("ws", "x", true))?.id, served.app.id);
    assert.deepEqual((await store.apps.listApps("ws")).map((a) => [a.name, a.ephemeral]), [["x", false], ["x", true]]);
    assert.deepEqual((await store.apps.listApps()).map((a) => a.workspace), ["other", "ws", "ws"]);
    await store.apps.setAppState(deployed.app.id, "stopped", 5);
    assert.equal((await store.apps.getApp("ws", "x"))?.state, "stopped");
    await store.apps.deleteApp(served.app.id);
    assert.equal(await store.apps.getApp("ws", "x", true), undefined);
    assert.equal(await store.apps.getVersion(served.version.id), undefined, "versions go with their app");
    assert.deepEqual(await store.apps.listVersions(served.app.id), []);
  });

  test(`${engine.name}: deploys of one app from several nodes at once get distinct version numbers`, async (t) => {
    const { store, database } = await open(t);
    const { store: other } = await open(t, database);
    const deploy = (s: Store, i: number) =>
      s.apps.recordDeployment({ workspace: "ws", name: "race", ephemeral: false, bundleHash: "c".repeat(64), manifest: manifest("race"), now: i, deployedBy: BY });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => deploy(i % 2 ? store : other, i)));
    assert.deepEqual(results.map((r) => r.version.number).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(new Set(results.map((r) => r.app.id)).size, 1);
  });

  test(`${engine.name}: a deploy id finds its version; the same id again, from any node at once, makes no second version`, async (t) => {
    const { store, database } = await open(t);
    const { store: other } = await open(t, database);
    const deploy = (s: Store, bundle: string, deployId?: string) =>
      s.apps.recordDeployment({ workspace: "ws", name: "once", ephemeral: false, bundleHash: bundle.repeat(64), manifest: manifest("once"), now: 5, deployedBy: BY, deployId });
    const plain = await deploy(store, "a");
    assert.equal(plain.version.deployId, null);
    assert.equal(await store.apps.findDeployment("ws", "d-1"), undefined);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => deploy(i % 2 ? store : other, "b", "d-1")));
    assert.equal(new Set(results.map((r) => r.version.id)).size, 1, "one version for one deploy id");
    assert.equal(results[0]!.version.number, 2);
    assert.equal(results[0]!.version.deployId, "d-1");
    const found = await other.apps.findDeployment("ws", "d-1");
    assert.equal(found?.version.id, results[0]!.version.id);
    assert.equal(found?.app.name, "once");
    assert.equal(await store.apps.findDeployment("other-ws", "d-1"), undefined, "deploy ids are per workspace");
    assert.equal((await store.apps.listVersions(plain.app.id)).length, 2);
  });

  test(`${engine.name}: blobs in use are the last versions' (bundles and copy archives); pruning deletes what \`keep\` refuses`, async (t) => {
    const { store, database } = await open(t);
    const { store: other } = await open(t, database);
    const withCopy = (name: string, blob: string): AppManifest =>
      ({ name, functions: [{ image: { steps: [{ kind: "copy", blob }] } }] }) as unknown as AppManifest;
    const blobs = await Promise.all(["one", "two", "three", "archive"].map((text) => store.blobs.put(Buffer.from(text))));
    const [one, two, three, archive] = blobs as [string, string, string, string];
    for (const [i, bundle] of [one, two, three].entries()) {
      await store.apps.recordDeployment({ workspace: "ws", name: "kept", ephemeral: false, bundleHash: bundle, manifest: withCopy("kept", i === 0 ? archive : bundle), now: 100 + i, deployedBy: BY });
    }
    assert.deepEqual(new Set(await store.apps.blobsInUse(2)), new Set([two, three]));
    assert.deepEqual(new Set(await store.apps.blobsInUse(3)), new Set([one, two, three, archive]));
    const named = await other.apps.blobsNamed();
    assert.equal(named.get(one), 100);
    assert.equal(named.get(archive), 100);
    assert.equal(named.get(three), 102);
    const stored = new Map<string, number>();
    const removed = await store.blobs.prune((hash, storedAt) => {
      stored.set(hash, storedAt);
      return hash !== one && hash !== archive;
    });
    assert.equal(removed, 2);
    assert.ok(Math.abs(stored.get(two)! - Date.now()) < 60_000, "storedAt is when the blob was stored (epoch ms)");
    assert.equal(await other.blobs.has(one), false);
    assert.equal(await other.blobs.has(archive), false);
    assert.equal(await other.blobs.has(two), true);
    // Stored again: its time is renewed, whichever node stores it.
    const before = stored.get(two)!;
    await new Promise((resolve) => setTimeout(resolve, 20));
    await other.blobs.put(Buffer.from("two"));
    let renewed = 0;
    await store.blobs.prune((hash, storedAt) => {
      if (hash === two) renewed = storedAt;
      return true;
    });
    assert.ok(renewed > before, `a re-upload renews the stored time (${before} -> ${renewed})`);
  });

  test(`${engine.name}: tokens are stored, listed oldest first, revoked once`, async (t) => {
    const { store } = await open(t);
    await store.security.insertToken(token("bt_1", { createdAt: 2 }));
    await store.security.insertToken(token("wk-2", { kind: "proxy", workspace: "other", createdAt: 1 }));
    await store.security.insertToken(token("bt_3", { admin: true, createdAt: 3 }));
    const read = await store.security.getToken("bt_3");
    assert.deepEqual(read, token("bt_3", { admin: true, createdAt: 3 }));
    assert.ok(Buffer.isBuffer(read?.secretHash));
    assert.deepEqual((await store.security.listTokens()).map((r) => r.id), ["wk-2", "bt_1", "bt_3"]);
    assert.deepEqual((await store.security.listTokens("ws")).map((r) => r.id), ["bt_1", "bt_3"]);
    assert.equal(await store.security.revokeToken("bt_1", 99), true);
    assert.equal(await store.security.revokeToken("bt_1", 100), false, "already revoked");
    assert.equal(await store.security.revokeToken("bt_nope", 100), false);
    assert.equal((await store.security.getToken("bt_1"))?.revokedAt, 99);
    await assert.rejects(store.security.insertToken(token("bt_3")), "ids are unique");
  });

  test(`${engine.name}: only one bootstrap token, however many nodes start at once`, async (t) => {
    const { store, database } = await open(t);
    const { store: other } = await open(t, database);
    const inserted = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? store : other).security.insertFirstApiToken(token(`bt_${i}`))));
    assert.equal(inserted.filter(Boolean).length, 1);
    assert.equal((await store.security.listTokens()).length, 1);
    const [only] = await store.security.listTokens();
    await store.security.revokeToken(only!.id, 5);
    assert.equal(await store.security.insertFirstApiToken(token("bt_new")), true, "a platform whose API tokens are all revoked gets a new one");
    await store.security.insertToken(token("wk-p", { kind: "proxy" }));
    assert.equal(await store.security.insertFirstApiToken(token("bt_newer")), false);
  });

  test(`${engine.name}: secrets are created, replaced, listed by workspace and deleted`, async (t) => {
    const { store } = await open(t);
    const sealed = randomBytes(40);
    await store.security.putSecret({ workspace: "ws", name: "db", keys: ["USER", "PASSWORD"], sealed, createdAt: 1, updatedAt: 1 });
    await store.security.putSecret({ workspace: "ws", name: "api", keys: ["KEY"], sealed, createdAt: 1, updatedAt: 1 });
    await store.security.putSecret({ workspace: "other", name: "db", keys: ["X"], sealed, createdAt: 1, updatedAt: 1 });
    await store.security.putSecret({ workspace: "ws", name: "db", keys: ["URL"], sealed: Buffer.from("new"), createdAt: 1, updatedAt: 7 });
    const db = await store.security.getSecret("ws", "db");
    assert.deepEqual(db, { workspace: "ws", name: "db", keys: ["URL"], sealed: Buffer.from("new"), createdAt: 1, updatedAt: 7 });
    assert.deepEqual((await store.security.listSecrets("ws")).map((s) => s.name), ["api", "db"]);
    assert.equal(await store.security.deleteSecret("ws", "db"), true);
    assert.equal(await store.security.deleteSecret("ws", "db"), false);
    assert.equal(await store.security.getSecret("ws", "db"), undefined);
    assert.ok(await store.security.getSecret("other", "db"));
  });

  test(`${engine.name}: workspace limits and settings`, async (t) => {
    const { store, database } = await open(t);
    await store.security.setLimit({ workspace: "b", rate: 2.5, burst: 10 });
    await store.security.setLimit({ workspace: "a", rate: 100, burst: 500 });
    await store.security.setLimit({ workspace: "b", rate: 3, burst: 12 });
    assert.deepEqual(await store.security.listLimits(), [
      { workspace: "a", rate: 100, burst: 500 },
      { workspace: "b", rate: 3, burst: 12 },
    ]);
    const { store: other } = await open(t, database);
    const claims = await Promise.all([store.security.claimSetting("k", "first"), other.security.claimSetting("k", "second")]);
    assert.equal(claims[0], claims[1], "every node reads the one value that won");
    assert.equal(await store.security.claimSetting("k", "third"), claims[0]);
  });

  test(`${engine.name}: nodes heartbeat, are listed with their age and load, and are removed`, async (t) => {
    const { store } = await open(t);
    const load = { apps: 2, containers: 3, inFlight: 4, queued: 5 };
    await store.nodes.heartbeat({ id: "b", url: "http://127.0.0.1:2", instance: "i1", startedAt: 10, load });
    await store.nodes.heartbeat({ id: "a", url: "http://127.0.0.1:1", instance: "i2", startedAt: 20, load: { ...load, apps: 0 } });
    await store.nodes.heartbeat({ id: "b", url: "http://127.0.0.1:3", instance: "i3", startedAt: 30, load });
    const nodes = await store.nodes.listNodes();
    assert.deepEqual(nodes.map((n) => [n.id, n.url, n.instance, n.startedAt]), [["a", "http://127.0.0.1:1", "i2", 20], ["b", "http://127.0.0.1:3", "i3", 30]]);
    assert.deepEqual(nodes[1]!.load, load);
    for (const node of nodes) assert.ok(node.ageMs >= 0 && node.ageMs < 5000, `age ${node.ageMs}`);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.ok((await store.nodes.listNodes())[0]!.ageMs >= 40, "age grows between heartbeats");
    assert.equal(await store.nodes.pruneNodes(60_000), 0);
    await store.nodes.removeNode("a");
    assert.deepEqual((await store.nodes.listNodes()).map((n) => n.id), ["b"]);
    assert.equal(await store.nodes.pruneNodes(10), 1);
    assert.deepEqual(await store.nodes.listNodes(), []);
  });

  test(`${engine.name}: blobs are content-addressed and checked on every read`, async (t) => {
    const { store, database } = await open(t);
    const small = Buffer.from("export default 1;\n");
    const hash = await store.blobs.put(small);
    assert.equal(hash, hashOf(small));
    assert.equal(await store.blobs.has(hash), true);
    assert.deepEqual(await store.blobs.get(hash), small);
    assert.equal(await store.blobs.put(small, hash), hash, "storing the same bytes again is a no-op");
    const wrong = "0".repeat(64);
    await assert.rejects(store.blobs.put(small, wrong), (error: BerthError) => error.code === "invalid_input" && /hash mismatch/.test(error.message));
    assert.equal(await store.blobs.has(wrong), false);
    await assert.rejects(store.blobs.get(wrong), (error: BerthError) => error.code === "not_found");
    await assert.rejects(store.blobs.has("../etc/passwd"), (error: BerthError) => error.code === "invalid_input");

    // Larger than a chunk, and readable by another node.
    const large = randomBytes(3 * 1024 * 1024 + 17);
    const largeHash = await store.blobs.put(large);
    const { store: other } = await open(t, database);
    assert.ok((await other.blobs.get(largeHash)).equals(large));
    const empty = await store.blobs.put(new Uint8Array(0));
    assert.equal((await other.blobs.get(empty)).length, 0);

    await database.corruptBlob(hash);
    await assert.rejects(store.blobs.get(hash), (error: BerthError) => /corrupt/.test(error.message) && /deploy the app again/.test(error.message));
    assert.equal(await store.blobs.has(hash), false, "a corrupt blob is removed, so the next upload replaces it");
    await store.blobs.put(small, hash);
    assert.deepEqual(await store.blobs.get(hash), small);
  });

  test(`${engine.name}: every node can read a blob as a file of its own, never damaged bytes`, async (t) => {
    const { store, database } = await open(t);
    const { store: other } = await open(t, database);
    const archive = randomBytes(2 * 1024 * 1024 + 5);
    const hash = await store.blobs.put(archive);
    const path = await other.blobs.file(hash);
    assert.ok(readFileSync(path).equals(archive));
    assert.equal(other.blobs.localPath(hash), path, "the file stays for the image builder, which reads it synchronously");
    await assert.rejects(other.blobs.file("1".repeat(64)), (error: BerthError) => error.code === "not_found");
    assert.equal(other.blobs.localPath("1".repeat(64)), undefined);

    // Damaged on this node's disk: fetched again (PostgreSQL) or reported (SQLite, where the file is the blob), never used.
    writeFileSync(path, "tampered");
    const again = await other.blobs.file(hash).then(
      (p) => readFileSync(p),
      (error: BerthError) => (assert.match(error.message, /corrupt/), undefined),
    );
    if (again !== undefined) assert.ok(again.equals(archive));
  });

  test(`${engine.name}: what one node writes, the others hear of`, async (t) => {
    const { store: writer, database } = await open(t);
    const { store: reader } = await open(t, database);
    const heard: Change[] = [];
    const stop = reader.watch((change) => heard.push(change));
    t.after(stop);
    // Give the reader's feed a moment to start before writing (PostgreSQL: its LISTEN; SQLite: its first poll).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { app } = await writer.apps.recordDeployment({ workspace: "ws", name: "n", ephemeral: false, bundleHash: "a".repeat(64), manifest: manifest("n"), now: 1, deployedBy: BY });
    await writer.security.insertToken(token("bt_w"));
    await writer.security.revokeToken("bt_w", 2);
    await writer.security.setLimit({ workspace: "ws", rate: 1, burst: 1 });
    await writer.security.putSecret({ workspace: "ws", name: "s", keys: ["K"], sealed: Buffer.from("x"), createdAt: 1, updatedAt: 1 });
    await writer.apps.setAppState(app.id, "stopped", 3);
    await writer.nodes.heartbeat({ id: "gone", url: "http://x", instance: "i", startedAt: 1, load: { apps: 0, containers: 0, inFlight: 0, queued: 0 } });
    await writer.nodes.removeNode("gone");
    await writer.apps.deleteApp(app.id);
    const expected: Change[] = [
      { topic: "app", id: app.id },
      { topic: "token", id: "bt_w" },
      { topic: "token", id: "bt_w" },
      { topic: "limit", id: "ws" },
      { topic: "secret", id: "ws/s" },
      { topic: "app", id: app.id },
      { topic: "node", id: "gone" },
      { topic: "app", id: app.id },
    ];
    const changes = () => heard.filter((change) => change.topic !== "resync");
    await waitFor("every change to arrive", () => changes().length >= expected.length || undefined, 5000, 20);
    assert.deepEqual(changes(), expected);
    // PostgreSQL's feed asks for a resync once its LISTEN is up, before any change it hears: what was written before could not be heard.
    if (engine.name === "postgres") assert.deepEqual(heard[0], { topic: "resync", id: "" });
  });

  test(`${engine.name}: migrations apply once, and a newer schema is refused with a clear message`, async () => {
    const database = await engine.fresh();
    const first = await database.open();
    await first.apps.recordDeployment({ workspace: "ws", name: "kept", ephemeral: false, bundleHash: "a".repeat(64), manifest: manifest("kept"), now: 1, deployedBy: BY });
    await first.close();
    const again = await database.open();
    assert.equal((await again.apps.listApps()).length, 1, "reopening keeps the data");
    await again.close();
    await database.recordSchemaVersion(999);
    await assert.rejects(
      database.open(),
      (error: BerthError) => error.code === "incompatible_state" && /schema version 999, newer than this berth knows \(\d+\)/.test(error.message) && /Upgrade berth/.test(error.message),
    );
  });
}
