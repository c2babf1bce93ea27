/**
 * Logs on disk, per app, bounded by bytes: `<root>/<workspace>/<app>/` holds
 * segment files of NDJSON entries, each named by the position of its first
 * byte in the app's whole log (`0000000000001234.ndjson`). New entries are
 * appended to the newest segment; a full one (1/8 of the bound) starts the
 * next, and the oldest segments are deleted while the app's log is over its
 * bound, so an app keeps between 7/8 of the bound and the bound. Positions
 * only grow, so cursors stay valid across rotation and restarts.
 *
 * Writes are synchronous appends of whole batches (the hub batches every
 * 50 ms); a line torn by a crash mid-append is cut off when the app's log is
 * next opened.
 */
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, truncateSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Logger } from "../logging/logger.js";
import type { LogEntry, LogPage } from "../wire/control-api.js";
import { readPage, timeOf, type LineSource, type StoredLine } from "./query.js";
import { logKey, type AppLogId, type LogQuery, type LogStore } from "./store.js";
import { Watchers } from "./watchers.js";

/** Bytes of log kept per app by default. */
export const DEFAULT_APP_LOG_BYTES = 16 * 1024 * 1024;

const SEGMENT_FILE = /^(\d{16})\.ndjson$/;
/** Failed writes between two warnings (a full disk would otherwise warn on every batch). */
const WARN_EVERY = 1000;

interface Segment {
  /** Position of its first byte in the app's log. */
  start: number;
  size: number;
  /** Time of its first entry, read when first needed. */
  firstTime?: number;
}

class AppFiles implements LineSource {
  constructor(
    readonly dir: string,
    readonly segments: Segment[],
  ) {}

  get start(): number {
    return this.segments[0]?.start ?? 0;
  }

  get end(): number {
    const last = this.segments.at(-1);
    return last ? last.start + last.size : 0;
  }

  path(segment: Segment): string {
    return join(this.dir, `${String(segment.start).padStart(16, "0")}.ndjson`);
  }

  *forward(from: number, since: number | undefined): Iterable<StoredLine> {
    let index = this.segments.findIndex((segment) => from < segment.start + segment.size);
    if (index === -1) return;
    if (since !== undefined) {
      // Segments whose successor began before `since` hold only older entries.
      while (index + 1 < this.segments.length && this.firstTime(this.segments[index + 1]!) <= since) index += 1;
    }
    for (const segment of this.segments.slice(index)) {
      const buffer = this.readSegment(segment);
      if (!buffer) return;
      for (const line of linesOf(buffer, segment.start, Math.max(0, from - segment.start))) yield line;
    }
  }

  *backward(): Iterable<StoredLine> {
    for (const segment of [...this.segments].reverse()) {
      const buffer = this.readSegment(segment);
      if (!buffer) return;
      yield* [...linesOf(buffer, segment.start, 0)].reverse();
    }
  }

  private firstTime(segment: Segment): number {
    if (segment.firstTime === undefined) {
      const head = Buffer.alloc(64);
      try {
        const fd = openSync(this.path(segment), "r");
        try {
          segment.firstTime = timeOf(head.toString("utf8", 0, readSync(fd, head, 0, head.length, 0)));
        } finally {
          closeSync(fd);
        }
      } catch {
        segment.firstTime = 0;
      }
    }
    return segment.firstTime;
  }

  /** The segment's bytes up to its known size (a write under way is not read half); undefined when it is gone. */
  private readSegment(segment: Segment): Buffer | undefined {
    try {
      return readFileSync(this.path(segment)).subarray(0, segment.size);
    } catch {
      return undefined;
    }
  }
}

function* linesOf(buffer: Buffer, base: number, from: number): Iterable<StoredLine> {
  for (let position = from; position < buffer.length; ) {
    const newline = buffer.indexOf(0x0a, position);
    if (newline === -1) return;
    yield { json: buffer.toString("utf8", position, newline), end: base + newline + 1 };
    position = newline + 1;
  }
}

export interface FileLogStoreOptions {
  /** Bytes of log kept per app. Default 16 MiB. */
  maxBytes?: number;
  /** Told when the disk refuses a write (the first time, then every 1000th). */
  logger: Logger;
}

