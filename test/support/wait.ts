/**
 * Test support for lifecycle tests: bounded polling, log and stats readers
 * over the real control API. Every wait has a deadline, so a broken platform
 * fails the test instead of hanging it.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { FunctionStats, LogEntry } from "../../src/wire/control-api.js";
import type { TestPlatform } from "./platform.js";

/** Whether a process is still running (signal 0 only checks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Processes whose command line mentions one of `marks` (a server's home,
 * its sandboxes' directory): a container's host pids, whichever runtime
 * started it (inside a sandbox, `process.pid` is the pid in its own
 * namespace, not the host's).
 */
export function processesMentioning(...marks: string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (marks.some((mark) => cmdline.includes(mark))) pids.push(Number(entry));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return pids;
}

/** Host processes whose command line is exactly `argv`, wherever they run (a sandbox's included). */
export function processesRunning(...argv: string[]): number[] {
  const wanted = `${argv.join("\0")}\0`;
  return readdirSync("/proc").flatMap((pid) => {
    if (!/^\d+$/.test(pid)) return [];
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8") === wanted ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every `everyMs` until it returns a truthy value; throws `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** `dev`: the app `berth serve` runs (an ephemeral deploy), not the deployed one. */
export async function stats(platform: TestPlatform, app: string, dev = false): Promise<FunctionStats[]> {
  return (await platform.client.stats(app, dev)).functions;
}

/** Containers of an app's current version by state, summed over its pools. */
export async function containers(platform: TestPlatform, app: string, fn: string) {
  const total = { starting: 0, ready: 0, draining: 0, inFlight: 0, queued: 0, coldStarts: 0, startFailures: 0 };
  for (const entry of await stats(platform, app)) {
    if (entry.function !== fn || entry.draining) continue;
    for (const pool of entry.pools) for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += pool[key];
  }
  return total;
}

export async function logs(platform: TestPlatform, app: string): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  await platform.client.logs(app, {}, (entry) => entries.push(entry));
  return entries;
}

/** Waits until a log line of the app matches `pattern`; returns it. */
export function waitForLog(platform: TestPlatform, app: string, pattern: RegExp, timeoutMs = 10_000): Promise<LogEntry> {
  return waitFor(
    `a log line matching ${pattern}`,
    async () => (await logs(platform, app)).find((entry) => pattern.test(entry.line)),
    timeoutMs,
    100,
  );
}
