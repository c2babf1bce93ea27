/**
 * The security store on SQLite: its own connection to the state database
 * (WAL lets it share the file with the app store), its own tables.
 */
import type Database from "better-sqlite3";
import { openDatabase, writing } from "./sqlite-files.js";
import type { SecretRecord, SecurityStore, TokenRecord, WorkspaceLimit } from "./security.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  workspace TEXT NOT NULL,
  admin INTEGER NOT NULL,
  name TEXT NOT NULL,
  secret_hash BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS secrets (
  workspace TEXT NOT NULL,
  name TEXT NOT NULL,
  keys TEXT NOT NULL,
  sealed BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (workspace, name)
);
CREATE TABLE IF NOT EXISTS workspace_limits (
  workspace TEXT PRIMARY KEY,
  rate REAL NOT NULL,
  burst REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS workspace_quotas (
  workspace TEXT PRIMARY KEY,
  client_rate REAL,
  client_burst REAL,
  containers INTEGER
);
`;

interface LimitRow {
  workspace: string;
  rate: number | null;
  burst: number | null;
  client_rate: number | null;
  client_burst: number | null;
  containers: number | null;
}

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

export class SqliteSecurityStore implements SecurityStore {
  private readonly db: Database.Database;
  /** Prepared once: the gateway reads a token by id for every unknown proxy key it is shown. */
  private readonly tokenById: Database.Statement<[string], TokenRow>;

  constructor(private readonly path: string) {
    this.db = openDatabase(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    this.tokenById = this.db.prepare("SELECT * FROM tokens WHERE id = ?");
  }

  insertToken(token: TokenRecord): void {
    writing(this.path, () =>
      this.db
        .prepare("INSERT INTO tokens (id, kind, workspace, admin, name, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .run(token.id, token.kind, token.workspace, token.admin ? 1 : 0, token.name, token.secretHash, token.createdAt, token.revokedAt),
    );
  }

  getToken(id: string): TokenRecord | undefined {
    const row = this.tokenById.get(id);
    return row && toToken(row);
  }

  listTokens(workspace?: string): TokenRecord[] {
    const rows = (
      workspace === undefined
        ? this.db.prepare("SELECT * FROM tokens ORDER BY created_at, id").all()
        : this.db.prepare("SELECT * FROM tokens WHERE workspace = ? ORDER BY created_at, id").all(workspace)
    ) as TokenRow[];
    return rows.map(toToken);
  }

  revokeToken(id: string, now: number): boolean {
    return writing(this.path, () => this.db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(now, id).changes === 1);
  }

  putSecret(secret: SecretRecord): void {
    writing(this.path, () =>
      this.db
        .prepare(
          `INSERT INTO secrets (workspace, name, keys, sealed, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (workspace, name) DO UPDATE SET keys = excluded.keys, sealed = excluded.sealed, updated_at = excluded.updated_at`,
        )
        .run(secret.workspace, secret.name, JSON.stringify(secret.keys), secret.sealed, secret.createdAt, secret.updatedAt),
    );
  }

  getSecret(workspace: string, name: string): SecretRecord | undefined {
    const row = this.db.prepare("SELECT * FROM secrets WHERE workspace = ? AND name = ?").get(workspace, name) as SecretRow | undefined;
    return row && toSecret(row);
  }

  listSecrets(workspace: string): SecretRecord[] {
    return (this.db.prepare("SELECT * FROM secrets WHERE workspace = ? ORDER BY name").all(workspace) as SecretRow[]).map(toSecret);
  }

  deleteSecret(workspace: string, name: string): boolean {
    return writing(this.path, () => this.db.prepare("DELETE FROM secrets WHERE workspace = ? AND name = ?").run(workspace, name).changes === 1);
  }

  setLimit(limit: WorkspaceLimit): void {
    writing(this.path, () =>
      this.db.transaction(() => {
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
      })(),
    );
  }

  listLimits(): WorkspaceLimit[] {
    const rows = this.db
      .prepare(
        `SELECT w.workspace, l.rate, l.burst, q.client_rate, q.client_burst, q.containers
         FROM (SELECT workspace FROM workspace_limits UNION SELECT workspace FROM workspace_quotas) w
         LEFT JOIN workspace_limits l ON l.workspace = w.workspace
         LEFT JOIN workspace_quotas q ON q.workspace = w.workspace
         ORDER BY w.workspace`,
      )
      .all() as LimitRow[];
    return rows.map((row) => ({
      workspace: row.workspace,
      ...(row.rate !== null && row.burst !== null ? { rate: row.rate, burst: row.burst } : {}),
      ...(row.client_rate !== null && row.client_burst !== null ? { clientRate: row.client_rate, clientBurst: row.client_burst } : {}),
      ...(row.containers !== null ? { containers: row.containers } : {}),
    }));
  }

  close(): void {
    this.db.close();
  }
}
