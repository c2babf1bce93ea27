/**
 * `berth app stats` as a table: one row per function version and parameter
 * set, with containers by state, in-flight and queued inputs, cold starts,
 * start failures and recent latency; start-up trouble is spelled out under
 * the table. Pure: it formats what the control API returned.
 */
import type { FunctionStats, NodeList, PoolStatsView } from "../wire/control-api.js";

/** What the table needs of each function's stats (the control API's `FunctionStats`). */
export type StatsFunction = Pick<FunctionStats, "function" | "draining" | "pools" | "latencyMs"> & { node?: string };

const HEADERS = ["FUNCTION", "STARTING", "READY", "DRAINING", "IN-FLIGHT", "QUEUED", "COLD STARTS", "FAILED STARTS", "P50", "P99"];

/** Nodes that did not answer are named under the table. With more than one node, a NODE column says whose pools a row shows. */
export function formatStatsTable(functions: StatsFunction[], unreachable: { node: string; error: string }[] = []): string {
  const missing = unreachable.map(({ node, error }) => `Node ${node} did not answer (${error}): its containers are not counted.`);
  if (functions.length === 0) return ["No running functions.", ...missing, ""].join("\n");
  const byNode = new Set(functions.map((fn) => fn.node)).size > 1;
  const headers = byNode ? ["NODE", ...HEADERS] : HEADERS;
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const fn of functions) {
    const pools = fn.pools.length > 0 ? fn.pools : [emptyPool()];
    for (const pool of pools) {
      let name = fn.function;
      if (pool.params) name += ` [${pool.params}]`;
      if (fn.draining) name += " (old version, draining)";
      rows.push([
        ...(byNode ? [fn.node ?? ""] : []),
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
        notes.push(`${byNode ? `${fn.node}: ` : ""}${name}: ${pool.lastError}${backoff}`);
      }
    }
  }
  const textColumns = byNode ? 2 : 1;
  const out = table(headers, rows, textColumns);
  if (notes.length > 0) out.push("", "Last errors:", ...notes.map((note) => `  ${note}`));
  if (missing.length > 0) out.push("", ...missing);
  return `${out.join("\n")}\n`;
}

/** `berth node list`: one row per node, live ones first. */
export function formatNodeTable(list: NodeList): string {
  if (list.nodes.length === 0) return `No nodes registered (${list.engine}).\n`;
  const rows = [...list.nodes]
    .sort((a, b) => Number(b.live) - Number(a.live) || a.id.localeCompare(b.id))
    .map((node) => [
      `${node.id}${node.self ? " *" : ""}`,
      node.url,
      node.live ? "live" : "down",
      node.self ? "now" : formatAge(node.lastSeenMs),
      String(node.load.apps),
      String(node.load.containers),
      String(node.load.inFlight),
      String(node.load.queued),
      formatAge(Date.now() - node.startedAt),
    ]);
  const out = table(["NODE", "URL", "STATE", "LAST SEEN", "APPS", "CONTAINERS", "IN-FLIGHT", "QUEUED", "UP"], rows, 3);
  out.push("", `* the node that answered; state in ${list.engine}`);
  return `${out.join("\n")}\n`;
}

/** Lines of a table: the first `textColumns` left-aligned, numbers right-aligned. */
function table(headers: string[], rows: string[][], textColumns: number): string[] {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i < textColumns ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** A duration in the largest unit that keeps it readable: 420 ms, 12 s, 5 min, 3 h. */
function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 120 ? `${minutes} min` : `${Math.round(minutes / 60)} h`;
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
