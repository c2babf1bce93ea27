/**
 * What each live page shows, computed from the platform and the metrics:
 * the apps of a workspace, one app, one function. A page is rendered from
 * its model, and the live feed computes the same model every second and
 * sends only what changed: the `values` (every number on the page, by the
 * key its element carries) when only numbers moved, or the page's regions
 * again when its `shape` changed (an app deployed, a version added, a
 * container started or gone).
 */
import type { FunctionHistory, ContainerFailure } from "../metrics/history.js";
import type { AppSummary, ContainerView, FunctionSummary, LatencySummary } from "../wire/control-api.js";
import type { LiveService, MetricsView, PlatformView } from "./sources.js";

/** The numbers of one function, summed over its pools and its versions still running. */
export interface FunctionLive {
  starting: number;
  ready: number;
  busy: number;
  draining: number;
  inFlight: number;
  queued: number;
  coldStarts: number;
  startFailures: number;
  lastError?: string;
  backoffMs: number;
}

export interface FunctionRow extends FunctionSummary {
  live: FunctionLive;
  latency: LatencySummary;
  /** Requests answered in the last 50 to 60 s, and of those 5xx. */
  recent: { requests: number; errors: number };
  /** Requests since the server started. */
  total: number;
  /** Ready containers that exited unasked (out-of-memory kills included) or were found unreachable, since the server started. */
  crashes: number;
}

export interface AppRow extends AppSummary {
  rows: FunctionRow[];
}

export interface LiveModel {
  /** Changes when what the page lists changes; then the regions are sent again. */
  shape: string;
  /** Every live number of the page, as shown, by element key. */
  values: Record<string, string>;
}

export interface AppsModel extends LiveModel {
  workspace: string;
  apps: AppRow[];
}

export interface ServiceRow {
  versionId: string;
  /** Version number, when the version list knows it. */
  version: number | null;
  /** An older version finishing its inputs. */
  draining: boolean;
  params: string[];
  containers: (ContainerView & { params: string })[];
}

export interface FunctionModel extends LiveModel {
  app: AppSummary;
  row: FunctionRow;
  services: ServiceRow[];
  failures: ContainerFailure[];
  history: FunctionHistory | undefined;
}

export interface AppModel extends LiveModel {
  app: AppRow;
  versions: VersionRow[];
}

/** A version of an app as the pages list it (the control plane's version record). */
export interface VersionRow {
  id: string;
  number: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Who deployed it: the token's name, else its id; empty when unknown. */
  deployedBy: string;
  current: boolean;
}

export interface ModelSources {
  platform: PlatformView;
  metrics: MetricsView;
}

const EMPTY_LIVE: FunctionLive = { starting: 0, ready: 0, busy: 0, draining: 0, inFlight: 0, queued: 0, coldStarts: 0, startFailures: 0, backoffMs: 0 };

/** Key of a function in the live index and in element keys. Names follow the name grammar (no quotes, no `|`). */
export function functionKey(app: string, dev: boolean, fn: string): string {
  return `${app}|${dev ? "dev" : ""}|${fn}`;
}

/** The live numbers of every function of `workspace` with running services, in one pass over them. */
export function liveIndex(services: Iterable<LiveService>, workspace: string): Map<string, FunctionLive> {
  const index = new Map<string, FunctionLive>();
  for (const service of services) {
    const { identity } = service;
    if (identity.workspace !== workspace) continue;
    const key = functionKey(identity.appName, identity.ephemeral, identity.functionName);
    let live = index.get(key);
    if (!live) index.set(key, (live = { ...EMPTY_LIVE }));
    for (const pool of service.stats()) {
      live.starting += pool.starting;
      live.ready += pool.ready;
      live.draining += pool.draining;
      live.inFlight += pool.inFlight;
      live.queued += pool.queued;
      live.coldStarts += pool.coldStarts;
      live.startFailures += pool.startFailures;
      live.backoffMs = Math.max(live.backoffMs, pool.backoffMs);
      if (pool.lastError) live.lastError = pool.lastError;
    }
  }
  return index;
}

function functionRow(sources: ModelSources, workspace: string, app: AppSummary, fn: FunctionSummary, index: Map<string, FunctionLive>): FunctionRow {
  const history = sources.metrics.functionHistory(workspace, app.name, app.ephemeral, fn.name);
  const recent = history?.recent() ?? { requests: 0, errors: 0 };
  return {
    ...fn,
    live: index.get(functionKey(app.name, app.ephemeral, fn.name)) ?? EMPTY_LIVE,
    latency: sources.metrics.latency(workspace, app.name, app.ephemeral, fn.name),
    recent: { requests: recent.requests, errors: recent.errors },
    total: history?.requests ?? 0,
    crashes: history?.crashes ?? 0,
  };
}

