/**
 * Access lines: one per proxied request, in the app's log beside its
 * containers' output. The gateway hands over the request's raw values as it
 * ends (one object, no formatting, no clock read beyond the one it already
 * made); they are turned into log entries in batches, off the request path,
 * every `FLUSH_MS` or every `FLUSH_RECORDS` requests, and each batch is
 * stored at once (the hub does not hold it again). The batches are small on
 * purpose: at full load a record held longer outlives a young-generation
 * collection or two, and is copied by each.
 *
 * The query string's values are left out (`/items?page=…&token=…`): they
 * often carry credentials, and the log is readable by everyone who may read
 * the app's output. Paths are kept whole up to `MAX_PATH` characters.
 */
import type { Cancel, Clock } from "../clock/clock.js";
import type { AccessInfo, LogEntry } from "../wire/control-api.js";
import type { AppLogId } from "./store.js";

const FLUSH_MS = 10;
const FLUSH_RECORDS = 256;
const MAX_PATH = 1024;

/** What the gateway reports of one request, as it has it. */
export interface AccessRecord {
  identity: { workspace: string; appName: string; functionName: string; ephemeral: boolean };
  requestId: string;
  method: string;
  /** The request target as received. */
  url: string;
  status: number;
  /** Milliseconds from arrival to the end of the response. */
  durationMs: number;
  /** Milliseconds of the wait spent on the serving container's start (0: it was running). */
  coldStartMs: number;
  /** The container that served it; empty when none did. */
  container: string;
  /** When the response ended, on `clock`. */
  endedAt: number;
}

export interface AccessLogOptions {
  /** Where the entries go (the log hub), a run of one app's at a time, in order; they are not used after. */
  write: (id: AppLogId, entries: LogEntry[]) => void;
  /** The gateway's clock: `endedAt` is on it, and it runs the flush timer. */
  clock: Clock;
  /** Wall-clock milliseconds since the epoch. */
  now: () => number;
}

export class AccessLog {
  private records: AccessRecord[] = [];
  private cancelFlush: Cancel | undefined;

  constructor(private readonly options: AccessLogOptions) {}

  record(record: AccessRecord): void {
    this.records.push(record);
    if (this.records.length === FLUSH_RECORDS) {
      // A full batch goes out as soon as the event loop comes round, not in the request that filled it.
      this.cancelFlush?.();
      this.cancelFlush = this.options.clock.after(0, () => this.flush());
    } else this.cancelFlush ??= this.options.clock.after(FLUSH_MS, () => this.flush());
  }

  flush(): void {
    this.cancelFlush?.();
    this.cancelFlush = undefined;
    const records = this.records;
    this.records = [];
    // Wall time of each line from its monotonic end: one wall-clock read per batch.
    const offset = this.options.now() - this.options.clock.now();
    let run: LogEntry[] = [];
    let runOf: AccessRecord["identity"] | undefined;
    for (const record of records) {
      const { identity } = record;
      const access: AccessInfo = {
        method: record.method,
        path: accessPath(record.url),
        status: record.status,
        durationMs: round(record.durationMs),
        coldStartMs: round(record.coldStartMs),
      };
      const entry: LogEntry = {
        time: Math.round(record.endedAt + offset),
        app: identity.appName,
        function: identity.functionName,
        container: record.container,
        stream: "access",
        line: accessLine(access),
        requestId: record.requestId,
        access,
      };
      if (runOf !== undefined && !sameApp(runOf, identity)) {
        this.options.write(appLogOf(runOf), run);
        run = [];
      }
      runOf = identity;
      run.push(entry);
    }
    if (runOf !== undefined) this.options.write(appLogOf(runOf), run);
  }
}

function sameApp(a: AccessRecord["identity"], b: AccessRecord["identity"]): boolean {
  return a === b || (a.workspace === b.workspace && a.appName === b.appName && a.ephemeral === b.ephemeral);
}

function appLogOf(identity: AccessRecord["identity"]): AppLogId {
  return { workspace: identity.workspace, app: identity.appName, ephemeral: identity.ephemeral };
}

/** `GET /items?page=… 200 12.3 ms (cold start 48 ms)` */
export function accessLine(access: AccessInfo): string {
  const cold = access.coldStartMs > 0 ? ` (cold start ${access.coldStartMs} ms)` : "";
  return `${access.method} ${access.path} ${access.status} ${access.durationMs} ms${cold}`;
}

/** The path with the query's values left out: `/a?x=1&token=s3cret&flag` → `/a?x=…&token=…&…`. */
export function accessPath(url: string): string {
  const query = url.indexOf("?");
  let path = url;
  if (query !== -1) {
    const names = url
      .slice(query + 1)
      .split("&")
      .filter((pair) => pair.length > 0)
      .map((pair) => {
        const equals = pair.indexOf("=");
        // A bare key may be a value in disguise (`?s3cret`): only its presence is kept.
        return equals === -1 ? "…" : `${pair.slice(0, equals)}=…`;
      });
    path = names.length > 0 ? `${url.slice(0, query)}?${names.join("&")}` : url.slice(0, query);
  }
  return path.length > MAX_PATH ? `${path.slice(0, MAX_PATH)}…` : path;
}

/** Milliseconds to a tenth. */
function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
