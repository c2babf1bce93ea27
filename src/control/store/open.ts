/**
 * Chooses and opens the storage engine: PostgreSQL for a `postgres://`
 * URL (`berth server --database`, `BERTH_DATABASE_URL`), else SQLite in
 * the state directory. `berth serve`'s embedded platform keeps its apps
 * (and its one node, and its dashboard sessions, which act with a session
 * token that dies with the process) in memory, so two sessions on one
 * state directory never see each other's apps, while tokens and secrets
 * stay on disk where `berth secret create` put them.
 */
import { join } from "node:path";
import { BerthError } from "../../errors/codes.js";
import type { Logger } from "../../logging/logger.js";
import { PostgresStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";
import type { Store } from "./types.js";

export interface OpenStoreOptions {
  /** The state directory: SQLite's database and blobs; on PostgreSQL, the node's cache of blobs as files. */
  home: string;
  /** `postgres://…` or `postgresql://…`; without it, SQLite in `home`. */
  database?: string;
  /** Apps and nodes in memory (the embedded platform of `berth serve`). SQLite only. */
  ephemeralApps?: boolean;
  /** Where the apps in memory keep their blobs (`berth serve`'s throwaway folder); `<home>/blobs` by default. */
  blobDir?: string;
  logger?: Logger;
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(url);
}

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  if (options.database !== undefined && options.database !== "") {
    if (!isPostgresUrl(options.database)) {
      throw new BerthError("invalid_input", `--database takes a postgres:// URL (e.g. postgres://berth:secret@db:5432/berth); without it, berth uses SQLite in its state directory`);
    }
    if (options.ephemeralApps) throw new BerthError("invalid_input", "the embedded platform of `berth serve` keeps its apps in memory; it takes no --database");
    return PostgresStore.open({
      url: options.database,
      logger: options.logger,
      stagingDir: join(options.home, "uploads"),
      blobCacheDir: join(options.home, "blobs"),
    });
  }
  const disk = SqliteStore.inHome(options.home);
  if (!options.ephemeralApps) return disk;
  const memory = new SqliteStore(":memory:", options.blobDir ?? join(options.home, "blobs"));
  return {
    engine: "sqlite",
    location: `${disk.location} (apps in memory)`,
    apps: memory.apps,
    nodes: memory.nodes,
    sessions: memory.sessions,
    security: disk.security,
    blobs: memory.blobs,
    watch(listener) {
      const stops = [memory.watch(listener), disk.watch(listener)];
      return () => stops.forEach((stop) => stop());
    },
    async close() {
      await memory.close();
      await disk.close();
    },
  };
}
