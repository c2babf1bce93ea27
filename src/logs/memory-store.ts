/**
 * Logs kept in memory, bounded by bytes per app: the store of the apps
 * `berth serve` runs (and of everything on its embedded platform), which
 * must leave nothing behind when they stop, even when the process is
 * killed.
 */
import type { LogEntry, LogPage } from "../wire/control-api.js";
import { readPage, type LineSource, type StoredLine } from "./query.js";
import { logKey, type AppLogId, type LogQuery, type LogStore } from "./store.js";
import { Watchers } from "./watchers.js";

export const DEFAULT_MEMORY_LOG_BYTES = 4 * 1024 * 1024;

class MemoryLog implements LineSource {
  /** Lines from `head` on are kept; the ones before it were dropped and are cut away in bulk. */
  private lines: StoredLine[] = [];
  private head = 0;
  private bytes = 0;
  start = 0;
  end = 0;

  append(json: string, maxBytes: number): void {
    this.end += json.length + 1;
    this.lines.push({ json, end: this.end });
    this.bytes += json.length + 1;
    while (this.bytes > maxBytes && this.head < this.lines.length - 1) {
      const dropped = this.lines[this.head]!;
      this.head += 1;
      this.bytes -= dropped.json.length + 1;
      this.start = dropped.end;
    }
    if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
  }

  *forward(from: number): Iterable<StoredLine> {
    // The first line that ends after `from`, by binary search over the kept lines.
    let low = this.head;
    let high = this.lines.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.lines[middle]!.end <= from) low = middle + 1;
      else high = middle;
    }
    for (let i = low; i < this.lines.length; i += 1) yield this.lines[i]!;
  }

  *backward(): Iterable<StoredLine> {
    for (let i = this.lines.length - 1; i >= this.head; i -= 1) yield this.lines[i]!;
  }
}

export class MemoryLogStore implements LogStore {
  private readonly logs = new Map<string, MemoryLog>();
  private readonly watchers = new Watchers();

  /** `maxBytes`: bytes of log kept per app (as JSON). Default 4 MiB. */
  constructor(private readonly maxBytes = DEFAULT_MEMORY_LOG_BYTES) {}

  append(id: AppLogId, entries: readonly LogEntry[]): void {
    const key = logKey(id);
    let log = this.logs.get(key);
    if (!log) this.logs.set(key, (log = new MemoryLog()));
    for (const entry of entries) log.append(JSON.stringify(entry), this.maxBytes);
    this.watchers.notify(key);
  }

  read(id: AppLogId, query: LogQuery): Promise<LogPage> {
    const log = this.logs.get(logKey(id)) ?? new MemoryLog();
    return Promise.resolve(readPage(log, query));
  }

  watch(id: AppLogId, listener: () => void): () => void {
    return this.watchers.add(logKey(id), listener);
  }

  drop(id: AppLogId): void {
    const key = logKey(id);
    this.logs.delete(key);
    this.watchers.notify(key);
  }
}
