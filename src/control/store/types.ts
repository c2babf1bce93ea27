/**
 * The storage interface: everything the platform must remember across
 * restarts and share between nodes. Two engines implement it, SQLite
 * (embedded, one machine: sqlite.ts) and PostgreSQL (any number of nodes:
 * postgres.ts), and one test suite runs against both
 * (test/support/store-suite.ts).
 *
 * Every method is async, because PostgreSQL is; nothing on the gateway's
 * hot path calls them. Routes, valid tokens and rate limits live in memory
 * and the store keeps them fresh through `watch`: every write that other
 * nodes must see emits a `Change` (PostgreSQL: NOTIFY; SQLite: a change
 * table that is polled), and the nodes read the changed record again.
 *
 * The store is split in facets (apps, security, nodes, sessions, blobs),
 * so that `berth serve` can keep its apps (and its dashboard sessions) in
 * memory while tokens and secrets stay on disk (open.ts composes them).
 */
import type { Clock } from "../../clock/clock.js";
import type { NodeRecord } from "../../cluster/membership.js";
import type { AppManifest } from "../../sdk/contract.js";
import type { AppState, Deployer, NodeLoad, TokenKind } from "../../wire/control-api.js";

export type { AppState, Deployer, NodeLoad, NodeRecord, TokenKind };

export interface AppRecord {
  id: string;
  workspace: string;
  name: string;
  /** Ephemeral apps (`berth serve`) end with their CLI session and get `-dev` URLs. */
  ephemeral: boolean;
  state: AppState;
  /** Id of the version that serves traffic. */
  currentVersionId: string | null;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
}

export interface VersionRecord {
  id: string;
  appId: string;
  /** 1, 2, 3 ... per app. */
  number: number;
  /** SHA-256 of the bundle in the blob store. */
  bundleHash: string;
  manifest: AppManifest;
  createdAt: number;
  /** Who deployed it; null for versions recorded before this was. */
  deployedBy: Deployer | null;
  /** The client's id for the deploy that made this version, if it sent one. */
  deployId: string | null;
}

export interface DeploymentInput {
  workspace: string;
  name: string;
  ephemeral: boolean;
  bundleHash: string;
  manifest: AppManifest;
  /** Milliseconds since the epoch. */
  now: number;
  /** The caller, recorded with the version (`berth app versions`). */
  deployedBy: Deployer;
  /** The client's id for this deploy: a retry with the same id finds this version (`findDeployment`) instead of making another. */
  deployId?: string;
}

export interface AppStore {
  /** Creates the app if needed and records a new version that becomes current, atomically. */
  recordDeployment(input: DeploymentInput): Promise<{ app: AppRecord; version: VersionRecord }>;
  /** The version a deploy id made in a workspace, with its app. */
  findDeployment(workspace: string, deployId: string): Promise<{ app: AppRecord; version: VersionRecord } | undefined>;
  /**
   * Blobs still needed: the bundles, and the archives of `addLocalFile/Dir`
   * (copy steps), of every app's current version and its `keep` newest versions.
   */
  blobsInUse(keep: number): Promise<string[]>;
  /** Every blob any version names, with when (epoch ms) the newest version naming it was recorded. */
  blobsNamed(): Promise<Map<string, number>>;
  /** An app is deployed or ephemeral: `serve` of a deployed app's file is a separate app with `-dev` URLs. */
  getApp(workspace: string, name: string, ephemeral?: boolean): Promise<AppRecord | undefined>;
  getAppById(id: string): Promise<AppRecord | undefined>;
  /** Of one workspace when given, else all; ordered by workspace and name. */
  listApps(workspace?: string): Promise<AppRecord[]>;
  getVersion(id: string): Promise<VersionRecord | undefined>;
  /** Oldest first. */
  listVersions(appId: string): Promise<VersionRecord[]>;
  setAppState(appId: string, state: AppState, now: number): Promise<void>;
  /** Removes the app and its versions. */
  deleteApp(appId: string): Promise<void>;
}

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
  insertToken(token: TokenRecord): Promise<void>;
  /**
   * Inserts `token` (an API token) only if no valid API token exists, in one
   * transaction: the bootstrap admin token of a fresh platform, which
   * several nodes starting at once must not each create. True if inserted.
   */
  insertFirstApiToken(token: TokenRecord): Promise<boolean>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  /** Every token, revoked ones included, oldest first; of one workspace when given. */
  listTokens(workspace?: string): Promise<TokenRecord[]>;
  /** Marks a token revoked; false when no valid token has that id. */
  revokeToken(id: string, now: number): Promise<boolean>;
  /** Creates or replaces a secret. */
  putSecret(secret: SecretRecord): Promise<void>;
  getSecret(workspace: string, name: string): Promise<SecretRecord | undefined>;
  listSecrets(workspace: string): Promise<SecretRecord[]>;
  deleteSecret(workspace: string, name: string): Promise<boolean>;
  /** Replaces the workspace's limits with `limit` (a record with no limit left removes it). */
  setLimit(limit: WorkspaceLimit): Promise<void>;
  listLimits(): Promise<WorkspaceLimit[]>;
  /**
   * The value stored under `key`, storing `value` first if there is none
   * (atomically): how every node agrees on one secrets key (secrets.ts).
   */
  claimSetting(key: string, value: string): Promise<string>;
}

