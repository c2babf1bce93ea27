/**
 * The state directory, checked and prepared before a server uses it.
 *
 * It must be (or become) a folder the server can write to; otherwise the
 * server does not start, and says which path and why, rather than failing
 * later with "unable to open database file" or a bare errno.
 *
 * Its permissions: `$BERTH_HOME` holds the database (API token hashes,
 * sealed secrets), the secrets key, the CLI's admin token and every bundle.
 * berth creates it 0700 and its files 0600, and warns about anything there
 * that other users of the machine can read or enter, since file-system
 * access to it is admin access to the server.
 */
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BerthError } from "../errors/codes.js";
import { isStorageFull, writeFailureReason } from "../errors/storage.js";
import { makeDirectory } from "../files/make-directory.js";
import { tempPath } from "../lifetime/run.js";

/**
 * Creates the state directory (0700) and, unless the state is elsewhere
 * (`sqlite: false`, a node on PostgreSQL), an empty database file (0600)
 * if missing: SQLite creates its -wal and -shm files with the database's
 * mode. What already exists is left as it is, and warned about. Throws a
 * `BerthError` naming the path and the reason when the folder cannot be used
 * (`storage_full` for a full disk).
 */
export function prepareHome(home: string, { sqlite = true }: { sqlite?: boolean } = {}): void {
  try {
    if (!existsSync(home)) makeDirectory(home, 0o700);
    // Creating a file proves the folder is writable (a read-only mount, another owner, a full disk).
    const probe = tempPath(join(home, ".write-test"));
    writeFileSync(probe, "");
    rmSync(probe, { force: true });
    const database = join(home, "state.db");
    if (sqlite && !existsSync(database)) writeFileSync(database, "", { mode: 0o600 });
  } catch (error) {
    throw new BerthError(isStorageFull(error) ? "storage_full" : "invalid_input", `cannot use ${home} as the state directory: ${writeFailureReason(error)}`, {
      cause: error,
    });
  }
}

/** Files sensitive enough to warn about, relative to the state directory. */
const SENSITIVE = ["state.db", "state.db-wal", "state.db-shm", "secrets.key", "config.json"];

/**
 * One line per path under `home` that group or others may read or enter,
 * with the command that fixes it.
 */
export function homePermissionWarnings(home: string, extraFiles: string[] = []): string[] {
  const warnings: string[] = [];
  const check = (path: string) => {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat || (stat.mode & 0o077) === 0) return;
    const wanted = stat.isDirectory() ? "700" : "600";
    warnings.push(`${path} is accessible to other users (mode ${(stat.mode & 0o777).toString(8)}): chmod ${wanted} ${path}`);
  };
  check(home);
  for (const name of SENSITIVE) check(join(home, name));
  for (const path of extraFiles) check(path);
  const blobs = join(home, "blobs");
  if (existsSync(blobs)) {
    check(blobs);
    const sha = join(blobs, "sha256");
    if (existsSync(sha)) {
      check(sha);
      const loose = readdirSync(sha).filter((name) => (statSync(join(sha, name)).mode & 0o077) !== 0);
      if (loose.length > 0) warnings.push(`${loose.length} bundle(s) in ${sha} are readable by other users: chmod 600 ${sha}/*`);
    }
  }
  return warnings;
}
