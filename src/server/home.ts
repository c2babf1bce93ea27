/**
 * The state directory, checked before a server uses it: it must be (or
 * become) a folder the server can write to. Otherwise the server does not
 * start, and says which path and why, rather than failing later with
 * "unable to open database file" or a bare errno.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { BerthError, systemCode } from "../errors/codes.js";
import { isStorageFull, writeFailureReason } from "../errors/storage.js";
import { tempPath } from "../lifetime/run.js";

export function prepareHome(home: string): void {
  try {
    mkdirSync(home, { recursive: true });
    // Creating a file proves the folder is writable (a read-only mount, another owner, a full disk).
    const probe = tempPath(join(home, ".write-test"));
    writeFileSync(probe, "");
    rmSync(probe, { force: true });
  } catch (error) {
    const cause = systemCode(error) === "ENOENT" ? firstMissingFailure(home) ?? error : error;
    throw new BerthError(isStorageFull(cause) ? "storage_full" : "invalid_input", `cannot use ${home} as the state directory: ${writeFailureReason(cause)}`, {
      cause,
    });
  }
}

/**
 * A recursive `mkdir` reports some failures (a read-only parent) as ENOENT;
 * creating the first missing folder alone gives the real reason.
 */
function firstMissingFailure(home: string): unknown {
  let missing = home;
  while (!existsSync(dirname(missing)) && dirname(missing) !== missing) missing = dirname(missing);
  try {
    mkdirSync(missing);
    rmSync(missing, { recursive: true, force: true });
    return undefined;
  } catch (error) {
    return error;
  }
}
