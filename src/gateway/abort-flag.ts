/**
 * A one-shot abort flag with listeners: the part of `AbortSignal` that the
 * pool (`acquire`) and the upstream client (`forward`) use. Every proxied
 * request has one, and an `AbortController` with its EventTarget plumbing
 * cost the gateway ~2-3% of its CPU per request in a profile of the hello
 * benchmark (createAbortSignal 1.9%, add/removeEventListener 1.2%, under
 * `node --cpu-prof` while the load of `bench/cpu.ts` (now part of `bench/throughput.ts`) ran); in isolation an
 * AbortController with one listener costs ~3 µs.
 */
export class AbortFlag {
  aborted = false;
  /** Most requests register one listener (the exchange's) and never fire it. */
  private listeners: (() => void)[] | undefined;

  addEventListener(_type: "abort", listener: () => void): void {
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const listeners = this.listeners;
    if (!listeners) return;
    const index = listeners.indexOf(listener);
    if (index >= 0) listeners.splice(index, 1);
  }

  /** Fires each listener once; later calls do nothing. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const listener of listeners) listener();
  }
}
