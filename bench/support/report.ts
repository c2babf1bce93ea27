/**
 * What a benchmark reports besides its figures: requests that failed,
 * counted by status (or by kind for socket errors), and ratios that are
 * printed only when nothing failed. A ratio over a side that answered 429s
 * or 502s fast would measure the failure, not the path (issue 9: one run
 * printed 0.55× with 136,489 errors out of 138k).
 */
import { readFileSync } from "node:fs";

/** Failed requests by HTTP status ("502") or socket error kind ("socket read", "timeout"). */
export type Failures = Record<string, number>;

export function addFailures(into: Failures, from: Failures): Failures {
  for (const [kind, count] of Object.entries(from)) into[kind] = (into[kind] ?? 0) + count;
  return into;
}

export function totalFailures(failures: Failures): number {
  return Object.values(failures).reduce((sum, count) => sum + count, 0);
}

/** "0", or "429×1200, socket read×3". */
export function failureText(failures: Failures): string {
  const entries = Object.entries(failures).filter(([, count]) => count > 0);
  return entries.length === 0 ? "0" : entries.map(([kind, count]) => `${kind}×${count}`).join(", ");
}

/** `value / base` as "0.42×", or "withheld" when either side had failed requests. */
export function ratioText(value: number, base: number, ...failures: Failures[]): string {
  if (failures.some((f) => totalFailures(f) > 0)) return "withheld";
  return `${(value / base).toFixed(2)}×`;
}

/** The note under a table whose ratios were withheld, or "". */
export function withheldNote(rows: [string, Failures][]): string {
  const failed = rows.filter(([, failures]) => totalFailures(failures) > 0);
  if (failed.length === 0) return "";
  return `Ratios withheld: requests failed (${failed.map(([name, failures]) => `${name}: ${failureText(failures)}`).join("; ")}).`;
}

/** The 1-, 5- and 15-minute load averages, for the table titles: figures on a shared machine need them. */
export function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "n/a";
  }
}
