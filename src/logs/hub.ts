/**
 * The platform's side of app logs: lines from containers and the gateway are
 * written here, kept in memory for at most `FLUSH_MS` (or `FLUSH_BYTES` per
 * app) and then appended to the app's store in one batch: the files for
 * deployed apps, memory for the apps `berth serve` runs. Reads flush first,
 * so a line written is a line read. `follow` pages through the store and
 * waits for it to change, so a follower never holds more than one page and
 * a slow one is paced by its own connection, not by memory here.
 */
import type { Cancel, Clock } from "../clock/clock.js";
import type { LogEntry, LogPage } from "../wire/control-api.js";
import { MAX_LINE_BYTES } from "./lines.js";
import { logKey, type AppLogId, type LogQuery, type LogStore } from "./store.js";

/** Milliseconds a line may wait in memory before it is stored. */
const FLUSH_MS = 50;
/** Characters of lines waiting for one app that make it store them at once. */
const FLUSH_BYTES = 256 * 1024;
/** Entries per page a follower reads at a time. */
const FOLLOW_PAGE = 1000;
/**
 * Characters of one entry's line at most. Container output is cut into
 * pieces before it gets here (lines.ts); this bounds what is not, such as
 * a start-up error's message, which is the user's exception text.
 */
const MAX_LINE_CHARS = 2 * MAX_LINE_BYTES;

interface Pending {
  id: AppLogId;
  entries: LogEntry[];
  bytes: number;
}

export interface LogHubOptions {
  /** Deployed apps' logs, which survive restarts. */
  persistent: LogStore;
  /** The logs of apps `berth serve` runs, which leave nothing behind. */
  ephemeral: LogStore;
  /** Runs the flush timer. */
  clock: Clock;
  /** Sees every entry as it is written (the server's own log prints them). */
  echo?: (entry: LogEntry) => void;
}

/** What a follower asks for: the filters, and where to begin (after the cursor `after`, else the `tail` newest entries, else from `since`, else only what comes next). */
export type FollowQuery = Omit<LogQuery, "limit">;

export class LogHub {
  private readonly pending = new Map<string, Pending>();
  private cancelFlush: Cancel | undefined;
  /** Aborted by `endFollowers`: every follow ends with it. */
  private readonly ending = new AbortController();

  constructor(private readonly options: LogHubOptions) {}

  write(id: AppLogId, entry: LogEntry): void {
    const key = logKey(id);
    const pending = this.add(key, id, entry);
    if (pending.bytes >= FLUSH_BYTES) this.flushApp(key);
    else this.cancelFlush ??= this.options.clock.after(FLUSH_MS, () => this.flush());
  }

  /** Writes entries that were batched already (access lines): stored at once, after the app's lines still waiting. */
  writeBatch(id: AppLogId, entries: LogEntry[]): void {
    const key = logKey(id);
    for (const entry of entries) this.add(key, id, entry);
    this.flushApp(key);
  }

  private add(key: string, id: AppLogId, entry: LogEntry): Pending {
    let pending = this.pending.get(key);
    if (!pending) this.pending.set(key, (pending = { id, entries: [], bytes: 0 }));
    if (entry.line.length > MAX_LINE_CHARS) entry.line = `${entry.line.slice(0, MAX_LINE_CHARS)} [cut: ${entry.line.length} characters]`;
    pending.entries.push(entry);
    pending.bytes += entry.line.length;
    this.options.echo?.(entry);
    return pending;
  }

  /** Stores every waiting line now. */
  flush(): void {
    this.cancelFlush?.();
    this.cancelFlush = undefined;
    for (const key of [...this.pending.keys()]) this.flushApp(key);
  }

  async read(id: AppLogId, query: LogQuery): Promise<LogPage> {
    this.flushApp(logKey(id));
    return this.storeOf(id).read(id, query);
  }

  /**
   * Sends the app's matching entries page by page as they are written,
   * until `until` aborts (or `endFollowers` is called). `send` resolves when the page has gone out, so a
   * slow reader slows only itself.
   */
  async follow(id: AppLogId, query: FollowQuery, until: AbortSignal, send: (entries: LogEntry[]) => Promise<void>): Promise<void> {
    const signal = AbortSignal.any([until, this.ending.signal]);
    const store = this.storeOf(id);
    let changed = false;
    let wake: (() => void) | undefined;
    const stopWatching = store.watch(id, () => {
      changed = true;
      wake?.();
    });
    try {
      const fromTail = query.after === undefined && (query.tail !== undefined || query.since === undefined);
      const first = fromTail ? await this.read(id, { ...query, tail: query.tail ?? 0, limit: FOLLOW_PAGE }) : undefined;
      if (first && first.entries.length > 0) await send(first.entries);
      let cursor = query.after ?? first?.cursor;
      const { since, function: fn, requestId, container, stream } = query;
      const filters = { since, function: fn, requestId, container, stream, limit: FOLLOW_PAGE };
      while (!signal.aborted) {
        changed = false;
        const page = await this.read(id, { ...filters, after: cursor });
        if (page.entries.length > 0) await send(page.entries);
        cursor = page.cursor;
        if (page.more || changed || signal.aborted) continue;
        let onAbort = () => {};
        await new Promise<void>((resolve) => {
          wake = onAbort = () => resolve();
          signal.addEventListener("abort", onAbort, { once: true });
        });
        signal.removeEventListener("abort", onAbort);
        wake = undefined;
      }
    } finally {
      stopWatching();
    }
  }

  /** Ends every follow: a server shutting down does not wait for log streams, which never end by themselves. */
  endFollowers(): void {
    this.ending.abort();
  }

  /** An app stopped: the log of an app `berth serve` ran is dropped (it must leave nothing behind); a deployed app's is stored and kept. */
  forget(id: AppLogId): void {
    const key = logKey(id);
    if (!id.ephemeral) return this.flushApp(key);
    this.pending.delete(key);
    this.options.ephemeral.drop(id);
  }

  private flushApp(key: string): void {
    const pending = this.pending.get(key);
    if (!pending) return;
    this.pending.delete(key);
    this.storeOf(pending.id).append(pending.id, pending.entries);
  }

  private storeOf(id: AppLogId): LogStore {
    return id.ephemeral ? this.options.ephemeral : this.options.persistent;
  }
}
