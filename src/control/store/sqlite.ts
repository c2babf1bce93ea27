/**
 * The embedded state store: SQLite through better-sqlite3, in WAL mode so a
 * `kill -9` loses nothing that was acknowledged. `:memory:` serves `berth
 * serve`'s throwaway platform.
 */
import type Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import type { AppManifest } from "../../sdk/contract.js";
import { copyBlobs } from "../manifest-blobs.js";
import { openDatabase, writing } from "./sqlite-files.js";
import type { AppRecord, AppState, Deployer, StateStore, VersionRecord } from "./types.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS apps (
  id TEXT PRIMARY KEY,
  workspace TEXT NOT NULL,
  name TEXT NOT NULL,
  ephemeral INTEGER NOT NULL,
  state TEXT NOT NULL,
  current_version_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (workspace, name, ephemeral)
);
CREATE TABLE IF NOT EXISTS versions (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  number INTEGER NOT NULL,
  bundle_hash TEXT NOT NULL,
  manifest TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deployed_by_token TEXT,
  deployed_by_name TEXT,
  UNIQUE (app_id, number)
);
`;

/** Columns added after the first release, for databases made before them. */
const ADDED_COLUMNS = [
  ["versions", "deployed_by_token", "TEXT"],
  ["versions", "deployed_by_name", "TEXT"],
  ["versions", "deploy_id", "TEXT"],
] as const;

interface AppRow {
  id: string;
  workspace: string;
  name: string;
  ephemeral: number;
  state: AppState;
  current_version_id: string | null;
  created_at: number;
  updated_at: number;
}

interface VersionRow {
  id: string;
  app_id: string;
  number: number;
  bundle_hash: string;
  manifest: string;
  created_at: number;
  deployed_by_token: string | null;
  deployed_by_name: string | null;
  deploy_id: string | null;
}

function toApp(row: AppRow): AppRecord {
  return {
    id: row.id,
    workspace: row.workspace,
    name: row.name,
    ephemeral: row.ephemeral === 1,
    state: row.state,
    currentVersionId: row.current_version_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toVersion(row: VersionRow): VersionRecord {
  return {
    id: row.id,
    appId: row.app_id,
    number: row.number,
    bundleHash: row.bundle_hash,
    manifest: JSON.parse(row.manifest) as AppManifest,
    createdAt: row.created_at,
    deployedBy: row.deployed_by_token === null ? null : { tokenId: row.deployed_by_token, name: row.deployed_by_name ?? "" },
    deployId: row.deploy_id,
  };
}

export class SqliteStore implements StateStore {
  private readonly db: Database.Database;

  constructor(private readonly path: string) {
    this.db = openDatabase(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    this.db.exec(SCHEMA);
    for (const [table, column, type] of ADDED_COLUMNS) {
      const columns = this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
      if (!columns.some((existing) => existing.name === column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
    this.db.exec("CREATE INDEX IF NOT EXISTS versions_deploy_id ON versions (deploy_id)");
  }

  recordDeployment(input: {
    workspace: string;
    name: string;
    ephemeral: boolean;
    bundleHash: string;
    manifest: AppManifest;
    now: number;
    deployedBy: Deployer;
    deployId?: string;
  }): { app: AppRecord; version: VersionRecord } {
    return writing(this.path, () => this.db.transaction(() => {
      let app = this.getApp(input.workspace, input.name, input.ephemeral);
      if (!app) {
        const id = randomUUID();
        this.db
          .prepare(
            "INSERT INTO apps (id, workspace, name, ephemeral, state, current_version_id, created_at, updated_at) VALUES (?, ?, ?, ?, 'deployed', NULL, ?, ?)",
          )
          .run(id, input.workspace, input.name, input.ephemeral ? 1 : 0, input.now, input.now);
        app = this.getApp(input.workspace, input.name, input.ephemeral)!;
      }
      const previous = this.db.prepare("SELECT MAX(number) AS n FROM versions WHERE app_id = ?").get(app.id) as { n: number | null };
      const versionId = randomUUID();
      this.db
        .prepare(
          "INSERT INTO versions (id, app_id, number, bundle_hash, manifest, created_at, deployed_by_token, deployed_by_name, deploy_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .run(
          versionId,
          app.id,
          (previous.n ?? 0) + 1,
          input.bundleHash,
          JSON.stringify(input.manifest),
          input.now,
          input.deployedBy.tokenId,
          input.deployedBy.name,
          input.deployId ?? null,
        );
      this.db
        .prepare("UPDATE apps SET current_version_id = ?, state = 'deployed', updated_at = ? WHERE id = ?")
        .run(versionId, input.now, app.id);
      return { app: this.getApp(input.workspace, input.name, input.ephemeral)!, version: this.getVersion(versionId)! };
    })());
  }

  findDeployment(workspace: string, deployId: string): { app: AppRecord; version: VersionRecord } | undefined {
    const row = this.db
      .prepare("SELECT versions.* FROM versions JOIN apps ON apps.id = versions.app_id WHERE versions.deploy_id = ? AND apps.workspace = ?")
      .get(deployId, workspace) as VersionRow | undefined;
    if (!row) return undefined;
    const app = this.db.prepare("SELECT * FROM apps WHERE id = ?").get(row.app_id) as AppRow;
    return { app: toApp(app), version: toVersion(row) };
  }

  getApp(workspace: string, name: string, ephemeral = false): AppRecord | undefined {
    const row = this.db
      .prepare("SELECT * FROM apps WHERE workspace = ? AND name = ? AND ephemeral = ?")
      .get(workspace, name, ephemeral ? 1 : 0) as AppRow | undefined;
    return row && toApp(row);
  }

  listApps(workspace?: string): AppRecord[] {
    const rows = (
      workspace === undefined
        ? this.db.prepare("SELECT * FROM apps ORDER BY workspace, name").all()
        : this.db.prepare("SELECT * FROM apps WHERE workspace = ? ORDER BY name").all(workspace)
    ) as AppRow[];
    return rows.map(toApp);
  }

  getVersion(id: string): VersionRecord | undefined {
    const row = this.db.prepare("SELECT * FROM versions WHERE id = ?").get(id) as VersionRow | undefined;
    return row && toVersion(row);
  }

  listVersions(appId: string): VersionRecord[] {
    return (this.db.prepare("SELECT * FROM versions WHERE app_id = ? ORDER BY number").all(appId) as VersionRow[]).map(toVersion);
  }

  blobsInUse(keep: number): string[] {
    const rows = this.db
      .prepare(
        `SELECT v.bundle_hash AS hash, v.manifest AS manifest FROM versions v JOIN apps a ON a.id = v.app_id
         WHERE v.id = a.current_version_id OR v.number > (SELECT MAX(w.number) FROM versions w WHERE w.app_id = v.app_id) - ?`,
      )
      .all(keep) as { hash: string; manifest: string }[];
    const blobs = new Set<string>();
    for (const row of rows) {
      blobs.add(row.hash);
      for (const blob of copyBlobs(JSON.parse(row.manifest) as AppManifest)) blobs.add(blob);
    }
    return [...blobs];
  }


  setAppState(appId: string, state: AppState, now: number): void {
    writing(this.path, () => this.db.prepare("UPDATE apps SET state = ?, updated_at = ? WHERE id = ?").run(state, now, appId));
  }

  deleteApp(appId: string): void {
    writing(this.path, () => this.db.prepare("DELETE FROM apps WHERE id = ?").run(appId));
  }

  close(): void {
    this.db.close();
  }
}
