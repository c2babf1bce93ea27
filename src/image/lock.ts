/**
 * A lock between processes on one machine: a file created exclusively that
 * holds the owner's pid. Two servers (or two test files) sharing an image
 * cache build a layer once; the other waits, then finds it built. A lock
 * whose owner died is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { systemCode } from "../errors/codes.js";
import { isAlive } from "../lifetime/processes.js";

const POLL_MS = 200;

/**
 * Runs `work` holding the lock at `path`. While another live process holds
 * it, waits; `done()` is asked after each wait, so a waiter whose result the
 * holder produced returns `undefined` without running `work`.
 */
export async function withFileLock<T>(path: string, done: () => boolean, work: () => Promise<T>): Promise<T | undefined> {
  for (;;) {
    if (done()) return undefined;
    if (tryAcquire(path)) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  try {
    // The holder may have finished between our check and our taking the lock.
    if (done()) return undefined;
    return await work();
  } finally {
    rmSync(path, { force: true });
  }
}

function tryAcquire(path: string): boolean {
  try {
    const fd = openSync(path, "wx", 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (error) {
    if (systemCode(error) !== "EEXIST") throw error;
  }
  let holder: number;
  try {
    holder = Number(readFileSync(path, "utf8"));
  } catch {
    return false;
  }
  // An empty file is a holder between its create and its write: alive.
  if (holder > 0 && !isAlive(holder)) rmSync(path, { force: true });
  return false;
}
