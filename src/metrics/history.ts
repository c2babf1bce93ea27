/**
 * The last hour of each function, in memory, for the dashboard's charts:
 * requests by status class, latency and queue-wait percentiles, cold starts
 * and the number of containers, in 10 s buckets (360 of them). Recording a
 * request is O(1) and allocates nothing: two counters and two histogram
 * bins of the bucket being filled. Every 10 s `rotate` closes that bucket
 * (its percentiles are read from the bins, which are then cleared) into a
 * ring of typed arrays, so a function costs a fixed ~20 KB however busy it
 * is. A function with no service left and nothing recorded for an hour is
 * forgotten at a rotation.
 */

/** Width of one bucket, in milliseconds. */
export const BUCKET_MS = 10_000;
/** Buckets kept: one hour of 10 s buckets. */
export const BUCKETS = 360;

/**
 * Latency bins: bin i holds durations in [MIN_MS·2^(i/4), MIN_MS·2^((i+1)/4)),
 * so a percentile read from them is within 19% of the true value. 84 bins
 * span 0.25 ms to ~500 s (0.25·2^21), past the longest timeout (300 s).
 */
const MIN_MS = 0.25;
const BINS_PER_DOUBLING = 4;
const BINS = 84;

/** Fields of a closed bucket, one `Float32Array` slot each. */
const FIELD = {
  ok: 0, // 1xx, 2xx and 3xx answers
  clientError: 1, // 4xx (499, the client left, included)
  serverError: 2, // 5xx
  p50: 3, // ms, NaN without requests
  p99: 4,
  queueP50: 5,
  queueP99: 6,
  coldStarts: 7, // containers that became ready
  coldStartMs: 8, // mean ms from start to ready, NaN without any
  startFailures: 9,
  containers: 10, // live containers (starting, ready, draining) when the bucket closed
} as const;
const FIELDS = 11;

export type HistoryField = keyof typeof FIELD;

/** The charts' data: `time` (ms since the epoch, each bucket's start) and one array per field, oldest first. */
export type HistorySeries = { time: number[] } & Record<HistoryField, (number | null)[]>;

/**
 * A container that failed to start, crashed once ready (an out-of-memory
 * kill included), or was found unreachable under a request: when (ms since
 * the epoch) and why.
 */
export interface ContainerFailure {
  time: number;
  kind: "start" | "crash" | "unreachable";
  message: string;
}

/** Failures remembered per function, newest last. */
const FAILURES_KEPT = 5;

export class FunctionHistory {
  private readonly ring = new Float32Array(BUCKETS * FIELDS);
  private readonly starts = new Float64Array(BUCKETS);
  /** Index of the next slot to write in the ring. */
  private head = 0;
  private filled = 0;
  /** The open bucket. */
  private readonly latencyBins = new Uint32Array(BINS);
  private readonly queueBins = new Uint32Array(BINS);
  private ok = 0;
  private clientError = 0;
  private serverError = 0;
  private coldStarts = 0;
  private coldStartTotalMs = 0;
  private startFailureCount = 0;
  /** When the open bucket began, ms since the epoch. */
  private openedAt: number;
  /** Rotations with nothing recorded, in a row: an hour of them and an absent service forget the function. */
  idleRotations = 0;
  /** Requests since the server started. */
  requests = 0;
  /** Of which 5xx. */
  errors = 0;
  /** Ready containers that exited unasked, or were found unreachable, since the server started. */
  crashes = 0;
  readonly failures: ContainerFailure[] = [];

  constructor(openedAt: number) {
    this.openedAt = openedAt;
  }

  request(status: number, totalMs: number, queueMs: number): void {
    if (status >= 500) {
      this.serverError += 1;
      this.errors += 1;
    } else if (status >= 400) this.clientError += 1;
    else this.ok += 1;
    this.requests += 1;
    this.latencyBins[binOf(totalMs)]! += 1;
    this.queueBins[binOf(queueMs)]! += 1;
  }

  containerReady(startMs: number): void {
    this.coldStarts += 1;
    this.coldStartTotalMs += startMs;
  }

  startFailed(time: number, message: string): void {
    this.startFailureCount += 1;
    this.remember({ time, kind: "start", message });
  }

  crashed(time: number, message: string, kind: "crash" | "unreachable" = "crash"): void {
    this.crashes += 1;
    this.remember({ time, kind, message });
  }

  private remember(failure: ContainerFailure): void {
    this.failures.push(failure);
    if (this.failures.length > FAILURES_KEPT) this.failures.shift();
  }

  /** Requests and 5xx answers of the open bucket and the `closed` buckets before it (6: the last 50 to 60 s). */
  recent(closed = 5): { requests: number; errors: number; seconds: number } {
    let requests = this.ok + this.clientError + this.serverError;
    let errors = this.serverError;
    const count = Math.min(closed, this.filled);
    for (let back = 1; back <= count; back += 1) {
      const at = ((this.head - back + BUCKETS) % BUCKETS) * FIELDS;
      requests += this.ring[at + FIELD.ok]! + this.ring[at + FIELD.clientError]! + this.ring[at + FIELD.serverError]!;
      errors += this.ring[at + FIELD.serverError]!;
    }
    return { requests, errors, seconds: (count * BUCKET_MS) / 1000 };
  }