/** The numbers of a function row, keyed for the page's elements. */
function rowValues(values: Record<string, string>, key: string, row: FunctionRow): void {
  values[`${key}|rpm`] = String(row.recent.requests);
  values[`${key}|err`] = row.recent.requests === 0 ? "–" : percent(row.recent.errors / row.recent.requests);
  values[`${key}|p50`] = ms(row.latency.p50);
  values[`${key}|p99`] = ms(row.latency.p99);
  values[`${key}|containers`] = containersText(row.live);
  values[`${key}|inflight`] = String(row.live.inFlight);
  values[`${key}|queued`] = String(row.live.queued);
  values[`${key}|total`] = String(row.total);
  values[`${key}|cold`] = String(row.live.coldStarts);
  values[`${key}|failures`] = String(row.live.startFailures);
  values[`${key}|crashes`] = String(row.crashes);
  values[`${key}|lasterror`] = row.live.lastError ?? "";
}

/** The apps page of `workspace`, from its apps as the store lists them (`PlatformView.listApps`) and this node's live services. */
export function appsModel(sources: ModelSources, workspace: string, listed: AppSummary[]): AppsModel {
  const index = liveIndex(sources.platform.services(), workspace);
  const values: Record<string, string> = {};
  const apps = [...listed]
    .sort((a, b) => a.name.localeCompare(b.name) || Number(a.ephemeral) - Number(b.ephemeral))
    .map((app) => {
      const rows = app.functions.map((fn) => functionRow(sources, workspace, app, fn, index));
      for (const row of rows) rowValues(values, functionKey(app.name, app.ephemeral, row.name), row);
      return { ...app, rows };
    });
  const shape = JSON.stringify(apps.map((app) => [app.id, app.state, app.version, app.functions.map((fn) => fn.name)]));
  return { workspace, apps, shape, values };
}

/** The app's model. `app` and its `versions` come from the control plane's record. */
export function appModel(sources: ModelSources, workspace: string, app: AppSummary, versions: VersionRow[]): AppModel {
  const index = liveIndex(sources.platform.services(), workspace);
  const values: Record<string, string> = {};
  const rows = app.functions.map((fn) => functionRow(sources, workspace, app, fn, index));
  for (const row of rows) rowValues(values, functionKey(app.name, app.ephemeral, row.name), row);
  const shape = JSON.stringify([app.state, app.version, app.functions.map((fn) => fn.name), versions.map((v) => [v.number, v.current])]);
  return { app: { ...app, rows }, versions, shape, values };
}

/** One function's model, or undefined when the app's current version has no such function. `app` and its `versions` come from the control plane's record. */
export function functionModel(sources: ModelSources, workspace: string, app: AppSummary, fnName: string, versions: VersionRow[]): FunctionModel | undefined {
  const { name, ephemeral: dev } = app;
  const fn = app.functions.find((f) => f.name === fnName);
  if (!fn) return undefined;
  const mine: LiveService[] = [];
  for (const service of sources.platform.services()) {
    const { identity } = service;
    if (identity.workspace === workspace && identity.appName === name && identity.ephemeral === dev && identity.functionName === fnName) mine.push(service);
  }
  const index = liveIndex(mine, workspace);
  const row = functionRow(sources, workspace, app, fn, index);
  const key = functionKey(name, dev, fnName);
  const values: Record<string, string> = {};
  rowValues(values, key, row);
  const numberOf = new Map(versions.map((v) => [v.id, v.number]));
  const services = mine
    .map((service): ServiceRow => {
      const routed = sources.platform.lookup(service.identity.hostLabel) === service;
      const containers = service.containers();
      for (const container of containers) {
        const at = `${key}|c|${container.id}`;
        values[`${at}|state`] = container.state;
        values[`${at}|inflight`] = `${container.inFlight} / ${container.maxInputs}`;
        values[`${at}|age`] = duration(container.ageMs);
        values[`${at}|idle`] = container.idleMs === null ? "–" : duration(container.idleMs);
      }
      return {
        versionId: service.identity.versionId,
        version: numberOf.get(service.identity.versionId) ?? null,
        draining: !routed,
        params: service.stats().map((pool) => pool.params),
        containers,
      };
    })
    .sort((a, b) => Number(a.draining) - Number(b.draining));
  const history = sources.metrics.functionHistory(workspace, name, dev, fnName);
  const failures = history?.failures ?? [];
  // The pool's last error is shown on its own only when the recent failures do not already end with it (an unreachable container).
  if (failures.at(-1)?.message === row.live.lastError) values[`${key}|lasterror`] = "";
  const shape = JSON.stringify([
    app.version,
    services.map((s) => [s.versionId, s.draining, s.containers.map((c) => c.id)]),
    failures.map((f) => f.time),
  ]);
  return { app, row, services, failures: [...failures], history, shape, values };
}

export function containersText(live: FunctionLive): string {
  const parts = [`${live.ready} ready`];
  if (live.starting > 0) parts.push(`${live.starting} starting`);
  if (live.draining > 0) parts.push(`${live.draining} draining`);
  return parts.join(" · ");
}

export function ms(value: number | null): string {
  if (value === null) return "–";
  if (value < 10) return `${value.toFixed(1)} ms`;
  if (value < 10_000) return `${Math.round(value)} ms`;
  return `${(value / 1000).toFixed(1)} s`;
}

export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)}%`;
}

export function duration(milliseconds: number): string {
  const s = Math.floor(milliseconds / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
