/**
 * Failed writes to the platform's own storage, said in words: a full disk
 * becomes a 507 `storage_full` naming what could not be written and where
 * (the API and the CLI show it as it is), and any other write failure gets
 * its reason spelled out for the messages that name a path. Callers wrap
 * the writes they know the meaning of; anything else stays as it was.
 */
import { BerthError, systemCode } from "./codes.js";

/**
 * Codes of a write that found no room: the disk, the user's quota, SQLite's
 * view of either, PostgreSQL's disk_full (SQLSTATE 53100, on the pg error's `code`).
 */
const FULL = new Set(["ENOSPC", "EDQUOT", "SQLITE_FULL", "53100"]);

const REASONS: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  SQLITE_FULL: "no space left on device",
  "53100": "the database server's disk is full",
  EROFS: "read-only file system",
  SQLITE_READONLY: "read-only database",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a part of the path is not a directory",
  ENOENT: "no such file or directory",
  EISDIR: "it is a directory",
  SQLITE_CANTOPEN: "the database file cannot be opened",
};

/** Why a write failed, for a message: `read-only file system (EROFS)`, else the error's own message. */
export function writeFailureReason(error: unknown): string {
  const code = systemCode(error);
  const reason = code === undefined ? undefined : REASONS[code];
  if (reason) return `${reason} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/** Whether `error` is a write that found the disk full. */
export function isStorageFull(error: unknown): boolean {
  const code = systemCode(error);
  return code !== undefined && FULL.has(code);
}

/**
 * `error` as a `storage_full` error naming `what` (`"the bundle"`) and
 * `path` when it is a write that found the disk full; otherwise `error`
 * itself, to be thrown on as it was.
 */
export function storageFull(error: unknown, what: string, path: string): unknown {
  if (!isStorageFull(error)) return error;
  return new BerthError("storage_full", `the server's disk is full: could not write ${what} (${path}): ${writeFailureReason(error)}`, { cause: error });
}
