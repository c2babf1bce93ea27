/**
 * The schema of both engines, as numbered migrations. A database records
 * the versions applied to it (table `berth_schema`); opening it applies the
 * missing ones in order, each in its own transaction, and refuses a
 * database that has a version this build does not know (a newer berth
 * migrated it): an older node must not write into a schema it does not
 * understand. Migrations only add, so nodes still running an older build
 * keep working until they restart.
 *
 * The two lists move together: migration N does the same thing on both
 * engines, in each one's dialect. Never edit a migration that has shipped;
 * add the next one.
 */
import { BerthError } from "../../errors/codes.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "apps, versions, tokens, secrets, workspace limits and quotas",
    // IF NOT EXISTS: databases made before migrations were recorded already have these tables (sqlite.ts adds
    // the columns such a database may lack).
    sql: `
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
);`,
  },
  {
    version: 2,
    name: "nodes, settings, change feed",
    sql: `
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  instance TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  load TEXT NOT NULL
);
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL,
  id TEXT NOT NULL,
  at INTEGER NOT NULL
);`,
  },
  {
    version: 3,
    name: "deploy ids",
    // A client's id for a deploy, so that repeating the deploy finds the version it made (platform.ts).
    sql: `
ALTER TABLE versions ADD COLUMN deploy_id TEXT;
CREATE INDEX versions_deploy_id ON versions (deploy_id);`,
  },  {
    version: 4,
    name: "dashboard sessions",
    // Shared by every node, so a browser stays signed in whichever node answers (dashboard/sessions.ts).
    sql: `
CREATE TABLE dashboard_sessions (
  id_hash BLOB PRIMARY KEY,
  sealed BLOB NOT NULL,
  flash BLOB,
  created_at INTEGER NOT NULL,
  seen_at INTEGER NOT NULL
);
CREATE INDEX dashboard_sessions_seen_at ON dashboard_sessions (seen_at);`,
  },
];

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "apps, versions, tokens, secrets, workspace limits and quotas",
    sql: `
CREATE TABLE apps (
  id TEXT PRIMARY KEY,
  workspace TEXT NOT NULL,
  name TEXT NOT NULL,
  ephemeral BOOLEAN NOT NULL,
  state TEXT NOT NULL,
  current_version_id TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (workspace, name, ephemeral)
);
CREATE TABLE versions (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  number INTEGER NOT NULL,
  bundle_hash TEXT NOT NULL,
  manifest TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  deployed_by_token TEXT,
  deployed_by_name TEXT,
  UNIQUE (app_id, number)
);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  workspace TEXT NOT NULL,
  admin BOOLEAN NOT NULL,
  name TEXT NOT NULL,
  secret_hash BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE TABLE secrets (
  workspace TEXT NOT NULL,
  name TEXT NOT NULL,
  keys TEXT NOT NULL,
  sealed BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (workspace, name)
);
CREATE TABLE workspace_limits (
  workspace TEXT PRIMARY KEY,
  rate DOUBLE PRECISION NOT NULL,
  burst DOUBLE PRECISION NOT NULL
);
CREATE TABLE workspace_quotas (
  workspace TEXT PRIMARY KEY,
  client_rate DOUBLE PRECISION,
  client_burst DOUBLE PRECISION,
  containers INTEGER
);`,
  },
  {
    version: 2,
    name: "nodes, settings, blobs",
    // Blobs live in the database so every node can read every bundle; in
    // chunks, so a 256 MiB bundle is never one value in memory on the server.
    // (SQLite keeps blobs as files beside the database, and PostgreSQL needs
    // no change table: NOTIFY carries the changes.)
    sql: `
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  instance TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  heartbeat_at TIMESTAMPTZ NOT NULL,
  load TEXT NOT NULL
);
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE blobs (
  hash TEXT PRIMARY KEY,
  size BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE blob_chunks (
  hash TEXT NOT NULL REFERENCES blobs(hash) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (hash, seq)
);`,
  },
  {
    version: 3,
    name: "deploy ids",
    sql: `
ALTER TABLE versions ADD COLUMN deploy_id TEXT;
CREATE INDEX versions_deploy_id ON versions (deploy_id);`,
  },  {
    version: 4,
    name: "dashboard sessions",
    sql: `
CREATE TABLE dashboard_sessions (
  id_hash BYTEA PRIMARY KEY,
  sealed BYTEA NOT NULL,
  flash BYTEA,
  created_at BIGINT NOT NULL,
  seen_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_seen_at ON dashboard_sessions (seen_at);`,
  },
];

/** The versions still to apply to a database at `current`, or a refusal if it is ahead of this build. */
export function pendingMigrations(migrations: readonly Migration[], current: number, location: string): Migration[] {
  const known = migrations.at(-1)?.version ?? 0;
  if (current > known) {
    throw new BerthError(
      "incompatible_state",
      `the database at ${location} has schema version ${current}, newer than this berth knows (${known}): a newer berth has upgraded it. Upgrade berth on this node; every node sharing a database must run a version that knows its schema.`,
    );
  }
  return migrations.filter((migration) => migration.version > current);
}