export class FileLogStore implements LogStore {
  private readonly apps = new Map<string, AppFiles>();
  private readonly watchers = new Watchers();
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private failedWrites = 0;

  constructor(
    private readonly root: string,
    private readonly options: FileLogStoreOptions,
  ) {
    this.maxBytes = options.maxBytes ?? DEFAULT_APP_LOG_BYTES;
    this.segmentBytes = Math.max(1024, Math.floor(this.maxBytes / 8));
  }

  append(id: AppLogId, entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    try {
      const files = this.open(id);
      mkdirSync(files.dir, { recursive: true });
      let segment = files.segments.at(-1);
      let batch = "";
      let batchBytes = 0;
      for (const entry of entries) {
        const line = `${JSON.stringify(entry)}\n`;
        const bytes = Buffer.byteLength(line);
        if (!segment || (segment.size + batchBytes > 0 && segment.size + batchBytes + bytes > this.segmentBytes)) {
          if (segment) this.write(files, segment, batch, batchBytes);
          segment = { start: files.end, size: 0, firstTime: entry.time };
          files.segments.push(segment);
          batch = "";
          batchBytes = 0;
        }
        batch += line;
        batchBytes += bytes;
      }
      this.write(files, segment!, batch, batchBytes);
      this.trim(files);
    } catch (error) {
      if (this.failedWrites % WARN_EVERY === 0) {
        this.options.logger.warn({ err: error, workspace: id.workspace, app: id.app, failedWrites: this.failedWrites + 1 }, "could not write an app's log; its lines are lost");
      }
      this.failedWrites += 1;
    }
    this.watchers.notify(logKey(id));
  }

  read(id: AppLogId, query: LogQuery): Promise<LogPage> {
    return Promise.resolve(readPage(this.open(id), query));
  }

  watch(id: AppLogId, listener: () => void): () => void {
    return this.watchers.add(logKey(id), listener);
  }

  drop(id: AppLogId): void {
    const key = logKey(id);
    rmSync(this.dirOf(id), { recursive: true, force: true });
    this.apps.delete(key);
    this.watchers.notify(key);
  }

  private write(files: AppFiles, segment: Segment, batch: string, bytes: number): void {
    if (bytes === 0) return;
    appendFileSync(files.path(segment), batch);
    segment.size += bytes;
  }

  /** Deletes the oldest segments while the app's log is over its bound; the newest always stays. */
  private trim(files: AppFiles): void {
    let total = files.segments.reduce((sum, segment) => sum + segment.size, 0);
    while (total > this.maxBytes && files.segments.length > 1) {
      const oldest = files.segments.shift()!;
      total -= oldest.size;
      rmSync(files.path(oldest), { force: true });
    }
  }

  /** The app's segments, read from its directory the first time; a torn last line (a crash mid-write) is cut off. */
  private open(id: AppLogId): AppFiles {
    const key = logKey(id);
    let files = this.apps.get(key);
    if (files) return files;
    const dir = this.dirOf(id);
    const segments: Segment[] = [];
    if (existsSync(dir)) {
      for (const name of readdirSync(dir)) {
        const match = SEGMENT_FILE.exec(name);
        if (match) segments.push({ start: Number(match[1]), size: statSync(join(dir, name)).size });
      }
      segments.sort((a, b) => a.start - b.start);
    }
    files = new AppFiles(dir, segments);
    const last = segments.at(-1);
    if (last && last.size > 0) {
      const content = readFileSync(files.path(last));
      const kept = content.lastIndexOf(0x0a) + 1;
      if (kept < content.length) {
        truncateSync(files.path(last), kept);
        last.size = kept;
      }
    }
    this.apps.set(key, files);
    return files;
  }

  /** `<root>/<workspace>/<app>`, each name made safe as one path segment (no `/`, no `.` or `..`, not too long). */
  private dirOf(id: AppLogId): string {
    return join(this.root, safeName(id.workspace), id.ephemeral ? `${safeName(id.app)}.dev` : safeName(id.app));
  }
}

function safeName(name: string): string {
  const encoded = encodeURIComponent(name).replace(/\./g, "%2E");
  if (encoded.length <= 120) return encoded;
  return `${encoded.slice(0, 100)}~${createHash("sha256").update(name).digest("hex").slice(0, 16)}`;
}
