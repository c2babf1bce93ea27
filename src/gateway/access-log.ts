/**
 * What the gateway tells the app's log of each proxied request (and each
 * WebSocket connection) as it ends: the access line's raw values. The
 * composition root passes the log's writer (logs/access.ts).
 */
import type { ServiceIdentity } from "../router/service.js";

/**
 * Receives each proxied request's values as it ends. Called on the request
 * path, so it must only keep them: formatting and storing come later, in
 * batches (logs/access.ts).
 */
export interface AccessLog {
  record(record: {
    identity: ServiceIdentity;
    requestId: string;
    method: string;
    url: string;
    status: number;
    durationMs: number;
    coldStartMs: number;
    container: string;
    /** When the response ended, on the gateway's clock. */
    endedAt: number;
  }): void;
}
