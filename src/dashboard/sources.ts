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
