/**
 * Unit tests of src/errors/storage.ts: which failed writes are a full disk
 * (507 storage_full), on the file system, SQLite and PostgreSQL alike.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BerthError } from "../src/errors/codes.js";
import { isStorageFull, storageFull, writeFailureReason } from "../src/errors/storage.js";

const withCode = (code: string, message = "failed") => Object.assign(new Error(message), { code });

test("a full disk is storage_full whoever reports it: ENOSPC, a quota, SQLite, PostgreSQL's disk_full (SQLSTATE 53100)", () => {
  for (const code of ["ENOSPC", "EDQUOT", "SQLITE_FULL", "53100"]) {
    assert.equal(isStorageFull(withCode(code)), true, code);
    const error = storageFull(withCode(code), "the state database", "postgres://db:5432/berth");
    assert.ok(error instanceof BerthError, code);
    assert.equal(error.code, "storage_full");
    assert.equal(error.status, 507);
    assert.match(error.message, /the server's disk is full: could not write the state database \(postgres:\/\/db:5432\/berth\)/);
  }
  assert.match(writeFailureReason(withCode("53100")), /disk is full \(53100\)/);
});

test("other failures are thrown on as they were", () => {
  for (const error of [withCode("EACCES"), withCode("23505", "duplicate key"), new Error("plain"), "a string"]) {
    assert.equal(isStorageFull(error), false);
    assert.equal(storageFull(error, "x", "/y"), error);
  }
});
