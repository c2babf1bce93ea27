/**
 * The PostgreSQL engine, through `pg`: the state any number of nodes share.
 * Blobs (bundles, `addLocalDir` archives) are stored in the database too
 * (in 1 MiB chunks), so every node can read every blob; reads check the
 * hash. A node that needs a blob as a file (an image build) copies it into
 * its own cache directory once.
 *
 * Changes travel by NOTIFY on channel `berth_changes`, sent inside the
 * transaction of the write (PostgreSQL delivers it at commit, so a
 * listener never hears of a change it cannot read yet). Each store keeps
 * one connection LISTENing; once it listens (the first time too) it tells
 * its listeners to resync, since notifications sent before, while it was
 * connecting or away, are lost: a node that had just started and read its
 * state missed a token revoked before its LISTEN was up until the periodic
 * resync (test/dashboard-cluster.test.ts's restarted node, under load).
 * When that connection drops it reconnects with backoff.
 *
 * When the server is unreachable, every call fails fast (2 s at most to
 * connect) with a `database_unavailable` error (503), never a hang; the
 * pool's idle connections dying with the server are logged, not fatal.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { BerthError, messageOf, systemCode } from "../../errors/codes.js";
import { storageFull } from "../../errors/storage.js";
import type { Logger } from "../../logging/logger.js";
import type { AppManifest } from "../../sdk/contract.js";
import { namedBlobs, usedBlobs } from "../manifest-blobs.js";
import { createReadStream, mkdirSync } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { checkHash, corruptBlob, FileBlobStore, hashMismatch, receiveUpload, removeOrphans, sha256, temporaryFile } from "./file-blobs.js";
import { LIST_LIMITS, toLimit, type LimitRow } from "./limits.js";
import { pendingMigrations, POSTGRES_MIGRATIONS } from "./migrations.js";
import type {
  AppRecord,
  AppState,
  AppStore,
  BlobStore,
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
  UploadLimits,
  VersionRecord,
  WorkspaceLimit,
} from "./types.js";

const CHANNEL = "berth_changes";
/** Bytes per row of `blob_chunks`. */
const CHUNK_BYTES = 1024 * 1024;
/** Milliseconds to wait for a connection before calling the database unreachable. */
const CONNECT_TIMEOUT_MS = 2000;
/** Milliseconds any one query may take. */
const QUERY_TIMEOUT_MS = 15_000;
/** Reconnection backoff of the listening connection, milliseconds. */
const LISTEN_RETRY_MIN_MS = 250;
const LISTEN_RETRY_MAX_MS = 5000;
/** Keys of transaction-level advisory locks. */
const MIGRATION_LOCK = 0x6265_7274; // "bert"
const FIRST_TOKEN_LOCK = 0x6265_7275;

type Queryable = Pick<pg.PoolClient, "query">;

export interface PostgresOptions {
  /** `postgres://user:password@host:port/database` */
  url: string;
  /** Where uploads wait, hashed, before they go into the database. Default: the system's temporary directory. */
  stagingDir?: string;
  /** Where this node keeps the blobs it needs as files (`BlobStore.file`): `<home>/blobs`. */
  blobCacheDir: string;
  /** Connections in the pool. Default 4: the control plane is not a hot path. */
  poolSize?: number;
  logger?: Logger;
}

/** The URL without its credentials, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return "postgres://(unparsable URL)";
  }
}

/** Connection-level failures (the server is down, restarting, unreachable) as opposed to errors in a query. */
export function isConnectionError(error: unknown): boolean {
  const code = systemCode(error);
  if (code !== undefined) {
    if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH", "EAI_AGAIN", "ENETUNREACH"].includes(code)) return true;
    // SQLSTATE class 08 (connection exception), 57P01-03 (shutdown, crash, starting up), 53300 (too many connections).
    if (code.startsWith("08") || ["57P01", "57P02", "57P03", "53300"].includes(code)) return true;
  }
  const message = messageOf(error);
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|not queryable/i.test(message);
}

