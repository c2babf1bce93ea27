/**
 * The SQLite engine: all state of one machine in `<home>/state.db` through
 * better-sqlite3, in WAL mode so a `kill -9` loses nothing that was
 * acknowledged; bundles as files beside it (file-blobs.ts). `:memory:`
 * serves `berth serve`'s throwaway apps.
 *
 * Other processes may write the same file (`berth token create --home`
 * while the server runs), so every write also appends to a `changes` table
 * in its transaction, and `watch` polls that table (every 200 ms, one
 * indexed read) to tell listeners what changed. SQLite numbers the rows in
 * commit order (writers are serialised), so nothing is skipped; a gap means
 * old rows were pruned while a reader slept, and it is told to resync.
 */
import type Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { AppManifest } from "../../sdk/contract.js";
import { namedBlobs, usedBlobs } from "../manifest-blobs.js";
import { FileBlobStore } from "./file-blobs.js";
import { LIST_LIMITS, toLimit, type LimitRow } from "./limits.js";
import { pendingMigrations, SQLITE_MIGRATIONS } from "./migrations.js";
import { openDatabase, writing } from "./sqlite-files.js";
import type {
  AppRecord,
  AppState,
  AppStore,
  Change,
  ChangeListener,
  DeploymentInput,
  NodeLoad,
  NodeRecord,
  NodeStore,
  SecretRecord,
  SecurityStore,
  SessionRecord,
  SessionStore,
  Store,
  TokenRecord,
  VersionRecord,
  WorkspaceLimit,
} from "./types.js";

/** Milliseconds between reads of the change table while anyone watches. */
const POLL_MS = 200;
/** Change rows older than this (milliseconds) are pruned; a reader asleep longer resyncs. */
const KEEP_CHANGES_MS = 10 * 60_000;

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

/**
 * Columns that migration 1 creates but that databases made before
 * migrations were recorded may lack (its CREATE TABLE IF NOT EXISTS leaves
 * their tables as they were): added when missing.
 */
const LEGACY_COLUMNS = [
  ["versions", "deployed_by_token", "TEXT"],
  ["versions", "deployed_by_name", "TEXT"],
] as const;

interface TokenRow {
  id: string;
  kind: TokenRecord["kind"];
  workspace: string;
  admin: number;
  name: string;
  secret_hash: Buffer;
  created_at: number;
  revoked_at: number | null;
}

interface SecretRow {
  workspace: string;
  name: string;
  keys: string;
  sealed: Buffer;
  created_at: number;
  updated_at: number;
}

interface NodeRow {
  id: string;
  url: string;
  instance: string;
  started_at: number;
  heartbeat_at: number;
  load: string;
}

interface SessionRow {
  id_hash: Buffer;
  sealed: Buffer;
  flash: Buffer | null;
  created_at: number;
  seen_at: number;
}