/**
 * A dashboard session as the database holds it (dashboard/sessions.ts
 * makes and reads them): nothing in it lets a reader of the database act
 * as the browser, or learn a credential.
 */
export interface SessionRecord {
  /** SHA-256 of the session id the browser's cookie carries; the id itself is never stored. */
  idHash: Buffer;
  /** AES-256-GCM (the secrets key) of what the session acts with and as. */
  sealed: Buffer;
  /** AES-256-GCM of the one-time message for the session's next page; null when there is none. */
  flash: Buffer | null;
  /** Milliseconds since the epoch (wall clock: nodes share no other). */
  createdAt: number;
  /** Milliseconds since the epoch; written at most about once a minute (sessions.ts), so it may lag. */
  seenAt: number;
}

export interface SessionStore {
  insertSession(session: SessionRecord): Promise<void>;
  getSession(idHash: Buffer): Promise<SessionRecord | undefined>;
  /** Moves the session's `seenAt` forward to `seenAt` (never back: nodes' clocks differ a little). */
  touchSession(idHash: Buffer, seenAt: number): Promise<void>;
  setSessionFlash(idHash: Buffer, flash: Buffer | null): Promise<void>;
  /**
   * Clears the session's flash if it is still `flash`; true if this call
   * cleared it. Two pages loaded at once (on two nodes) cannot both take it.
   */
  takeSessionFlash(idHash: Buffer, flash: Buffer): Promise<boolean>;
  deleteSession(idHash: Buffer): Promise<void>;
  /**
   * Deletes the sessions seen before `seenBefore` or created before
   * `createdBefore` (epoch ms), then all but the `keep` most recently seen.
   * Returns how many went.
   */
  pruneSessions(seenBefore: number, createdBefore: number, keep: number): Promise<number>;
}

export interface NodeStore {
  /** Creates or refreshes the node's row, stamped with the store's clock. */
  heartbeat(node: Omit<NodeRecord, "ageMs">): Promise<void>;
  listNodes(): Promise<NodeRecord[]>;
  /** A node leaving for good (clean shutdown) or one long dead. */
  removeNode(id: string): Promise<void>;
  /** Removes nodes silent for longer than `olderThanMs`; returns how many. */
  pruneNodes(olderThanMs: number): Promise<number>;
}

/** Bounds of one upload (`BlobStore.putStream`). */
export interface UploadLimits {
  /** Largest blob accepted, in bytes: counted as bytes arrive, so a chunked upload is cut at the limit. */
  maxBytes: number;
  /** Milliseconds the upload may go without a byte arriving before it is abandoned. */
  idleMs: number;
  /** Times the stalls. */
  clock: Clock;
}

/**
 * Immutable, content-addressed bytes (bundles, and the archives of
 * `addLocalFile`/`addLocalDir`): written once by hash, checked against it
 * on every read.
 */
export interface BlobStore {
  has(hash: string): Promise<boolean>;
  /** Stores `data` and returns its SHA-256; if `expected` is given, a mismatch is an `invalid_input` error. */
  put(data: Uint8Array, expected?: string): Promise<string>;
  /**
   * Stores an upload as the blob `expected` without holding it in memory:
   * over `maxBytes` it is 413, a stall 408, a cut connection 499, another
   * hash 422, and none of them leaves anything stored.
   */
  putStream(source: AsyncIterable<Uint8Array>, expected: string, limits: UploadLimits): Promise<string>;
  /**
   * The bytes of `hash`, checked against it: a blob that does not hash to
   * its name is removed (so a new upload can replace it) and reported.
   */
  get(hash: string): Promise<Buffer>;
  /**
   * The path of a file on this machine holding the blob's bytes, checked
   * against its hash, for what reads blobs as files (image builds, image
   * exports). On PostgreSQL the blob is fetched into this node's cache on
   * first use. `not_found` when it was never uploaded.
   */
  file(hash: string): Promise<string>;
  /**
   * Deletes every stored blob for which `keep(hash, storedAt)` is false;
   * returns how many. `storedAt` (epoch ms) is when it was last stored,
   * by any node sharing the store: a re-upload of existing bytes renews
   * it, so a deploy's upload can be told from the blob's old use.
   */
  prune(keep: (hash: string, storedAt: number) => boolean): Promise<number>;
  /** The path of the blob's file on this machine if it has one already (`file` made it, or it was uploaded here), without reading it. */
  localPath(hash: string): string | undefined;
}

/** What changed, for other nodes (and other processes on the same SQLite file) to read again. */
export type Change =
  | { topic: "app"; id: string }
  | { topic: "token"; id: string }
  | { topic: "limit"; id: string }
  | { topic: "secret"; id: string }
  | { topic: "node"; id: string }
  /** Changes may have been missed (the notification channel was down): read everything again. */
  | { topic: "resync"; id: "" };

export type ChangeListener = (change: Change) => void;

export interface Store {
  /** `sqlite` or `postgres`, for logs and `berth node list`. */
  readonly engine: "sqlite" | "postgres";
  /** Where the state is, without credentials: a path or `postgres://host:port/db`. */
  readonly location: string;
  readonly apps: AppStore;
  readonly security: SecurityStore;
  readonly nodes: NodeStore;
  readonly sessions: SessionStore;
  readonly blobs: BlobStore;
  /** Calls `listener` for every change written by anyone; returns the unsubscribe function. */
  watch(listener: ChangeListener): () => void;
  close(): Promise<void>;
}
