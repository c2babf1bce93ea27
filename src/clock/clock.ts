/**
 * Time as the platform's stateful parts see it: a monotonic `now` and
 * one-shot timers. Pools, long calls and the gateway's guards take a
 * `Clock` instead of reading `performance.now()` or arming `setTimeout`
 * themselves, so the composition root gives them the system clock and unit
 * tests a fake one they advance by hand (test/support/fake-clock.ts).
 */

/** Cancels a timer; calling it after the timer fired, or twice, does nothing. */
export type Cancel = () => void;

export interface Clock {
  /** Milliseconds on a monotonic clock: only differences mean anything (not the epoch). */
  now(): number;
  /** Runs `callback` once, `ms` milliseconds from now. A pending timer never keeps the process alive. */
  after(ms: number, callback: () => void): Cancel;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  after(ms, callback) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};
