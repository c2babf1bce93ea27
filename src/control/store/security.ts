/**
 * The security state interface: API and proxy tokens (hashes only), sealed
 * secrets and per-workspace rate limits. Kept apart from the app store so
 * that it can stay on disk while `berth serve` keeps its apps in memory, and
 * so a PostgreSQL implementation can come later without touching callers.
 */

import type { TokenKind } from "../../wire/control-api.js";

export type { TokenKind };

export interface TokenRecord {
  /** Public id: `bt_<16 hex>` (API) or `wk-<16 hex>` (proxy key). */
  id: string;
  kind: TokenKind;
  workspace: string;
  /** API tokens only: may act on every workspace and manage tokens of any workspace. */
  admin: boolean;
  /** Free text shown by `berth token list`. */
  name: string;
  /** SHA-256 of the secret part; the secret itself is never stored. */
  secretHash: Buffer;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Milliseconds since the epoch; null while the token is valid. */
  revokedAt: number | null;
}

export interface SecretRecord {
  workspace: string;
  name: string;
  /** Key names, in the order given; the values are only in `sealed`. */
  keys: string[];
  /** AES-256-GCM of the JSON object of values (see crypto.ts). */
  sealed: Buffer;
  createdAt: number;
  updatedAt: number;
}

/**
 * A workspace's own limits; a field left out means the server's default
 * applies (its `--rate-limit`, `--client-rate-limit`, `--max-containers`).
 */
export interface WorkspaceLimit {
  workspace: string;
  /** Requests per second, all clients together; given with `burst`. */
  rate?: number;
  /** Requests at once from a full bucket. */
  burst?: number;
  /** Requests per second from one client address on the workspace's public endpoints; given with `clientBurst`. */
  clientRate?: number;
  /** Requests at once from one client address's full bucket. */
  clientBurst?: number;
  /** Live containers (starting, ready and draining) the workspace may have at once. */
  containers?: number;
}

export interface SecurityStore {
  insertToken(token: TokenRecord): void;
  getToken(id: string): TokenRecord | undefined;
  /** Every token, revoked ones included, oldest first; of one workspace when given. */
  listTokens(workspace?: string): TokenRecord[];
  /** Marks a token revoked; false when no valid token has that id. */
  revokeToken(id: string, now: number): boolean;
  /** Creates or replaces a secret. */
  putSecret(secret: SecretRecord): void;
  getSecret(workspace: string, name: string): SecretRecord | undefined;
  listSecrets(workspace: string): SecretRecord[];
  deleteSecret(workspace: string, name: string): boolean;
  /** Replaces the workspace's limits with `limit` (a record with no limit left removes it). */
  setLimit(limit: WorkspaceLimit): void;
  listLimits(): WorkspaceLimit[];
  close(): void;
}
