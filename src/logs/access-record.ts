/**
 * Access lines in a compact binary form, for the in-memory log
 * (memory-store.ts), which stores one per proxied request. As JSON an access
 * entry is ~260 bytes, and `JSON.stringify` of it was the largest cost the
 * gateway's access lines had (~1.5-2 µs of its CPU per request, in profiles of
 * the hello benchmark); as a record it is ~90 bytes written with a few
 * copies, and JSON is made again only when the line is read.
 *
 *   tag u8 (ACCESS_RECORD) │ time f64 │ status u16 │ durationMs f64 │ coldStartMs f64 │
 *   then app, function, container, line, requestId, method, path: each u16 byte length + UTF-8
 *
 * Numbers are little-endian. The tag can never begin a JSON line (`{`).
 * Only entries that come back exactly as they went in are encoded: an
 * access line with nothing but the fields access lines have, and text that
 * UTF-8 keeps as it is (no lone surrogate).
 */
import type { LogEntry } from "../wire/control-api.js";

export const ACCESS_RECORD = 0x01;

const FIXED_BYTES = 1 + 8 + 2 + 8 + 8;
const STRINGS = 7;
const MAX_STRING_BYTES = 0xffff;

/**
 * Writes `entry` as a record at the start of `scratch`; returns its length,
 * or 0 when it is not an access entry this form keeps exactly (or does not
 * fit `scratch`): the caller stores it as JSON then.
 */
export function encodeAccessRecord(entry: LogEntry, scratch: Buffer): number {
  const access = entry.access;
  const { requestId } = entry;
  if (access === undefined || requestId === undefined || entry.stream !== "access" || entry.node !== undefined || entry.continued !== undefined) return 0;
  if (!Number.isInteger(access.status) || access.status < 0 || access.status > 0xffff) return 0;
  const { app, function: fn, container, line } = entry;
  const { method, path } = access;
  // UTF-8 takes at most 3 bytes per UTF-16 unit: with room for that in `scratch` and in a u16 length, no string is
  // measured before it is written.
  const units = app.length + fn.length + container.length + line.length + requestId.length + method.length + path.length;
  if (3 * units > Math.min(scratch.length - FIXED_BYTES - 2 * STRINGS, MAX_STRING_BYTES)) return 0;
  // The text a request brings (its path, and the line that quotes it) is checked; the rest is the platform's own.
  if (!line.isWellFormed() || !path.isWellFormed()) return 0;
  scratch[0] = ACCESS_RECORD;
  scratch.writeDoubleLE(entry.time, 1);
  scratch.writeUInt16LE(access.status, 9);
  scratch.writeDoubleLE(access.durationMs, 11);
  scratch.writeDoubleLE(access.coldStartMs, 19);
  let at = FIXED_BYTES;
  at = writeString(scratch, at, app);
  at = writeString(scratch, at, fn);
  at = writeString(scratch, at, container);
  at = writeString(scratch, at, line);
  at = writeString(scratch, at, requestId);
  at = writeString(scratch, at, method);
  return writeString(scratch, at, path);
}

/** The entry a record was made from, with its fields in the order access lines are written in (time first). */
export function decodeAccessRecord(record: Buffer): LogEntry {
  const cursor = { at: FIXED_BYTES };
  const app = readString(record, cursor);
  const fn = readString(record, cursor);
  const container = readString(record, cursor);
  const line = readString(record, cursor);
  const requestId = readString(record, cursor);
  const method = readString(record, cursor);
  const path = readString(record, cursor);
  return {
    time: record.readDoubleLE(1),
    app,
    function: fn,
    container,
    stream: "access",
    line,
    requestId,
    access: { method, path, status: record.readUInt16LE(9), durationMs: record.readDoubleLE(11), coldStartMs: record.readDoubleLE(19) },
  };
}

function writeString(scratch: Buffer, at: number, text: string): number {
  const length = scratch.write(text, at + 2);
  scratch.writeUInt16LE(length, at);
  return at + 2 + length;
}

function readString(record: Buffer, cursor: { at: number }): string {
  const length = record.readUInt16LE(cursor.at);
  const start = cursor.at + 2;
  cursor.at = start + length;
  return record.toString("utf8", start, cursor.at);
}
