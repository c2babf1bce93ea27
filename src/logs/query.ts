/**
 * Reading a page of an app's log, for every store: the store hands over its
 * lines (one JSON entry each, with the byte position just past it) forwards
 * from a position or backwards from the end, and this picks the matching
 * entries, within bounds on the entries, the bytes and the work of a page.
 * Positions are byte offsets in the app's whole log since it began, so a
 * cursor stays valid as old lines are dropped and across restarts.
 */
import type { LogEntry, LogPage } from "../wire/control-api.js";
import type { LogQuery } from "./store.js";

/** Bytes of entries in one page at most (a page of 16 KiB lines then holds ~250). */
export const PAGE_BYTES = 4 * 1024 * 1024;
/** Bytes of log examined for one forward page at most: a filter that matches little answers in bounded time, with `more`. */
export const SCAN_BYTES = 16 * 1024 * 1024;
/** Entries one page may hold (`limit` and `tail` beyond it are refused by the API). */
export const MAX_PAGE_ENTRIES = 5000;

export interface StoredLine {
  /** One entry as JSON, written with `time` as its first key. */
  json: string;
  /** The position just past this line. */
  end: number;
}

export interface LineSource {
  /** Position of the oldest line kept. */
  readonly start: number;
  /** Position just past the newest line. */
  readonly end: number;
  /** Lines from the first one at or after `from`; `since` lets a store skip what is surely older. */
  forward(from: number, since: number | undefined): Iterable<StoredLine>;
  /** Lines from the newest back. */
  backward(): Iterable<StoredLine>;
}

export function readPage(source: LineSource, query: LogQuery): LogPage {
  return query.tail !== undefined ? readTail(source, query, query.tail) : readForward(source, query);
}

function readForward(source: LineSource, query: LogQuery): LogPage {
  const after = query.after === undefined ? source.start : Number(query.after);
  // A cursor from before the oldest line kept resumes at the oldest; one past the end (a log dropped and begun again) restarts it.
  const from = after < source.start || after > source.end ? source.start : after;
  const entries: LogEntry[] = [];
  let cursor = from;
  let bytes = 0;
  let scanned = 0;
  for (const line of source.forward(from, query.since)) {
    if (entries.length >= query.limit || bytes >= PAGE_BYTES || scanned >= SCAN_BYTES) return { entries, cursor: String(cursor), more: true };
    cursor = line.end;
    scanned += line.json.length;
    const entry = match(line.json, query);
    if (!entry) continue;
    entries.push(entry);
    bytes += line.json.length;
  }
  return { entries, cursor: String(cursor), more: false };
}

function readTail(source: LineSource, query: LogQuery, tail: number): LogPage {
  const newest: LogEntry[] = [];
  let bytes = 0;
  const count = Math.min(tail, query.limit);
  if (count > 0) {
    for (const line of source.backward()) {
      // Lines are in arrival order, so the first one older than `since` ends the search.
      if (query.since !== undefined && timeOf(line.json) < query.since) break;
      const entry = match(line.json, query);
      if (!entry) continue;
      bytes += line.json.length;
      if (bytes > PAGE_BYTES) break;
      newest.push(entry);
      if (newest.length >= count) break;
    }
  }
  return { entries: newest.reverse(), cursor: String(source.end), more: false };
}

/** The entry of `json` if it matches the query's filters; cheap substring tests first, so most misses are never parsed. */
function match(json: string, query: LogQuery): LogEntry | undefined {
  if (query.requestId !== undefined && !json.includes(query.requestId)) return undefined;
  if (query.function !== undefined && !json.includes(query.function)) return undefined;
  if (query.container !== undefined && !json.includes(query.container)) return undefined;
  if (query.stream !== undefined && !json.includes(query.stream)) return undefined;
  if (query.since !== undefined && timeOf(json) < query.since) return undefined;
  let entry: LogEntry;
  try {
    entry = JSON.parse(json) as LogEntry;
  } catch {
    // A line torn by a crash mid-write: skipped rather than failing the page.
    return undefined;
  }
  if (query.function !== undefined && entry.function !== query.function) return undefined;
  if (query.requestId !== undefined && entry.requestId !== query.requestId) return undefined;
  if (query.container !== undefined && entry.container !== query.container) return undefined;
  if (query.stream !== undefined && entry.stream !== query.stream) return undefined;
  return entry;
}

const TIME_PREFIX = '{"time":';

/** The `time` of a stored entry, read from its first key without parsing the line (the stores write it first). */
export function timeOf(json: string): number {
  if (json.startsWith(TIME_PREFIX)) {
    const comma = json.indexOf(",", TIME_PREFIX.length);
    const time = Number(json.slice(TIME_PREFIX.length, comma));
    if (comma !== -1 && Number.isFinite(time)) return time;
  }
  try {
    return (JSON.parse(json) as LogEntry).time;
  } catch {
    return 0;
  }
}
