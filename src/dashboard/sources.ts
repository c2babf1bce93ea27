/**
 * What the dashboard reads and acts through, declared here and handed in by
 * the composition root (server/start.ts): the platform's live services and
 * app records, the metrics with their one-hour history, the token service
 * that signs people in, and the control API itself. Pages read the same
 * objects the control API's routes read; every action is a request to the
 * control API, so validation, authorization and answers are the API's own.
 */
import type { FunctionHistory } from "../metrics/history.js";
import type { AppSummary, ContainerView, LatencySummary, PoolStatsView, VersionInfo } from "../wire/control-api.js";

export interface ServiceIdentityView {
  workspace: string;
  appName: string;
  functionName: string;
  versionId: string;
  hostLabel: string;
  ephemeral: boolean;
}

/** A running function version (platform.services()): a routed one or an older one still draining. */
export interface LiveService {
  readonly identity: ServiceIdentityView;
  stats(): PoolStatsView[];
  containers(): (ContainerView & { params: string })[];
}

export interface PlatformView {
  /** Apps of a workspace (every workspace without one), as `GET /api/apps` lists them: read from the state store. */
  listApps(workspace?: string): Promise<AppSummary[]>;
  /** Every running service, draining versions included. */
  services(): Iterable<LiveService>;
  /** The service routed at a host label: the current version of a function. */
  lookup(hostLabel: string): LiveService | undefined;
  /** An app's versions, oldest first, as `GET /api/apps/:name/versions` lists them: read from the state store. */
  versions(workspace: string, name: string, dev: boolean): Promise<VersionInfo[]>;
}

export interface MetricsView {
  latency(workspace: string, app: string, dev: boolean, fn: string): LatencySummary;
  functionHistory(workspace: string, app: string, dev: boolean, fn: string): FunctionHistory | undefined;
}

/**
 * Who an API token speaks for, or undefined (unknown, revoked, malformed),
 * from memory: a session's token is checked on every request, and only
 * after the control API has accepted it at sign-in.
 */
export interface TokenCheck {
  principalOf(token: string | undefined): { tokenId: string; workspace: string; admin: boolean } | undefined;
}

/** The control API, called in-process (`env.incoming` lets it see the browser's address for its failed-auth limit). */
export type ControlApi = (request: Request, env: { incoming?: unknown }) => Response | Promise<Response>;

/**
 * A dashboard session as the shared database holds it (the control
 * store's `sessions` facet): the id only as its SHA-256, everything
 * secret sealed.
 */
export interface SessionRow {
  idHash: Buffer;
  sealed: Buffer;
  flash: Buffer | null;
  /** Milliseconds since the epoch. */
  createdAt: number;
  seenAt: number;
}

/** Where sessions live: the state store every node shares (control/store/types.ts's SessionStore). */
export interface SessionRows {
  insertSession(session: SessionRow): Promise<void>;
  getSession(idHash: Buffer): Promise<SessionRow | undefined>;
  /** Moves `seenAt` forward, never back. */
  touchSession(idHash: Buffer, seenAt: number): Promise<void>;
  setSessionFlash(idHash: Buffer, flash: Buffer | null): Promise<void>;
  /** Clears the flash if it is still `flash`; true if this call did. */
  takeSessionFlash(idHash: Buffer, flash: Buffer): Promise<boolean>;
  deleteSession(idHash: Buffer): Promise<void>;
  /** Deletes sessions seen before `seenBefore` or created before `createdBefore` (epoch ms), then all but the `keep` most recently seen. */
  pruneSessions(seenBefore: number, createdBefore: number, keep: number): Promise<number>;
}

/** The platform's secrets key (AES-256-GCM), for the dashboard's own use (control/crypto.ts's Sealer). */
export interface Sealer {
  seal(plaintext: string, context: string): Buffer;
  /** Throws when `sealed` is not this key's, under this context. */
  open(sealed: Buffer, context: string): string;
}
