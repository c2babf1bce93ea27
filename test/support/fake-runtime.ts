/**
 * Test support for the pool and capacity unit tests: a runtime driver whose
 * containers start, fail, crash and stop when the test says, and helpers to
 * watch promises without waiting on them.
 */
import assert from "node:assert/strict";
import type { Container, ContainerExit, ContainerSpec, ProbeResult, RuntimeDriver } from "../../src/runtime/types.js";

/** What the gateway would attach to a ready container: here, a record of it. */
export interface FakeUpstream {
  containerId: string;
  closed: boolean;
}

/** A container the test controls: `exit` ends it as a crash would; `stop` records the request and ends it; each probe waits for `answer`. */
export class FakeContainer implements Container {
  readonly endpoint: { socketPath: string };
  readonly exited: Promise<ContainerExit>;
  stoppedWithGraceMs: number | undefined;
  /** Probes asked for and not yet answered, with the in-flight count and grace they carried. */
  readonly probes: { inFlight: number; graceMs: number; answer(result: ProbeResult): void }[] = [];
  private end!: (exit: ContainerExit) => void;

  constructor(
    readonly id: string,
    private readonly slowStop = false,
  ) {
    this.endpoint = { socketPath: `/fake/${id}.sock` };
    this.exited = new Promise((resolve) => (this.end = resolve));
  }

  exit(code: number): void {
    this.end({ code, signal: null });
  }

  stop(graceMs: number): Promise<ContainerExit> {
    this.stoppedWithGraceMs = graceMs;
    // A container that takes its time to exit (its `exit` hook runs) ends when the test calls `exit`.
    if (!this.slowStop) this.end({ code: 0, signal: null });
    return this.exited;
  }

  probe(inFlight: number, graceMs: number): Promise<ProbeResult> {
    return new Promise((answer) => this.probes.push({ inFlight, graceMs, answer }));
  }
}

/** A start the driver was asked for, which the test completes with `ready` or `fail`. */
export interface PendingStart {
  spec: ContainerSpec;
  ready(): FakeContainer;
  fail(error: unknown): void;
}

export class FakeDriver implements RuntimeDriver {
  readonly name = "fake";
  readonly starts: PendingStart[] = [];
  /** Containers started from now on exit only when the test says, even when asked to stop. */
  slowStops = false;

  start(spec: ContainerSpec): Promise<Container> {
    return new Promise((resolve, reject) => {
      this.starts.push({
        spec,
        ready: () => {
          const container = new FakeContainer(spec.id, this.slowStops);
          resolve(container);
          return container;
        },
        fail: reject,
      });
    });
  }

  async close(): Promise<void> {}

  /** The `n`th start (0-based), which must have been asked for. */
  nth(n: number): PendingStart {
    const start = this.starts[n];
    assert.ok(start, `the driver was asked for a start number ${n + 1} (it was asked for ${this.starts.length})`);
    return start;
  }
}

/** Lets the promise callbacks the pool chained on the driver run. */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A promise's outcome so far, without waiting for it. */
export function watch<T>(promise: Promise<T>): { settled: () => "pending" | "resolved" | "rejected"; value: () => T; error: () => unknown } {
  let state: "pending" | "resolved" | "rejected" = "pending";
  let value: T | undefined;
  let error: unknown;
  promise.then(
    (v) => ((state = "resolved"), (value = v)),
    (e: unknown) => ((state = "rejected"), (error = e)),
  );
  return {
    settled: () => state,
    value: () => {
      assert.equal(state, "resolved", `expected a lease, the acquire is ${state}${state === "rejected" ? `: ${String(error)}` : ""}`);
      return value as T;
    },
    error: () => error,
  };
}
