/**
 * The state store interface: everything the control plane must remember
 * across restarts. Two implementations are planned (SQLite embedded, which
 * exists, and PostgreSQL for several gateways), so methods are small,
 * transactional units and return plain records.
 */
import type { AppManifest } from "../../sdk/contract.js";
import type { AppState, Deployer } from "../../wire/control-api.js";

export type { AppState, Deployer };

export interface AppRecord {
  id: string;
  workspace: string;
  name: string;
  /** Ephemeral apps (`berth serve`) end with their CLI session and get `-dev` URLs. */
  ephemeral: boolean;
  state: AppState;
  /** Id of the version that serves traffic. */
  currentVersionId: string | null;
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

export interface StateStore {
  /** Creates the app if needed and records a new version that becomes current, atomically. */
  recordDeployment(input: {
    workspace: string;
    name: string;
    ephemeral: boolean;
    bundleHash: string;
    manifest: AppManifest;
    now: number;
    deployedBy: Deployer;
    deployId?: string;
  }): { app: AppRecord; version: VersionRecord };
  /** The version a deploy id made in a workspace, with its app. */
  findDeployment(workspace: string, deployId: string): { app: AppRecord; version: VersionRecord } | undefined;
  /** An app is deployed or ephemeral: `serve` of a deployed app's file is a separate app with `-dev` URLs. */
  getApp(workspace: string, name: string, ephemeral?: boolean): AppRecord | undefined;
  listApps(workspace?: string): AppRecord[];
  getVersion(id: string): VersionRecord | undefined;
  listVersions(appId: string): VersionRecord[];
  /**
   * Blobs still needed: the bundles, and the archives of `addLocalFile/Dir`
   * (copy steps), of every app's current version and its `keep` newest versions.
   */
  blobsInUse(keep: number): string[];
  setAppState(appId: string, state: AppState, now: number): void;
  deleteApp(appId: string): void;
  close(): void;
}
