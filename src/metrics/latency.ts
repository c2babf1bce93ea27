/**
 * The recent-latency window behind `berth app stats`: the last N request
 * durations of one function in a ring, with exact percentiles computed when
 * asked (stats are read rarely, requests are recorded often, so the write
 * is one array store).
 */
import type { LatencySummary } from "../wire/control-api.js";

export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private filled = 0;

  /** `size`: samples kept (default 1024: p99 then rests on the slowest ~10). */
  constructor(size = 1024) {
    this.samples = new Float64Array(size);
  }

  add(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.filled < this.samples.length) this.filled += 1;
  }

  /**
   * Nearest-rank percentiles: p99 of 100 samples is the 99th smallest, of 10
   * samples the 10th (the largest) — never an interpolated value no request had.
   */
  summary(): LatencySummary {
    if (this.filled === 0) return { count: 0, p50: null, p99: null };
    const sorted = this.samples.slice(0, this.filled).sort();
    const rank = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
    return { count: this.filled, p50: rank(0.5), p99: rank(0.99) };
  }
}
