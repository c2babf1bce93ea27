/**
 * A clock for unit tests: time stands still until the test advances it, and
 * then the timers that came due run in order, each seeing `now()` at its
 * own due time. Nothing here touches real time.
 */
import type { Cancel, Clock } from "../../src/clock/clock.js";

interface Timer {
  at: number;
  /** Arming order, so timers due at the same time run in the order they were set. */
  seq: number;
  callback: () => void;
}

export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly timers = new Set<Timer>();

  constructor(start = 1_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  after(ms: number, callback: () => void): Cancel {
    const timer: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, callback };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }

  /** Moves time forward by `ms`, running every timer that comes due on the way (timers they arm included). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (let next = this.nextDue(end); next; next = this.nextDue(end)) {
      this.timers.delete(next);
      this.time = next.at;
      next.callback();
    }
    this.time = end;
  }

  /** Timers armed and not yet run or cancelled. */
  get pending(): number {
    return this.timers.size;
  }

  private nextDue(end: number): Timer | undefined {
    let first: Timer | undefined;
    for (const timer of this.timers) {
      if (timer.at > end) continue;
      if (!first || timer.at < first.at || (timer.at === first.at && timer.seq < first.seq)) first = timer;
    }
    return first;
  }
}
