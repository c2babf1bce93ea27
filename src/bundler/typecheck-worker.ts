/**
 * A worker thread that type-checks one app on request. TypeScript's check
 * is synchronous and takes seconds, so it runs here, beside the bundling
 * and the embedded platform's requests instead of in front of them; the
 * worker keeps its last program, so a reload re-checks only what changed.
 * Messages are handled one at a time, in order.
 */
import { parentPort, workerData } from "node:worker_threads";
import { TypeChecker } from "./typecheck.js";
import type { CheckRequest, CheckResult } from "./background-check.js";

const port = parentPort;
if (!port) throw new Error("typecheck-worker runs as a worker thread");
const checker = new TypeChecker(String(workerData));
port.on("message", (request: CheckRequest) => {
  const started = performance.now();
  let result: CheckResult;
  try {
    result = { id: request.id, errors: checker.check(), ms: performance.now() - started };
  } catch (error) {
    result = { id: request.id, errors: `the type checker failed: ${error instanceof Error ? error.message : String(error)}`, ms: performance.now() - started };
  }
  port.postMessage(result);
});
