/**
 * Logs kept in memory, bounded by bytes per app: the store of the apps
 * `berth serve` runs (and of everything on its embedded platform), which
 * must leave nothing behind when they stop, even when the process is
 * killed.
 *
 * Each app's lines are bytes in one ring buffer outside the JS heap (JSON
 * as UTF-8, access lines as the compact records of access-record.ts), with
 * the positions of their ends in a typed array. An access line
 * is stored for every proxied request, and at full load an app's log turns
 * over every second or two: kept as strings, each line lived long enough to
 * be promoted to the old generation, and the major collections that followed
 * cost the gateway ~7% of its CPU (profile of the hello benchmark). Lines are
 * decoded again only when read.
 */
import type { LogEntry, LogPage } from "../wire/control-api.js";
import { ACCESS_RECORD, decodeAccessRecord, encodeAccessRecord } from "./access-record.js";
import { readPage, type LineSource, type StoredLine } from "./query.js";
import { logKey, type AppLogId, type LogQuery, type LogStore } from "./store.js";
import { Watchers } from "./watchers.js";

export const DEFAULT_MEMORY_LOG_BYTES = 4 * 1024 * 1024;

/** Bytes of a log's first buffer; it doubles as the log grows, up to the bound (or the one line that is larger). */
const INITIAL_BUFFER_BYTES = 64 * 1024;
/** Line ends a log's first index holds; it doubles as needed. */
const INITIAL_LINES = 1024;
const NEWLINE = 0x0a;
/** Where access records are encoded before they are copied into a log (an access line's path is at most ~1 KiB). */
const SCRATCH = Buffer.allocUnsafe(16 * 1024);

class MemoryLog implements LineSource {
  /** The bytes: the one at position `p` (start <= p < end) is at `(p - origin) % ring.length`. */
  private ring = Buffer.allocUnsafe(0);
  private origin = 0;
  /**
   * The end positions of the kept lines, oldest first from `first`, in a
   * ring too: a line begins where the one before it ends (the oldest at
   * `start`), so dropping the oldest is a step of `first`, never a copy.
   */
  private ends = new Float64Array(INITIAL_LINES);
  private first = 0;
  private count = 0;
  start = 0;
  end = 0;

  /** Stores a JSON line and a newline after it (counted in the bound, as in the files of file-store.ts). */
  appendJson(json: string, maxBytes: number): void {
    const size = Buffer.byteLength(json) + 1;
    const at = this.reserve(size, maxBytes);
    if (at + size <= this.ring.length) {
      this.ring.write(json, at);
      this.ring[at + size - 1] = NEWLINE;
    } else this.copyIn(Buffer.from(`${json}\n`), size, at);
    this.commit(size);
  }

  /** Stores the first `size` bytes of `source` as one line, as they are (an access record). */
  appendBytes(source: Buffer, size: number, maxBytes: number): void {
    this.copyIn(source, size, this.reserve(size, maxBytes));
    this.commit(size);
  }

  /** Drops the oldest lines until `size` more bytes fit the bound, grows the ring if they do not fit it; returns where they go. */
  private reserve(size: number, maxBytes: number): number {
    // A line larger than the bound alone is still kept.
    while (this.count > 0 && this.end + size - this.start > maxBytes) {
      this.start = this.ends[this.first]!;
      this.first = (this.first + 1) % this.ends.length;
      this.count -= 1;
    }
    if (this.count === 0) {
      this.start = this.end;
      this.origin = this.end;
      this.first = 0;
    }
    const needed = this.end + size - this.start;
    if (needed > this.ring.length) this.grow(Math.max(needed, Math.min(maxBytes, Math.max(INITIAL_BUFFER_BYTES, this.ring.length * 2))));
    return (this.end - this.origin) % this.ring.length;
  }

  /** Copies `size` bytes of `source` into the ring at `at`, wrapping around its end. */
  private copyIn(source: Buffer, size: number, at: number): void {
    const first = Math.min(size, this.ring.length - at);
    source.copy(this.ring, at, 0, first);
    if (first < size) source.copy(this.ring, 0, first, size);
  }

  private commit(size: number): void {
    this.end += size;
    if (this.count === this.ends.length) this.growEnds();
    this.ends[(this.first + this.count) % this.ends.length] = this.end;
    this.count += 1;
  }

  *forward(from: number): Iterable<StoredLine> {
    // The first line that ends after `from`, by binary search over the kept lines.
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.endOf(middle) <= from) low = middle + 1;
      else high = middle;
    }
    for (let i = low; i < this.count; i += 1) yield this.line(i);
  }

  *backward(): Iterable<StoredLine> {
    for (let i = this.count - 1; i >= 0; i -= 1) yield this.line(i);
  }

  /** The end of the `index`th kept line, oldest 0. */
  private endOf(index: number): number {
    return this.ends[(this.first + index) % this.ends.length]!;
  }

  private line(index: number): StoredLine {
    const end = this.endOf(index);
    const begin = index === 0 ? this.start : this.endOf(index - 1);
    // A JSON line, less its newline, or an access record, made JSON again (with `time` first, as every line).
    if (this.ring[(begin - this.origin) % this.ring.length] === ACCESS_RECORD) return { json: JSON.stringify(decodeAccessRecord(this.bytes(begin, end))), end };
    return { json: this.bytes(begin, end - 1).toString("utf8"), end };
  }

  /** The bytes from position `begin` to `end`: a view of the ring, or a copy when they wrap around its end. */
  private bytes(begin: number, end: number): Buffer {
    const at = (begin - this.origin) % this.ring.length;
    const size = end - begin;
    if (at + size <= this.ring.length) return this.ring.subarray(at, at + size);
    return Buffer.concat([this.ring.subarray(at), this.ring.subarray(0, size - (this.ring.length - at))]);
  }

  /** Moves the kept bytes to the front of a larger ring. */
  private grow(capacity: number): void {
    const ring = Buffer.allocUnsafe(capacity);
    const kept = this.end - this.start;
    if (kept > 0) {
      const at = (this.start - this.origin) % this.ring.length;
      const first = Math.min(kept, this.ring.length - at);
      this.ring.copy(ring, 0, at, at + first);
      if (first < kept) this.ring.copy(ring, first, 0, kept - first);
    }
    this.ring = ring;
    this.origin = this.start;
  }

  /** Moves the line ends, oldest first, to the front of an index twice as large. */
  private growEnds(): void {
    const ends = new Float64Array(this.ends.length * 2);
    for (let i = 0; i < this.count; i += 1) ends[i] = this.endOf(i);
    this.ends = ends;
    this.first = 0;
  }
}

export class MemoryLogStore implements LogStore {
  private readonly logs = new Map<string, MemoryLog>();
  private readonly watchers = new Watchers();

  /** `maxBytes`: bytes of log kept per app (JSON lines as UTF-8, access lines as records). Default 4 MiB. */
  constructor(private readonly maxBytes = DEFAULT_MEMORY_LOG_BYTES) {}

  append(id: AppLogId, entries: readonly LogEntry[]): void {
    const key = logKey(id);
    let log = this.logs.get(key);
    if (!log) this.logs.set(key, (log = new MemoryLog()));
    for (const entry of entries) {
      const size = encodeAccessRecord(entry, SCRATCH);
      if (size > 0) log.appendBytes(SCRATCH, size, this.maxBytes);
      else log.appendJson(JSON.stringify(entry), this.maxBytes);
    }
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
