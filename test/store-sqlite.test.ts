/** The storage conformance suite on the SQLite engine: a state directory per test, opened as often as a test likes. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { SqliteStore } from "../src/control/store/sqlite.js";
import { storeSuite } from "./support/store-suite.js";

const homes: string[] = [];
after(() => homes.forEach((home) => rmSync(home, { recursive: true, force: true })));

storeSuite({
  name: "sqlite",
  async fresh() {
    const home = mkdtempSync(join(tmpdir(), "berth-store-"));
    homes.push(home);
    return {
      open: async () => SqliteStore.inHome(home),
      async corruptBlob(hash) {
        writeFileSync(join(home, "blobs", "sha256", hash), "tampered");
      },
      async recordSchemaVersion(version) {
        const db = new Database(join(home, "state.db"));
        db.prepare("INSERT INTO berth_schema (version, name, applied_at) VALUES (?, 'from the future', 0)").run(version);
        db.close();
      },
    };
  },
});

test("sqlite: a state.db made before migrations were recorded is migrated in place, its data kept", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "berth-store-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  // The schema berth wrote before schema versions existed (apps and versions; tokens, secrets and limits).
  const db = new Database(join(home, "state.db"));
  db.exec(`
CREATE TABLE apps (id TEXT PRIMARY KEY, workspace TEXT NOT NULL, name TEXT NOT NULL, ephemeral INTEGER NOT NULL, state TEXT NOT NULL,
  current_version_id TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE (workspace, name, ephemeral));
CREATE TABLE versions (id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE, number INTEGER NOT NULL,
  bundle_hash TEXT NOT NULL, manifest TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (app_id, number));
CREATE TABLE tokens (id TEXT PRIMARY KEY, kind TEXT NOT NULL, workspace TEXT NOT NULL, admin INTEGER NOT NULL, name TEXT NOT NULL,
  secret_hash BLOB NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE TABLE secrets (workspace TEXT NOT NULL, name TEXT NOT NULL, keys TEXT NOT NULL, sealed BLOB NOT NULL, created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, PRIMARY KEY (workspace, name));
CREATE TABLE workspace_limits (workspace TEXT PRIMARY KEY, rate REAL NOT NULL, burst REAL NOT NULL);
INSERT INTO apps VALUES ('a1', 'local', 'old', 0, 'deployed', 'v1', 1, 1);
INSERT INTO versions VALUES ('v1', 'a1', 1, '${"a".repeat(64)}', '{"name":"old","functions":[]}', 1);
INSERT INTO workspace_limits VALUES ('local', 7, 35);
`);
  db.close();
  const store = SqliteStore.inHome(home);
  t.after(() => store.close());
  assert.equal(store.schemaVersion(), 4);
  assert.equal((await store.apps.getApp("local", "old"))?.currentVersionId, "v1");
  assert.deepEqual(await store.security.listLimits(), [{ workspace: "local", rate: 7, burst: 35 }]);
  await store.nodes.heartbeat({ id: "n", url: "http://n", instance: "i", startedAt: 1, load: { apps: 0, containers: 0, inFlight: 0, queued: 0 } });
  assert.equal((await store.nodes.listNodes()).length, 1, "the tables of later migrations exist");
});