export class PostgresStore implements Store {
  readonly engine = "postgres";
  readonly location: string;
  readonly apps: AppStore;
  readonly security: SecurityStore;
  readonly nodes: NodeStore;
  readonly sessions: SessionStore;
  readonly blobs: BlobStore;
  private readonly pool: pg.Pool;
  private readonly listeners = new Set<ChangeListener>();
  private listening: pg.Client | undefined;
  private listenRetryMs = LISTEN_RETRY_MIN_MS;
  private listenTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly logger: Logger | undefined;
  private readonly url: string;

  private constructor(options: PostgresOptions) {
    this.url = options.url;
    this.location = redactUrl(options.url);
    this.logger = options.logger;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: "berth",
    });
    // An idle connection that dies with the server emits here; unhandled, it would end the process.
    this.pool.on("error", (error) => this.logger?.warn({ err: error }, "a PostgreSQL connection failed"));
    const db = new Db(this.pool, this.location);
    this.apps = new PostgresApps(db);
    this.security = new PostgresSecurity(db);
    this.nodes = new PostgresNodes(db);
    this.sessions = new PostgresSessions(db);
    const staging = options.stagingDir ?? tmpdir();
    mkdirSync(staging, { recursive: true });
    if (options.stagingDir !== undefined) removeOrphans(staging);
    this.blobs = new PostgresBlobs(db, staging, new FileBlobStore(options.blobCacheDir));
  }

  /** Connects, applies missing migrations (refusing a newer schema), and returns the store. */
  static async open(options: PostgresOptions): Promise<PostgresStore> {
    const store = new PostgresStore(options);
    try {
      await store.migrate();
    } catch (error) {
      await store.pool.end();
      throw error;
    }
    return store;
  }

  async schemaVersion(): Promise<number> {
    const { rows } = await this.query<{ v: number }>("SELECT COALESCE(MAX(version), 0)::int AS v FROM berth_schema");
    return rows[0]!.v;
  }

  private async migrate(): Promise<void> {
    await new Db(this.pool, this.location).tx(async (client) => {
      await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      await client.query("CREATE TABLE IF NOT EXISTS berth_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
      const { rows } = await client.query<{ v: number }>("SELECT COALESCE(MAX(version), 0)::int AS v FROM berth_schema");
      for (const migration of pendingMigrations(POSTGRES_MIGRATIONS, rows[0]!.v, this.location)) {
        await client.query(migration.sql);
        await client.query("INSERT INTO berth_schema (version, name, applied_at) VALUES ($1, $2, $3)", [migration.version, migration.name, Date.now()]);
      }
    });
  }

  private query<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    return new Db(this.pool, this.location).query<R>(sql, values);
  }

  watch(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    if (!this.listening && !this.listenTimer) void this.listen(false);
    return () => this.listeners.delete(listener);
  }

  private emit(change: Change): void {
    for (const listener of this.listeners) listener(change);
  }

  /** Opens the LISTEN connection; once it listens, listeners are told to read everything again. `reconnect`: the feed was lost. */
  private async listen(reconnect: boolean): Promise<void> {
    this.listenTimer = undefined;
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, application_name: "berth" });
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      if (this.listening === client) this.listening = undefined;
      client.removeAllListeners("notification");
      void client.end().catch(() => {});
      if (this.closed) return;
      this.logger?.warn({ err: error, retryMs: this.listenRetryMs }, "lost the PostgreSQL change feed; reconnecting");
      this.listenTimer = setTimeout(() => void this.listen(true), this.listenRetryMs);
      this.listenTimer.unref();
      this.listenRetryMs = Math.min(this.listenRetryMs * 2, LISTEN_RETRY_MAX_MS);
    };
    client.on("error", onLost);
    client.on("end", () => onLost());
    client.on("notification", (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      try {
        this.emit(JSON.parse(message.payload) as Change);
      } catch (error) {
        this.logger?.warn({ err: error }, "ignored a malformed change notification");
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      onLost(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listening = client;
    this.listenRetryMs = LISTEN_RETRY_MIN_MS;
    if (reconnect) this.logger?.info("the PostgreSQL change feed is back; reading the state again");
    this.emit({ topic: "resync", id: "" });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.listenTimer);
    this.listeners.clear();
    const listening = this.listening;
    this.listening = undefined;
    await listening?.end().catch(() => {});
    await this.pool.end();
  }
}

/** Queries and transactions with connection failures turned into `database_unavailable`. */
class Db {
  constructor(
    private readonly pool: pg.Pool,
    private readonly location: string,
  ) {}

  /** A lost server as `database_unavailable`, its full disk (SQLSTATE 53100) as `storage_full`; anything else as it was. */
  unavailable(error: unknown): unknown {
    if (!isConnectionError(error)) return storageFull(error, "the state database", this.location);
    return new BerthError(
      "database_unavailable",
      `the state database (${this.location}) is unreachable (${messageOf(error)}): running apps keep serving; deploys and other changes are refused until it is back`,
      { cause: error },
    );
  }

  async query<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, values);
    } catch (error) {
      throw this.unavailable(error);
    }
  }

  /** Runs `body` in a transaction; `notify` queues changes, sent at commit. */
  async tx<T>(body: (client: Queryable, notify: (change: Change) => Promise<void>) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.unavailable(error);
    }
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      const notify = async (change: Change) => {
        await client.query("SELECT pg_notify($1, $2)", [CHANNEL, JSON.stringify(change)]);
      };
      const result = await body(client, notify);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      if (isConnectionError(error)) broken = error instanceof Error ? error : new Error(String(error));
      else await client.query("ROLLBACK").catch(() => {});
      throw this.unavailable(error);
    } finally {
      // A connection that failed mid-transaction is discarded, not reused.
      client.release(broken);
    }
  }
}

