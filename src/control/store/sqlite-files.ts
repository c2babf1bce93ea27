/**
 * What the SQLite stores share about their file: opening it with an error
 * that names the path and the reason (better-sqlite3 says only "unable to
 * open database file"), and writes that turn a full disk into a 507
 * `storage_full` naming the database.
 */
import Database from "better-sqlite3";
import { BerthError } from "../../errors/codes.js";
import { storageFull, writeFailureReason } from "../../errors/storage.js";

export function openDatabase(path: string): Database.Database {
  try {
    return new Database(path);
  } catch (error) {
    throw new BerthError("internal_error", `cannot open the state database ${path}: ${writeFailureReason(error)}`, { cause: error });
  }
}

/** Runs a write; a full disk is thrown as `storage_full` naming the database at `path`. */
export function writing<T>(path: string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    throw storageFull(error, "the state database", path);
  }
}
