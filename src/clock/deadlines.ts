/**
 * Many deadlines of one delay on a single timer of the injected clock. The
 * gateway sets two on every proxied request (the long-call deferral, the
 * function's timeout) and nearly always cancels both: a `setTimeout` each,
 * with its closures and its cancel closure, was a measurable part of a
 * request's CPU. All deadlines of a queue share its delay and the clock only
 * moves forward, so they come due in the order they were added: the queue is
 * a FIFO array, a cancelled deadline is only marked (and swept out in bulk
 * when most of the array is cancelled), and one timer is armed for the
 * oldest live deadline. Each deadline fires exactly at its due time, on the
 * clock the queue was given (so unit tests with a fake clock see the same
 * times as with a timer each).
 */
import type { Cancel, Clock } from "./clock.js";

/** One deadline of a queue: `cancel` it once it is no longer needed (again, or after it fired, does nothing). */
export interface Deadline {
  cancel(): void;
}

/** Cancelled deadlines tolerated in the array before it is swept, beyond twice the live ones. */
const SWEEP_SLACK = 64;

class Entry<T> implements Deadline {
  constructor(
    readonly due: number,
    /** What `expire` gets; undefined once fired or cancelled. */
    public subject: T | undefined,
    private readonly queue: DeadlineQueue<T>,
  ) {}

  cancel(): void {
    if (this.subject === undefined) return;
    this.subject = undefined;
    this.queue.cancelled();
  }
}

export class DeadlineQueue<T> {
  private entries: Entry<T>[] = [];
  /** Entries before it have fired or were cancelled. */
  private head = 0;
  private live = 0;
  private cancelTimer: Cancel | undefined;

  /**
   * `delayMs`: milliseconds from `add` to the deadline. `expire` is called
   * with the subject of each deadline that comes due without being cancelled.
   */
  constructor(
    private readonly clock: Clock,
    readonly delayMs: number,
    private readonly expire: (subject: T) => void,
  ) {}

  /** A deadline `delayMs` from now for `subject`. */
  add(subject: T): Deadline {
    const entry = new Entry(this.clock.now() + this.delayMs, subject, this);
    this.entries.push(entry);
    this.live += 1;
    // An armed timer is due no later than this entry (the entries are in due order): it re-arms for what is left when it fires.
    if (this.cancelTimer === undefined) this.arm(entry.due);
    return entry;
  }

  /** Deadlines added and neither fired nor cancelled. */
  get size(): number {
    return this.live;
  }

  /** @internal An entry was cancelled. */
  cancelled(): void {
    this.live -= 1;
    if (this.live === 0) {
      // Nothing left to wait for: no timer stays behind, and the array is dropped whole.
      this.cancelTimer?.();
      this.cancelTimer = undefined;
      this.entries = [];
      this.head = 0;
    } else if (this.entries.length - this.head > 2 * this.live + SWEEP_SLACK) {
      this.entries = this.entries.filter((entry, index) => index >= this.head && entry.subject !== undefined);
      this.head = 0;
    }
  }

  private arm(due: number): void {
    this.cancelTimer = this.clock.after(due - this.clock.now(), () => this.fire());
  }

  private fire(): void {
    this.cancelTimer = undefined;
    const now = this.clock.now();
    // `this.entries` is read afresh each time: `expire` may add deadlines, or cancel some and so sweep the array.
    for (let entry = this.entries[this.head]; entry !== undefined && entry.due <= now; entry = this.entries[this.head]) {
      this.head += 1;
      const subject = entry.subject;
      if (subject === undefined) continue;
      entry.subject = undefined;
      this.live -= 1;
      this.expire(subject);
    }
    while (this.head < this.entries.length && this.entries[this.head]!.subject === undefined) this.head += 1;
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.cancelTimer === undefined) this.arm(this.entries[this.head]!.due);
  }
}