interface AppRow {
  id: string;
  workspace: string;
  name: string;
  ephemeral: boolean;
  state: AppState;
  current_version_id: string | null;
  created_at: string;
  updated_at: string;
}

interface VersionRow {
  id: string;
  app_id: string;
  number: number;
  bundle_hash: string;
  manifest: string;
  created_at: string;
  deployed_by_token: string | null;
  deployed_by_name: string | null;
  deploy_id: string | null;
}

interface TokenRow {
  id: string;
  kind: TokenRecord["kind"];
  workspace: string;
  admin: boolean;
  name: string;
  secret_hash: Buffer;
  created_at: string;
  revoked_at: string | null;
}

interface SecretRow {
  workspace: string;
  name: string;
  keys: string;
  sealed: Buffer;
  created_at: string;
  updated_at: string;
}

// BIGINT columns arrive as strings (they may exceed 2^53); milliseconds since the epoch do not.
const toApp = (row: AppRow): AppRecord => ({
  id: row.id,
  workspace: row.workspace,
  name: row.name,
  ephemeral: row.ephemeral,
  state: row.state,
  currentVersionId: row.current_version_id,
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

const toVersion = (row: VersionRow): VersionRecord => ({
  id: row.id,
  appId: row.app_id,
  number: row.number,
  bundleHash: row.bundle_hash,
  manifest: JSON.parse(row.manifest) as AppManifest,
  createdAt: Number(row.created_at),
  deployedBy: row.deployed_by_token === null ? null : { tokenId: row.deployed_by_token, name: row.deployed_by_name ?? "" },
  deployId: row.deploy_id,
});

const toToken = (row: TokenRow): TokenRecord => ({
  id: row.id,
  kind: row.kind,
  workspace: row.workspace,
  admin: row.admin,
  name: row.name,
  secretHash: row.secret_hash,
  createdAt: Number(row.created_at),
  revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
});

const toSecret = (row: SecretRow): SecretRecord => ({
  workspace: row.workspace,
  name: row.name,
  keys: JSON.parse(row.keys) as string[],
  sealed: row.sealed,
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

class PostgresApps implements AppStore {
  constructor(private readonly db: Db) {}

  recordDeployment(input: DeploymentInput): Promise<{ app: AppRecord; version: VersionRecord }> {
    return this.db.tx(async (client, notify) => {
      await client.query(
        `INSERT INTO apps (id, workspace, name, ephemeral, state, current_version_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'deployed', NULL, $5, $5) ON CONFLICT (workspace, name, ephemeral) DO NOTHING`,
        [randomUUID(), input.workspace, input.name, input.ephemeral, input.now],
      );
      // The row lock serialises deploys of one app from several nodes, so version numbers never collide.
      const app = (
        await client.query<AppRow>("SELECT * FROM apps WHERE workspace = $1 AND name = $2 AND ephemeral = $3 FOR UPDATE", [
          input.workspace,
          input.name,
          input.ephemeral,
        ])
      ).rows[0]!;
      if (input.deployId !== undefined) {
        // Under the app's row lock: the same deploy retried on another node at once finds the first one's version.
        const done = (await client.query<VersionRow>("SELECT * FROM versions WHERE app_id = $1 AND deploy_id = $2", [app.id, input.deployId])).rows[0];
        if (done) return { app: toApp(app), version: toVersion(done) };
      }
      const { rows } = await client.query<{ n: number | null }>("SELECT MAX(number) AS n FROM versions WHERE app_id = $1", [app.id]);
      const versionId = randomUUID();
      const version = (
        await client.query<VersionRow>(
          `INSERT INTO versions (id, app_id, number, bundle_hash, manifest, created_at, deployed_by_token, deployed_by_name, deploy_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
          [
            versionId,
            app.id,
            (rows[0]?.n ?? 0) + 1,
            input.bundleHash,
            JSON.stringify(input.manifest),
            input.now,
            input.deployedBy.tokenId,
            input.deployedBy.name,
            input.deployId ?? null,
          ],
        )
      ).rows[0]!;
      const updated = (
        await client.query<AppRow>("UPDATE apps SET current_version_id = $1, state = 'deployed', updated_at = $2 WHERE id = $3 RETURNING *", [
          versionId,
          input.now,
          app.id,
        ])
      ).rows[0]!;
      await notify({ topic: "app", id: app.id });
      return { app: toApp(updated), version: toVersion(version) };
    });
  }

  async findDeployment(workspace: string, deployId: string): Promise<{ app: AppRecord; version: VersionRecord } | undefined> {
    const { rows } = await this.db.query<VersionRow>(
      "SELECT versions.* FROM versions JOIN apps ON apps.id = versions.app_id WHERE versions.deploy_id = $1 AND apps.workspace = $2",
      [deployId, workspace],
    );
    const version = rows[0];
    if (!version) return undefined;
    const app = (await this.db.query<AppRow>("SELECT * FROM apps WHERE id = $1", [version.app_id])).rows[0];
    return app && { app: toApp(app), version: toVersion(version) };
  }

  async blobsInUse(keep: number): Promise<string[]> {
    const { rows } = await this.db.query<{ hash: string; manifest: string }>(
      `SELECT v.bundle_hash AS hash, v.manifest AS manifest FROM versions v JOIN apps a ON a.id = v.app_id
       WHERE v.id = a.current_version_id OR v.number > (SELECT MAX(w.number) FROM versions w WHERE w.app_id = v.app_id) - $1`,
      [keep],
    );
    return usedBlobs(rows);
  }

  async blobsNamed(): Promise<Map<string, number>> {
    const { rows } = await this.db.query<{ hash: string; manifest: string; created_at: string }>("SELECT bundle_hash AS hash, manifest, created_at FROM versions");
    return namedBlobs(rows.map((row) => ({ ...row, created_at: Number(row.created_at) })));
  }

  async getApp(workspace: string, name: string, ephemeral = false): Promise<AppRecord | undefined> {
    const { rows } = await this.db.query<AppRow>("SELECT * FROM apps WHERE workspace = $1 AND name = $2 AND ephemeral = $3", [workspace, name, ephemeral]);
    return rows[0] && toApp(rows[0]);
  }

  async getAppById(id: string): Promise<AppRecord | undefined> {
    const { rows } = await this.db.query<AppRow>("SELECT * FROM apps WHERE id = $1", [id]);
    return rows[0] && toApp(rows[0]);
  }

  async listApps(workspace?: string): Promise<AppRecord[]> {
    const { rows } =
      workspace === undefined
        ? await this.db.query<AppRow>("SELECT * FROM apps ORDER BY workspace, name, ephemeral")
        : await this.db.query<AppRow>("SELECT * FROM apps WHERE workspace = $1 ORDER BY name, ephemeral", [workspace]);
    return rows.map(toApp);
  }

  async getVersion(id: string): Promise<VersionRecord | undefined> {
    const { rows } = await this.db.query<VersionRow>("SELECT * FROM versions WHERE id = $1", [id]);
    return rows[0] && toVersion(rows[0]);
  }

  async listVersions(appId: string): Promise<VersionRecord[]> {
    const { rows } = await this.db.query<VersionRow>("SELECT * FROM versions WHERE app_id = $1 ORDER BY number", [appId]);
    return rows.map(toVersion);
  }

  setAppState(appId: string, state: AppState, now: number): Promise<void> {
    return this.db.tx(async (client, notify) => {
      await client.query("UPDATE apps SET state = $1, updated_at = $2 WHERE id = $3", [state, now, appId]);
      await notify({ topic: "app", id: appId });
    });
  }

  deleteApp(appId: string): Promise<void> {
    return this.db.tx(async (client, notify) => {
      await client.query("DELETE FROM apps WHERE id = $1", [appId]);
      await notify({ topic: "app", id: appId });
    });
  }
}

class PostgresSecurity implements SecurityStore {
  constructor(private readonly db: Db) {}

  private async insert(client: Queryable, token: TokenRecord): Promise<void> {
    await client.query(
      "INSERT INTO tokens (id, kind, workspace, admin, name, secret_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      [token.id, token.kind, token.workspace, token.admin, token.name, token.secretHash, token.createdAt, token.revokedAt],
    );
  }

  insertToken(token: TokenRecord): Promise<void> {
    return this.db.tx(async (client, notify) => {
      await this.insert(client, token);
      await notify({ topic: "token", id: token.id });
    });
  }

  insertFirstApiToken(token: TokenRecord): Promise<boolean> {
    return this.db.tx(async (client, notify) => {
      await client.query("SELECT pg_advisory_xact_lock($1)", [FIRST_TOKEN_LOCK]);
      const { rows } = await client.query("SELECT 1 FROM tokens WHERE kind = 'api' AND revoked_at IS NULL LIMIT 1");
      if (rows.length > 0) return false;
      await this.insert(client, token);
      await notify({ topic: "token", id: token.id });
      return true;
    });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const { rows } = await this.db.query<TokenRow>("SELECT * FROM tokens WHERE id = $1", [id]);
    return rows[0] && toToken(rows[0]);
  }

  async listTokens(workspace?: string): Promise<TokenRecord[]> {
    const { rows } =
      workspace === undefined
        ? await this.db.query<TokenRow>("SELECT * FROM tokens ORDER BY created_at, id")
        : await this.db.query<TokenRow>("SELECT * FROM tokens WHERE workspace = $1 ORDER BY created_at, id", [workspace]);
    return rows.map(toToken);
  }

  revokeToken(id: string, now: number): Promise<boolean> {
    return this.db.tx(async (client, notify) => {
      const { rowCount } = await client.query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", [now, id]);
      if (rowCount !== 1) return false;
      await notify({ topic: "token", id });
      return true;
    });
  }

  putSecret(secret: SecretRecord): Promise<void> {
    return this.db.tx(async (client, notify) => {
      await client.query(
        `INSERT INTO secrets (workspace, name, keys, sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (workspace, name) DO UPDATE SET keys = excluded.keys, sealed = excluded.sealed, updated_at = excluded.updated_at`,
        [secret.workspace, secret.name, JSON.stringify(secret.keys), secret.sealed, secret.createdAt, secret.updatedAt],
      );
      await notify({ topic: "secret", id: `${secret.workspace}/${secret.name}` });
    });
  }

  async getSecret(workspace: string, name: string): Promise<SecretRecord | undefined> {
    const { rows } = await this.db.query<SecretRow>("SELECT * FROM secrets WHERE workspace = $1 AND name = $2", [workspace, name]);
    return rows[0] && toSecret(rows[0]);
  }

  async listSecrets(workspace: string): Promise<SecretRecord[]> {
    const { rows } = await this.db.query<SecretRow>("SELECT * FROM secrets WHERE workspace = $1 ORDER BY name", [workspace]);
    return rows.map(toSecret);
  }

  deleteSecret(workspace: string, name: string): Promise<boolean> {
    return this.db.tx(async (client, notify) => {
      const { rowCount } = await client.query("DELETE FROM secrets WHERE workspace = $1 AND name = $2", [workspace, name]);
      if (rowCount !== 1) return false;
      await notify({ topic: "secret", id: `${workspace}/${name}` });
      return true;
    });
  }

  setLimit(limit: WorkspaceLimit): Promise<void> {
    return this.db.tx(async (client, notify) => {
      const { workspace } = limit;
      await client.query("DELETE FROM workspace_limits WHERE workspace = $1", [workspace]);
      await client.query("DELETE FROM workspace_quotas WHERE workspace = $1", [workspace]);
      if (limit.rate !== undefined && limit.burst !== undefined) {
        await client.query("INSERT INTO workspace_limits (workspace, rate, burst) VALUES ($1, $2, $3)", [workspace, limit.rate, limit.burst]);
      }
      const clientLimit = limit.clientRate !== undefined && limit.clientBurst !== undefined;
      if (clientLimit || limit.containers !== undefined) {
        await client.query("INSERT INTO workspace_quotas (workspace, client_rate, client_burst, containers) VALUES ($1, $2, $3, $4)", [
          workspace,
          clientLimit ? limit.clientRate : null,
          clientLimit ? limit.clientBurst : null,
          limit.containers ?? null,
        ]);
      }
      await notify({ topic: "limit", id: workspace });
    });
  }

  async listLimits(): Promise<WorkspaceLimit[]> {
    const { rows } = await this.db.query<LimitRow>(LIST_LIMITS);
    return rows.map(toLimit);
  }

  async claimSetting(key: string, value: string): Promise<string> {
    // Two nodes claiming at once: the second INSERT waits for the first to commit, then does nothing, and reads its value.
    await this.db.query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [key, value]);
    const { rows } = await this.db.query<{ value: string }>("SELECT value FROM settings WHERE key = $1", [key]);
    return rows[0]!.value;
  }
}

interface SessionRow {
  id_hash: Buffer;
  sealed: Buffer;
  flash: Buffer | null;
  created_at: string;
  seen_at: string;
}

/** Dashboard sessions: single statements, no transactions and no NOTIFY (every node reads the row on each request). */
class PostgresSessions implements SessionStore {
  constructor(private readonly db: Db) {}

  async insertSession(session: SessionRecord): Promise<void> {
    await this.db.query("INSERT INTO dashboard_sessions (id_hash, sealed, flash, created_at, seen_at) VALUES ($1, $2, $3, $4, $5)", [
      session.idHash,
      session.sealed,
      session.flash,
      session.createdAt,
      session.seenAt,
    ]);
  }

  async getSession(idHash: Buffer): Promise<SessionRecord | undefined> {
    const row = (await this.db.query<SessionRow>("SELECT * FROM dashboard_sessions WHERE id_hash = $1", [idHash])).rows[0];
    return row && { idHash: row.id_hash, sealed: row.sealed, flash: row.flash, createdAt: Number(row.created_at), seenAt: Number(row.seen_at) };
  }

  async touchSession(idHash: Buffer, seenAt: number): Promise<void> {
    await this.db.query("UPDATE dashboard_sessions SET seen_at = $1 WHERE id_hash = $2 AND seen_at < $1", [seenAt, idHash]);
  }

  async setSessionFlash(idHash: Buffer, flash: Buffer | null): Promise<void> {
    await this.db.query("UPDATE dashboard_sessions SET flash = $1 WHERE id_hash = $2", [flash, idHash]);
  }

  async takeSessionFlash(idHash: Buffer, flash: Buffer): Promise<boolean> {
    return (await this.db.query("UPDATE dashboard_sessions SET flash = NULL WHERE id_hash = $1 AND flash = $2", [idHash, flash])).rowCount === 1;
  }

  async deleteSession(idHash: Buffer): Promise<void> {
    await this.db.query("DELETE FROM dashboard_sessions WHERE id_hash = $1", [idHash]);
  }

  async pruneSessions(seenBefore: number, createdBefore: number, keep: number): Promise<number> {
    const expired = await this.db.query("DELETE FROM dashboard_sessions WHERE seen_at < $1 OR created_at < $2", [seenBefore, createdBefore]);
    const surplus = await this.db.query(
      "DELETE FROM dashboard_sessions WHERE id_hash IN (SELECT id_hash FROM dashboard_sessions ORDER BY seen_at DESC, created_at DESC OFFSET $1)",
      [keep],
    );
    return (expired.rowCount ?? 0) + (surplus.rowCount ?? 0);
  }
}

class PostgresNodes implements NodeStore {
  constructor(private readonly db: Db) {}

  async heartbeat(node: Omit<NodeRecord, "ageMs">): Promise<void> {
    await this.db.query(
      `INSERT INTO nodes (id, url, instance, started_at, heartbeat_at, load) VALUES ($1, $2, $3, $4, now(), $5)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, instance = excluded.instance, started_at = excluded.started_at,
         heartbeat_at = now(), load = excluded.load`,
      [node.id, node.url, node.instance, node.startedAt, JSON.stringify(node.load)],
    );
  }

  async listNodes(): Promise<NodeRecord[]> {
    const { rows } = await this.db.query<{ id: string; url: string; instance: string; started_at: string; age_ms: number; load: string }>(
      "SELECT id, url, instance, started_at, GREATEST(0, EXTRACT(EPOCH FROM (now() - heartbeat_at)) * 1000)::float8 AS age_ms, load FROM nodes ORDER BY id",
    );
    return rows.map((row) => ({
      id: row.id,
      url: row.url,
      instance: row.instance,
      startedAt: Number(row.started_at),
      ageMs: Math.round(row.age_ms),
      load: JSON.parse(row.load) as NodeLoad,
    }));
  }

  removeNode(id: string): Promise<void> {
    return this.db.tx(async (client, notify) => {
      const { rowCount } = await client.query("DELETE FROM nodes WHERE id = $1", [id]);
      if (rowCount) await notify({ topic: "node", id });
    });
  }

  async pruneNodes(olderThanMs: number): Promise<number> {
    const { rowCount } = await this.db.query("DELETE FROM nodes WHERE heartbeat_at < now() - make_interval(secs => $1::float8 / 1000)", [olderThanMs]);
    return rowCount ?? 0;
  }
}

class PostgresBlobs implements BlobStore {
  constructor(
    private readonly db: Db,
    private readonly staging: string,
    /** The files of blobs this node has needed as files; the database stays the truth. */
    private readonly cache: FileBlobStore,
  ) {}

  async has(hash: string): Promise<boolean> {
    const { rows } = await this.db.query("SELECT 1 FROM blobs WHERE hash = $1", [checkHash(hash)]);
    return rows.length > 0;
  }

  async put(data: Uint8Array, expected?: string): Promise<string> {
    const hash = sha256(data);
    if (expected !== undefined && expected !== hash) throw hashMismatch(expected, hash);
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await this.store(hash, bytes.byteLength, (async function* () {
      for (let offset = 0; offset < bytes.length; offset += CHUNK_BYTES) yield bytes.subarray(offset, offset + CHUNK_BYTES);
    })());
    return hash;
  }

  /** Receives the upload into a staging file (hashed, bounded, as on SQLite), then copies it into the database in chunks. */
  async putStream(source: AsyncIterable<Uint8Array>, expected: string, limits: UploadLimits): Promise<string> {
    checkHash(expected);
    const staged = temporaryFile(this.staging, expected);
    await receiveUpload(source, expected, limits, staged);
    try {
      const chunks = createReadStream(staged, { highWaterMark: CHUNK_BYTES });
      const { size } = await stat(staged);
      await this.store(expected, size, chunks);
    } finally {
      await rm(staged, { force: true });
    }
    return expected;
  }

  /** Writes `hash` from `chunks` (at most CHUNK_BYTES each) in one transaction; nothing if it is already stored. */
  private async store(hash: string, size: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    await this.db.tx(async (client) => {
      // A second upload of the same bytes (or one racing it from another node) waits here, then writes nothing.
      const { rowCount } = await client.query("INSERT INTO blobs (hash, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING", [
        hash,
        size,
        Date.now(),
      ]);
      if (rowCount !== 1) {
        // Stored anew: pruning spares it as it spares a new upload.
        await client.query("UPDATE blobs SET created_at = $2 WHERE hash = $1", [hash, Date.now()]);
        return;
      }
      let seq = 0;
      for await (const chunk of chunks) {
        await client.query("INSERT INTO blob_chunks (hash, seq, data) VALUES ($1, $2, $3)", [hash, seq, Buffer.from(chunk)]);
        seq += 1;
      }
      // An empty blob still gets its one (empty) chunk, so a read can tell it from a missing one.
      if (seq === 0) await client.query("INSERT INTO blob_chunks (hash, seq, data) VALUES ($1, 0, $2)", [hash, Buffer.alloc(0)]);
    });
  }

  async get(hash: string): Promise<Buffer> {
    checkHash(hash);
    const { rows } = await this.db.query<{ data: Buffer }>("SELECT data FROM blob_chunks WHERE hash = $1 ORDER BY seq", [hash]);
    if (rows.length === 0) throw new BerthError("not_found", `no stored bundle ${hash}`);
    const data = Buffer.concat(rows.map((row) => row.data));
    const actual = sha256(data);
    if (actual !== hash) {
      await this.db.query("DELETE FROM blobs WHERE hash = $1", [hash]);
      throw corruptBlob(hash, actual);
    }
    return data;
  }

  async file(hash: string): Promise<string> {
    if (this.cache.localPath(checkHash(hash)) !== undefined) {
      try {
        return await this.cache.file(hash);
      } catch (error) {
        // A cached file damaged on this disk has been removed by the check: fetched anew from the database below.
        if (!(error instanceof BerthError)) throw error;
      }
    }
    await this.cache.put(await this.get(hash), hash);
    return this.cache.file(hash);
  }

  localPath(hash: string): string | undefined {
    return this.cache.localPath(hash);
  }

  /**
   * Blobs are shared by every node, so when a blob was stored is the
   * store's own record (`created_at`, renewed by a re-upload on any node),
   * not this node's memory. A blob stored again after the list was read is
   * left. This node's cached files of unkept blobs go too.
   */
  async prune(keep: (hash: string, storedAt: number) => boolean): Promise<number> {
    const { rows } = await this.db.query<{ hash: string; created_at: string }>("SELECT hash, created_at FROM blobs");
    const doomed = rows.filter((row) => !keep(row.hash, Number(row.created_at)));
    if (doomed.length > 0) {
      const newest = Math.max(...doomed.map((row) => Number(row.created_at)));
      await this.db.query("DELETE FROM blobs WHERE hash = ANY($1::text[]) AND created_at <= $2", [doomed.map((row) => row.hash), newest]);
    }
    await this.cache.prune(keep);
    return doomed.length;
  }
}
