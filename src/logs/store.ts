/**
 * The log store interface: where each app's log lines are kept, bounded by
 * bytes per app (the oldest lines go first). Two implementations here: files
 * under `$BERTH_HOME/logs` for deployed apps (file-store.ts), memory for the
 * apps `berth serve` runs, which must leave nothing behind
 * (memory-store.ts). A store shared by several nodes (PostgreSQL) fits the
 * same shape: `append` from every node, `read` and `watch` see them all, and
 * cursors are opaque strings, so `berth app logs` through any node shows
 * every node's lines.
 */
import type { LogEntry, LogPage, LogStream } from "../wire/control-api.js";

/** One app's log. A deployed app and the app `berth serve` runs under the same name have separate logs. */
export interface AppLogId {
  workspace: string;
  app: string;
  ephemeral: boolean;
}

/** Which entries a page holds. Filters combine (all must match). */
export interface LogQuery {
  /** Entries written at or after this time, in milliseconds since the epoch. */
  since?: number;
  function?: string;
  requestId?: string;
  /** The container that wrote the entries (or served the request, for access lines). */
  container?: string;
  stream?: LogStream;
  /** Read on after this cursor (from an earlier page); absent: from the oldest entry kept. */
  after?: string;
  /** The newest `tail` matching entries, instead of reading forward; the page's cursor is then the end of the log. */
  tail?: number;
  /** Entries per page, at most. */
  limit: number;
}

export interface LogStore {
  /** Adds entries, in order, at the end of an app's log; the oldest go when the log is over its bound. Never throws. */
  append(id: AppLogId, entries: readonly LogEntry[]): void;
  /** One bounded page of the app's log. An app with no log has an empty page. */
  read(id: AppLogId, query: LogQuery): Promise<LogPage>;
  /** Calls `listener` after entries are appended to (or the log of) the app is dropped; returns the way to stop. */
  watch(id: AppLogId, listener: () => void): () => void;
  /** Forgets an app's log entirely. */
  drop(id: AppLogId): void;
}

/** The key of an app's log in maps and messages. */
export function logKey(id: AppLogId): string {
  return `${id.workspace}/${id.app}${id.ephemeral ? "/dev" : ""}`;
}