  /** Closes the open bucket with `containers` live now, and opens the next at `now` (ms since the epoch). */
  rotate(now: number, containers: number): void {
    const at = this.head * FIELDS;
    const total = this.ok + this.clientError + this.serverError;
    this.ring[at + FIELD.ok] = this.ok;
    this.ring[at + FIELD.clientError] = this.clientError;
    this.ring[at + FIELD.serverError] = this.serverError;
    this.ring[at + FIELD.p50] = percentile(this.latencyBins, total, 0.5);
    this.ring[at + FIELD.p99] = percentile(this.latencyBins, total, 0.99);
    this.ring[at + FIELD.queueP50] = percentile(this.queueBins, total, 0.5);
    this.ring[at + FIELD.queueP99] = percentile(this.queueBins, total, 0.99);
    this.ring[at + FIELD.coldStarts] = this.coldStarts;
    this.ring[at + FIELD.coldStartMs] = this.coldStarts > 0 ? this.coldStartTotalMs / this.coldStarts : Number.NaN;
    this.ring[at + FIELD.startFailures] = this.startFailureCount;
    this.ring[at + FIELD.containers] = containers;
    this.starts[this.head] = this.openedAt;
    this.head = (this.head + 1) % BUCKETS;
    this.filled = Math.min(this.filled + 1, BUCKETS);
    const active = total + this.coldStarts + this.startFailureCount + containers > 0;
    this.idleRotations = active ? 0 : this.idleRotations + 1;
    this.ok = this.clientError = this.serverError = 0;
    this.coldStarts = this.coldStartTotalMs = this.startFailureCount = 0;
    this.latencyBins.fill(0);
    this.queueBins.fill(0);
    this.openedAt = now;
  }

  /** Closed buckets that began after `after` (ms since the epoch), oldest first; request counts as rates per second. */
  series(after = Number.NEGATIVE_INFINITY): HistorySeries {
    const out: HistorySeries = { time: [], ...emptyFields() };
    for (let i = this.filled; i >= 1; i -= 1) {
      const slot = (this.head - i + BUCKETS) % BUCKETS;
      const start = this.starts[slot]!;
      if (start <= after) continue;
      out.time.push(start);
      const at = slot * FIELDS;
      for (const [name, index] of FIELD_ENTRIES) {
        const value = this.ring[at + index]!;
        const perSecond = index <= FIELD.serverError;
        out[name].push(Number.isNaN(value) ? null : perSecond ? value / (BUCKET_MS / 1000) : round(value));
      }
    }
    return out;
  }
}

const FIELD_ENTRIES = Object.entries(FIELD) as [HistoryField, number][];

function emptyFields(): Record<HistoryField, (number | null)[]> {
  return Object.fromEntries(FIELD_ENTRIES.map(([name]) => [name, []])) as unknown as Record<HistoryField, (number | null)[]>;
}

/** The bin of a duration: 4·log2(ms / 0.25), clamped to the bins there are. */
export function binOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const bin = Math.floor(Math.log2(ms / MIN_MS) * BINS_PER_DOUBLING);
  return bin < BINS ? bin : BINS - 1;
}

/** The upper edge of the bin holding the `p` quantile of `total` samples (nearest rank), NaN without samples. */
export function percentile(bins: Uint32Array, total: number, p: number): number {
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (let bin = 0; bin < BINS; bin += 1) {
    seen += bins[bin]!;
    if (seen >= rank) return MIN_MS * 2 ** ((bin + 1) / BINS_PER_DOUBLING);
  }
  return MIN_MS * 2 ** (BINS / BINS_PER_DOUBLING);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Every function's history, by a key the owner chooses (metrics.ts: workspace, app, dev, function). */
export class History {
  private readonly functions = new Map<string, FunctionHistory>();

  constructor(private readonly wallNow: () => number = Date.now) {}

  /** The history of `key`, created on first use. */
  of(key: string): FunctionHistory {
    let history = this.functions.get(key);
    if (!history) this.functions.set(key, (history = new FunctionHistory(this.wallNow())));
    return history;
  }

  get(key: string): FunctionHistory | undefined {
    return this.functions.get(key);
  }

  /**
   * Closes every function's bucket. `containers` gives each key's live
   * containers now; keys it knows are kept, and the others are forgotten
   * once they have recorded nothing for a whole hour.
   */
  rotate(containers: Map<string, number>): void {
    const now = this.wallNow();
    for (const key of containers.keys()) this.of(key);
    for (const [key, history] of this.functions) {
      const live = containers.get(key);
      history.rotate(now, live ?? 0);
      if (live === undefined && history.idleRotations >= BUCKETS) this.functions.delete(key);
    }
  }

  get size(): number {
    return this.functions.size;
  }
}
