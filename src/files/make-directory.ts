/**
 * Directories on paths users name (the state directory, the image store,
 * the secrets key's directory, an export target, a new project). Node's
 * recursive mkdir never returns when a parent exists but cannot hold
 * children, as under /proc or /sys, behind a dangling symlink or a stale
 * mount: it takes the ENOENT for a missing parent and retries forever. So
 * the missing parents are made one at a time here, and the first failure is
 * thrown as the system reported it (ENOENT, EACCES, ENOTDIR, EEXIST).
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** Makes `path` and whichever of its parents are missing, each with `mode` (like `mkdir -p -m`). */
export function makeDirectory(path: string, mode?: number): void {
  const target = resolve(path);
  // The target itself is always tried, so that a file in its place fails (EEXIST) as with mkdir -p.
  const missing = [target];
  for (let dir = dirname(target); !existsSync(dir) && dirname(dir) !== dir; dir = dirname(dir)) missing.unshift(dir);
  for (const dir of missing) {
    try {
      mkdirSync(dir, mode === undefined ? undefined : { mode });
    } catch (error) {
      // Made meanwhile by someone else, or a dangling symlink (then statSync throws its ENOENT).
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || !statSync(dir).isDirectory()) throw error;
    }
  }
}
