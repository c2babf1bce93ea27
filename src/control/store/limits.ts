/**
 * Workspace limits as both engines keep them: rates in `workspace_limits`,
 * per-client rates and container caps in `workspace_quotas`, read back
 * together by one query that is valid SQL for SQLite and PostgreSQL alike.
 */
import type { WorkspaceLimit } from "./types.js";

export interface LimitRow {
  workspace: string;
  rate: number | null;
  burst: number | null;
  client_rate: number | null;
  client_burst: number | null;
  containers: number | null;
}

/** Every workspace with limits or quotas, with both (either may be absent). The same query serves PostgreSQL. */
export const LIST_LIMITS = `SELECT w.workspace, l.rate, l.burst, q.client_rate, q.client_burst, q.containers
  FROM (SELECT workspace FROM workspace_limits UNION SELECT workspace FROM workspace_quotas) w
  LEFT JOIN workspace_limits l ON l.workspace = w.workspace
  LEFT JOIN workspace_quotas q ON q.workspace = w.workspace
  ORDER BY w.workspace`;

/** A limits row as a record: a field is present only when set. */
export function toLimit(row: LimitRow): WorkspaceLimit {
  return {
    workspace: row.workspace,
    ...(row.rate !== null && row.burst !== null ? { rate: row.rate, burst: row.burst } : {}),
    ...(row.client_rate !== null && row.client_burst !== null ? { clientRate: row.client_rate, clientBurst: row.client_burst } : {}),
    ...(row.containers !== null ? { containers: row.containers } : {}),
  };
}

