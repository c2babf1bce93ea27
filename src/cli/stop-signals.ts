/**
 * How `berth server` and `berth serve` stop on a signal: the first SIGTERM
 * or SIGINT (Ctrl-C) stops gracefully, a second one stops at once.
 */

/** `graceful` runs on the first signal, `now` on any later one (the graceful stop then ends too, as everything it waits for is cut); the process exits when either is done. */
export function onStopSignals(stop: { graceful(): Promise<void>; now(): Promise<void> }): void {
  let signals = 0;
  const onSignal = () => {
    signals += 1;
    const step = signals === 1 ? stop.graceful() : stop.now();
    void step.then(() => process.exit(0));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