const toApp = (row: AppRow): AppRecord => ({
  id: row.id,
  workspace: row.workspace,
  name: row.name,
  ephemeral: row.ephemeral === 1,
  state: row.state,
  currentVersionId: row.current_version_id,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toVersion = (row: VersionRow): VersionRecord => ({
  id: row.id,
  appId: row.app_id,
  number: row.number,
  bundleHash: row.bundle_hash,
  manifest: JSON.parse(row.manifest) as AppManifest,
  createdAt: row.created_at,
  deployedBy: row.deployed_by_token === null ? null : { tokenId: row.deployed_by_token, name: row.deployed_by_name ?? "" },
  deployId: row.deploy_id,
});

const toToken = (row: TokenRow): TokenRecord => ({
  id: row.id,
  kind: row.kind,
  workspace: row.workspace,
  admin: row.admin === 1,
  name: row.name,
  secretHash: row.secret_hash,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

const toSecret = (row: SecretRow): SecretRecord => ({
  workspace: row.workspace,
  name: row.name,
  keys: JSON.parse(row.keys) as string[],
  sealed: row.sealed,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Opens (creating and migrating) the database at `path`; blobs go under `blobDir`. */
export class SqliteStore implements Store {
  readonly engine = "sqlite";
  readonly apps: AppStore;
  readonly security: SecurityStore;
  readonly nodes: NodeStore;
  readonly sessions: SessionStore;
  readonly blobs: FileBlobStore;
  private readonly db: Database.Database;
  private readonly listeners = new Set<ChangeListener>();
  private poller: NodeJS.Timeout | undefined;
  private lastSeq = 0;
  private writes = 0;

  constructor(
    readonly location: string,
    blobDir: string,
  ) {
    this.db = openDatabase(location);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("busy_timeout = 5000");
    this.migrate();
    this.blobs = new FileBlobStore(blobDir);
    const changed: Notify = (topic, id) => this.changed(topic, id);
    const write: Write = (body) => writing(location, () => this.db.transaction(body)());
    this.apps = new SqliteApps(this.db, changed, write);
    this.security = new SqliteSecurity(this.db, changed, write);
    this.nodes = new SqliteNodes(this.db, changed, write);
    this.sessions = new SqliteSessions(this.db, write);
  }

  /** `<home>/state.db` with blobs in `<home>/blobs`. */
  static inHome(home: string): SqliteStore {
    return new SqliteStore(join(home, "state.db"), join(home, "blobs"));
  }

  /** The schema version this database is at. */
  schemaVersion(): number {
    return (this.db.prepare("SELECT COALESCE(MAX(version), 0) AS v FROM berth_schema").get() as { v: number }).v;
  }

  private migrate(): void {
    this.db.exec("CREATE TABLE IF NOT EXISTS berth_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    // IMMEDIATE: two processes opening a fresh file at once must not both apply a migration.
    this.db
      .transaction(() => {
        for (const migration of pendingMigrations(SQLITE_MIGRATIONS, this.schemaVersion(), this.location)) {
          this.db.exec(migration.sql);
          if (migration.version === 1) this.addLegacyColumns();
          this.db.prepare("INSERT INTO berth_schema (version, name, applied_at) VALUES (?, ?, ?)").run(migration.version, migration.name, Date.now());
        }
      })
      .immediate();
  }

  private addLegacyColumns(): void {
    for (const [table, column, type] of LEGACY_COLUMNS) {
      const columns = this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
      if (!columns.some((existing) => existing.name === column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
  }

  watch(listener: ChangeListener): () => void {
    if (this.listeners.size === 0) {
      this.lastSeq = (this.db.prepare("SELECT COALESCE(MAX(seq), 0) AS seq FROM changes").get() as { seq: number }).seq;
      this.poller = setInterval(() => this.poll(), POLL_MS);
      this.poller.unref();
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) clearInterval(this.poller);
    };
  }

  private poll(): void {
    const rows = this.db.prepare("SELECT seq, topic, id FROM changes WHERE seq > ? ORDER BY seq").all(this.lastSeq) as {
      seq: number;
      topic: Change["topic"];
      id: string;
    }[];
    if (rows.length === 0) return;
    const gap = rows[0]!.seq > this.lastSeq + 1 && this.lastSeq > 0;
    this.lastSeq = rows.at(-1)!.seq;
    const changes: Change[] = gap ? [{ topic: "resync", id: "" }] : rows.map(({ topic, id }) => ({ topic, id }) as Change);
    for (const change of changes) for (const listener of this.listeners) listener(change);
  }

  /** Appends to the change table; called inside the write's own transaction. */
  private changed(topic: Change["topic"], id: string): void {
    const now = Date.now();
    this.db.prepare("INSERT INTO changes (topic, id, at) VALUES (?, ?, ?)").run(topic, id, now);
    this.writes += 1;
    if (this.writes % 500 === 0) this.db.prepare("DELETE FROM changes WHERE at < ?").run(now - KEEP_CHANGES_MS);
  }

  async close(): Promise<void> {
    clearInterval(this.poller);
    this.listeners.clear();
    this.db.close();
  }
}

type Notify = (topic: Change["topic"], id: string) => void;
/** Runs a write in a transaction; a full disk is thrown as `storage_full` naming the database. */
type Write = <T>(body: () => T) => T;

class SqliteApps implements AppStore {
  constructor(
    private readonly db: Database.Database,
    private readonly changed: Notify,
    private readonly write: Write,
  ) {}

  async recordDeployment(input: DeploymentInput): Promise<{ app: AppRecord; version: VersionRecord }> {
    return this.write(() => {
      let app = this.app(input.workspace, input.name, input.ephemeral);
      if (!app) {
        this.db
          .prepare(
            "INSERT INTO apps (id, workspace, name, ephemeral, state, current_version_id, created_at, updated_at) VALUES (?, ?, ?, ?, 'deployed', NULL, ?, ?)",
          )
          .run(randomUUID(), input.workspace, input.name, input.ephemeral ? 1 : 0, input.now, input.now);
        app = this.app(input.workspace, input.name, input.ephemeral)!;
      }
      if (input.deployId !== undefined) {
        // Another process on this file may have recorded the same deploy: it made the version, this one finds it.
        const done = this.db.prepare("SELECT * FROM versions WHERE app_id = ? AND deploy_id = ?").get(app.id, input.deployId) as VersionRow | undefined;
        if (done) return { app, version: toVersion(done) };
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
      this.db.prepare("UPDATE apps SET current_version_id = ?, state = 'deployed', updated_at = ? WHERE id = ?").run(versionId, input.now, app.id);
      this.changed("app", app.id);
      return { app: this.app(input.workspace, input.name, input.ephemeral)!, version: this.version(versionId)! };
    });
  }

  private app(workspace: string, name: string, ephemeral: boolean): AppRecord | undefined {
    const row = this.db
      .prepare("SELECT * FROM apps WHERE workspace = ? AND name = ? AND ephemeral = ?")
      .get(workspace, name, ephemeral ? 1 : 0) as AppRow | undefined;
    return row && toApp(row);
  }

  private version(id: string): VersionRecord | undefined {
    const row = this.db.prepare("SELECT * FROM versions WHERE id = ?").get(id) as VersionRow | undefined;
    return row && toVersion(row);
  }

  async findDeployment(workspace: string, deployId: string): Promise<{ app: AppRecord; version: VersionRecord } | undefined> {
    const row = this.db
      .prepare("SELECT versions.* FROM versions JOIN apps ON apps.id = versions.app_id WHERE versions.deploy_id = ? AND apps.workspace = ?")
      .get(deployId, workspace) as VersionRow | undefined;
    if (!row) return undefined;
    const app = this.db.prepare("SELECT * FROM apps WHERE id = ?").get(row.app_id) as AppRow | undefined;
    return app && { app: toApp(app), version: toVersion(row) };
  }

  async blobsInUse(keep: number): Promise<string[]> {
    const rows = this.db
      .prepare(
        `SELECT v.bundle_hash AS hash, v.manifest AS manifest FROM versions v JOIN apps a ON a.id = v.app_id
         WHERE v.id = a.current_version_id OR v.number > (SELECT MAX(w.number) FROM versions w WHERE w.app_id = v.app_id) - ?`,
      )
      .all(keep) as { hash: string; manifest: string }[];
    return usedBlobs(rows);
  }

  async blobsNamed(): Promise<Map<string, number>> {
    return namedBlobs(this.db.prepare("SELECT bundle_hash AS hash, manifest, created_at FROM versions").all() as { hash: string; manifest: string; created_at: number }[]);
  }

  async getApp(workspace: string, name: string, ephemeral = false): Promise<AppRecord | undefined> {
    return this.app(workspace, name, ephemeral);
  }

  async getAppById(id: string): Promise<AppRecord | undefined> {
    const row = this.db.prepare("SELECT * FROM apps WHERE id = ?").get(id) as AppRow | undefined;
    return row && toApp(row);
  }

  async listApps(workspace?: string): Promise<AppRecord[]> {
    const rows = (
      workspace === undefined
        ? this.db.prepare("SELECT * FROM apps ORDER BY workspace, name, ephemeral").all()
        : this.db.prepare("SELECT * FROM apps WHERE workspace = ? ORDER BY name, ephemeral").all(workspace)
    ) as AppRow[];
    return rows.map(toApp);
  }

  async getVersion(id: string): Promise<VersionRecord | undefined> {
    return this.version(id);
  }

  async listVersions(appId: string): Promise<VersionRecord[]> {
    return (this.db.prepare("SELECT * FROM versions WHERE app_id = ? ORDER BY number").all(appId) as VersionRow[]).map(toVersion);
  }

  async setAppState(appId: string, state: AppState, now: number): Promise<void> {
    this.write(() => {
      this.db.prepare("UPDATE apps SET state = ?, updated_at = ? WHERE id = ?").run(state, now, appId);
      this.changed("app", appId);
    });
  }

  async deleteApp(appId: string): Promise<void> {
    this.write(() => {
      this.db.prepare("DELETE FROM apps WHERE id = ?").run(appId);
      this.changed("app", appId);
    });
  }
}

class SqliteSecurity implements SecurityStore {
  /** Prepared once: a token is read by id whenever a node hears it changed. */
  private readonly tokenById: Database.Statement<[string], TokenRow>;

  constructor(
    private readonly db: Database.Database,
    private readonly changed: Notify,
    private readonly write: Write,
  ) {
    this.tokenById = db.prepare("SELECT * FROM tokens WHERE id = ?");
  }

  private insert(token: TokenRecord): void {
    this.db
      .prepare("INSERT INTO tokens (id, kind, workspace, admin, name, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .run(token.id, token.kind, token.workspace, token.admin ? 1 : 0, token.name, token.secretHash, token.createdAt, token.revokedAt);
    this.changed("token", token.id);
  }

  async insertToken(token: TokenRecord): Promise<void> {
    this.write(() => this.insert(token));
  }

  async insertFirstApiToken(token: TokenRecord): Promise<boolean> {
    return this.db
      .transaction(() => {
        if (this.db.prepare("SELECT 1 FROM tokens WHERE kind = 'api' AND revoked_at IS NULL LIMIT 1").get()) return false;
        this.insert(token);
        return true;
      })
      .immediate();
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = this.tokenById.get(id);
    return row && toToken(row);
  }

  async listTokens(workspace?: string): Promise<TokenRecord[]> {
    const rows = (
      workspace === undefined
        ? this.db.prepare("SELECT * FROM tokens ORDER BY created_at, id").all()
        : this.db.prepare("SELECT * FROM tokens WHERE workspace = ? ORDER BY created_at, id").all(workspace)
    ) as TokenRow[];
    return rows.map(toToken);
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    return this.write(() => {
      const revoked = this.db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(now, id).changes === 1;
      if (revoked) this.changed("token", id);
      return revoked;
    });
  }

  async putSecret(secret: SecretRecord): Promise<void> {
    this.write(() => {
      this.db
        .prepare(
          `INSERT INTO secrets (workspace, name, keys, sealed, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (workspace, name) DO UPDATE SET keys = excluded.keys, sealed = excluded.sealed, updated_at = excluded.updated_at`,
        )
        .run(secret.workspace, secret.name, JSON.stringify(secret.keys), secret.sealed, secret.createdAt, secret.updatedAt);
      this.changed("secret", `${secret.workspace}/${secret.name}`);
    });
  }

  async getSecret(workspace: string, name: string): Promise<SecretRecord | undefined> {
    const row = this.db.prepare("SELECT * FROM secrets WHERE workspace = ? AND name = ?").get(workspace, name) as SecretRow | undefined;
    return row && toSecret(row);
  }

  async listSecrets(workspace: string): Promise<SecretRecord[]> {
    return (this.db.prepare("SELECT * FROM secrets WHERE workspace = ? ORDER BY name").all(workspace) as SecretRow[]).map(toSecret);
  }

  async deleteSecret(workspace: string, name: string): Promise<boolean> {
    return this.write(() => {
      const deleted = this.db.prepare("DELETE FROM secrets WHERE workspace = ? AND name = ?").run(workspace, name).changes === 1;
      if (deleted) this.changed("secret", `${workspace}/${name}`);
      return deleted;
    });
  }

  async setLimit(limit: WorkspaceLimit): Promise<void> {
    this.write(() => {
      const { workspace } = limit;
      this.db.prepare("DELETE FROM workspace_limits WHERE workspace = ?").run(workspace);
      this.db.prepare("DELETE FROM workspace_quotas WHERE workspace = ?").run(workspace);
      if (limit.rate !== undefined && limit.burst !== undefined) {
        this.db.prepare("INSERT INTO workspace_limits (workspace, rate, burst) VALUES (?, ?, ?)").run(workspace, limit.rate, limit.burst);
      }
      const client = limit.clientRate !== undefined && limit.clientBurst !== undefined;
      if (client || limit.containers !== undefined) {
        this.db
          .prepare("INSERT INTO workspace_quotas (workspace, client_rate, client_burst, containers) VALUES (?, ?, ?, ?)")
          .run(workspace, client ? limit.clientRate : null, client ? limit.clientBurst : null, limit.containers ?? null);
      }
      this.changed("limit", workspace);
    });
  }

  async listLimits(): Promise<WorkspaceLimit[]> {
    const rows = this.db.prepare(LIST_LIMITS).all() as LimitRow[];
    return rows.map(toLimit);
  }

  async claimSetting(key: string, value: string): Promise<string> {
    return this.db
      .transaction(() => {
        this.db.prepare("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING").run(key, value);
        return (this.db.prepare("SELECT value FROM settings WHERE key = ?").get(key) as { value: string }).value;
      })
      .immediate();
  }
}

class SqliteNodes implements NodeStore {
  constructor(
    private readonly db: Database.Database,
    private readonly changed: Notify,
    private readonly write: Write,
  ) {}

  async heartbeat(node: Omit<NodeRecord, "ageMs">): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO nodes (id, url, instance, started_at, heartbeat_at, load) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, instance = excluded.instance, started_at = excluded.started_at,
           heartbeat_at = excluded.heartbeat_at, load = excluded.load`,
      )
      .run(node.id, node.url, node.instance, node.startedAt, Date.now(), JSON.stringify(node.load));
  }

  async listNodes(): Promise<NodeRecord[]> {
    const now = Date.now();
    return (this.db.prepare("SELECT * FROM nodes ORDER BY id").all() as NodeRow[]).map((row) => ({
      id: row.id,
      url: row.url,
      instance: row.instance,
      startedAt: row.started_at,
      ageMs: Math.max(0, now - row.heartbeat_at),
      load: JSON.parse(row.load) as NodeLoad,
    }));
  }

  async removeNode(id: string): Promise<void> {
    this.write(() => {
      if (this.db.prepare("DELETE FROM nodes WHERE id = ?").run(id).changes > 0) this.changed("node", id);
    });
  }

  async pruneNodes(olderThanMs: number): Promise<number> {
    return this.db.prepare("DELETE FROM nodes WHERE heartbeat_at < ?").run(Date.now() - olderThanMs).changes;
  }
}

/** Dashboard sessions: read on every dashboard request, so by prepared statements; no other node needs telling of a change. */
class SqliteSessions implements SessionStore {
  private readonly byHash: Database.Statement<[Buffer], SessionRow>;
  private readonly touch: Database.Statement<[number, Buffer, number]>;

  constructor(
    private readonly db: Database.Database,
    private readonly write: Write,
  ) {
    this.byHash = db.prepare("SELECT * FROM dashboard_sessions WHERE id_hash = ?");
    this.touch = db.prepare("UPDATE dashboard_sessions SET seen_at = ? WHERE id_hash = ? AND seen_at < ?");
  }

  async insertSession(session: SessionRecord): Promise<void> {
    this.write(() =>
      this.db
        .prepare("INSERT INTO dashboard_sessions (id_hash, sealed, flash, created_at, seen_at) VALUES (?, ?, ?, ?, ?)")
        .run(session.idHash, session.sealed, session.flash, session.createdAt, session.seenAt),
    );
  }

  async getSession(idHash: Buffer): Promise<SessionRecord | undefined> {
    const row = this.byHash.get(idHash);
    return row && { idHash: row.id_hash, sealed: row.sealed, flash: row.flash, createdAt: row.created_at, seenAt: row.seen_at };
  }

  async touchSession(idHash: Buffer, seenAt: number): Promise<void> {
    this.write(() => this.touch.run(seenAt, idHash, seenAt));
  }

  async setSessionFlash(idHash: Buffer, flash: Buffer | null): Promise<void> {
    this.write(() => this.db.prepare("UPDATE dashboard_sessions SET flash = ? WHERE id_hash = ?").run(flash, idHash));
  }

  async takeSessionFlash(idHash: Buffer, flash: Buffer): Promise<boolean> {
    return this.write(() => this.db.prepare("UPDATE dashboard_sessions SET flash = NULL WHERE id_hash = ? AND flash = ?").run(idHash, flash).changes === 1);
  }

  async deleteSession(idHash: Buffer): Promise<void> {
    this.write(() => this.db.prepare("DELETE FROM dashboard_sessions WHERE id_hash = ?").run(idHash));
  }

  async pruneSessions(seenBefore: number, createdBefore: number, keep: number): Promise<number> {
    return this.write(() => {
      const expired = this.db.prepare("DELETE FROM dashboard_sessions WHERE seen_at < ? OR created_at < ?").run(seenBefore, createdBefore).changes;
      const surplus = this.db
        .prepare("DELETE FROM dashboard_sessions WHERE id_hash IN (SELECT id_hash FROM dashboard_sessions ORDER BY seen_at DESC, created_at DESC LIMIT -1 OFFSET ?)")
        .run(keep).changes;
      return expired + surplus;
    });
  }
}
