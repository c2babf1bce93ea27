/**
 * `berth app stats` as a table: one row per function version and parameter
 * set, with containers by state, in-flight and queued inputs, cold starts,
 * start failures and recent latency; start-up trouble is spelled out under
 * the table. Pure: it formats what the control API returned.
 */
import type { FunctionStats, PoolStatsView } from "../wire/control-api.js";

/** What the table needs of each function's stats (the control API's `FunctionStats`). */
export type StatsFunction = Pick<FunctionStats, "function" | "draining" | "pools" | "latencyMs">;

const HEADERS = ["FUNCTION", "STARTING", "READY", "DRAINING", "IN-FLIGHT", "QUEUED", "COLD STARTS", "FAILED STARTS", "P50", "P99"];

export function formatStatsTable(functions: StatsFunction[]): string {
  if (functions.length === 0) return "No running functions.\n";
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const fn of functions) {
    const pools = fn.pools.length > 0 ? fn.pools : [emptyPool()];
    for (const pool of pools) {
      let name = fn.function;
      if (pool.params) name += ` [${pool.params}]`;
      if (fn.draining) name += " (old version, draining)";
      rows.push([
        name,
        String(pool.starting),
        String(pool.ready),
        String(pool.draining),
        String(pool.inFlight),
        String(pool.queued),
        String(pool.coldStarts),
        String(pool.startFailures),
        fn.draining ? "" : formatMs(fn.latencyMs.p50),
        fn.draining ? "" : formatMs(fn.latencyMs.p99),
      ]);
      if (pool.lastError) {
        const backoff = pool.backoffMs > 0 ? ` (next start attempt in ${Math.ceil(pool.backoffMs / 1000)} s)` : "";
        notes.push(`${name}: ${pool.lastError}${backoff}`);
      }
    }
  }
  const widths = HEADERS.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [line(HEADERS), ...rows.map(line)];
  if (notes.length > 0) out.push("", "Last errors:", ...notes.map((note) => `  ${note}`));
  return `${out.join("\n")}\n`;
}

function formatMs(ms: number | null): string {
  if (ms === null) return "-";
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

function emptyPool(): PoolStatsView {
  return { params: "", starting: 0, ready: 0, draining: 0, inFlight: 0, queued: 0, coldStarts: 0, startFailures: 0, backoffMs: 0 };
}
