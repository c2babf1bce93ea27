/**
 * Type checks off the main thread (typecheck-worker.ts): `serve` prints its
 * URLs as soon as the bundle is built and reports type errors when the
 * check is done, the way `vite` and `wrangler dev` do; `deploy` and
 * `serve --typecheck=block` wait for it, but bundle at the same time. The
 * worker starts loading TypeScript (about a second) as soon as this is
 * created, before the first check is asked for.
 */
import { Worker } from "node:worker_threads";
import { TYPECHECK_WORKER } from "../paths.js";

/** `off`: no check; `warn`: serve anyway and report errors when the check ends; `block`: refuse to ship code with type errors. */
export type TypecheckMode = "off" | "warn" | "block";

/** The worker's protocol: a request to check the app's files as they are now, and its answer. */
export interface CheckRequest {
  id: number;
}

export interface CheckResult {
  id: number;
  /** Formatted diagnostics; empty when the app type-checks. */
  errors: string;
  /** Milliseconds the check took in the worker. */
  ms: number;
}

export interface TypeReport {
  /** Formatted diagnostics (file, line, column, message); empty when the app type-checks. */
  errors: string;
  /** Milliseconds from asking to the answer (waiting for an earlier check included). */
  ms: number;
}

export class BackgroundTypeCheck {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (report: TypeReport) => void; reject: (error: Error) => void; asked: number }>();
  private failure: Error | undefined;

  constructor(entry: string) {
    this.worker = new Worker(TYPECHECK_WORKER, { workerData: entry });
    // An idle checker does not keep the CLI running; a check someone waits for does.
    this.worker.unref();
    this.worker.on("message", (result: CheckResult) => {
      const waiter = this.waiting.get(result.id);
      if (!waiter) return;
      this.waiting.delete(result.id);
      if (this.waiting.size === 0) this.worker.unref();
      waiter.resolve({ errors: result.errors, ms: performance.now() - waiter.asked });
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`the type checker stopped (exit code ${code})`)));
  }

  /** Checks the app as its files are now. */
  check(): Promise<TypeReport> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, asked: performance.now() });
      this.worker.ref();
      const request: CheckRequest = { id };
      this.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
