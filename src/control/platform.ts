/**
 * The control plane's core: apps, versions and the live services that serve
 * them. A deployment builds images, records a version, and then swaps the
 * routes of its functions to new services in one step, so a request is
 * always answered by exactly one version; the services it replaced drain
 * (their in-flight and queued inputs finish) in the background.
 *
 * Disk: each version needs its bundle (a blob) and a run folder. Only the
 * newest `keepVersions` versions of each app keep them (and any version
 * still running, draining included); older versions stay in the history
 * but are gone for rollbacks, and an app `serve` ran takes its files along
 * when it stops.
 *
 * The store is the truth and every node converges on it: `converge` reads
 * an app and makes this node serve its current version (or nothing, once
 * it is stopped or removed). A deploy, stop or rollback here records the
 * change and converges at once; other nodes converge when the change
 * reaches them (`refresh`) or at the periodic `resync`. Converging one app
 * runs one step at a time, so a change heard twice (this node's own
 * notification) is a no-op rather than a second activation.
 *
 * With several nodes, each runs its share of a function's `minContainers`
 * and `maxContainers` (`Placement`), re-spread when nodes come and go.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { splitSourceMap } from "../agent/stack-traces.js";
import type { Clock } from "../clock/clock.js";
import { BerthError } from "../errors/codes.js";
import { storageFull } from "../errors/storage.js";
import { functionLabel, hostLabel, validateLabelOverride } from "../hosts/labels.js";
import type { BuiltImage, ImageBuilder, ImageSummary, PruneResult } from "../image/builder.js";
import { tempPath } from "../lifetime/run.js";
import type { Logger } from "../logging/logger.js";
import { ContainerOutput } from "../logs/container-output.js";
import type { LogHub } from "../logs/hub.js";
import type { AppLogId } from "../logs/store.js";
import type { Capacity } from "../router/capacity.js";
import type { Pool, PoolEvent, PoolOptions } from "../router/pool.js";
import { FunctionService, type ServiceIdentity } from "../router/service.js";
import type { ContainerEndpoint, RuntimeDriver } from "../runtime/types.js";
import { DEFAULT_RESOURCES, type AppManifest, type FunctionManifest } from "../sdk/contract.js";
import type {
  AppSummary,
  Deployer,
  DeployRequest,
  DeployResult,
  FunctionStats,
  FunctionSummary,
  LogEntry,
  NodeLoad,
  VersionInfo,
} from "../wire/control-api.js";
import { copyBlobs } from "./manifest-blobs.js";
import { redactingDriver, redactor, type Redact } from "./redact.js";
import type { SecretService } from "./secrets.js";
import type { AppRecord, Store, VersionRecord } from "./store/types.js";

/**
 * How the gateway reaches a ready container: `U` is its connection object
 * (the gateway's `Upstream`). Built by the composition root, so the control
 * plane creates pools without knowing the gateway.
 */
export interface UpstreamConnector<U> {
  /** `log` writes a system line to that container's log (why a response of it was refused, once). */
  attach(endpoint: ContainerEndpoint, log: (line: string) => void): U;
  detach(upstream: U): void;
}

/**
 * How many of a function's containers this node runs: its share of
 * `total` among the live nodes. `salt` (the function's host) varies which
 * nodes take the remainder, so one-container functions do not all land on
 * the same node. One node: all of them.
 */
export interface Placement {
  share(total: number, salt: string): number;
}

const ALONE: Placement = { share: (total) => total };

export interface PlatformOptions<U> {
  store: Store;
  /** Default: this node runs everything. */
  placement?: Placement;
  images: ImageBuilder;
  driver: RuntimeDriver;
  logs: LogHub;
  /** Directory for run directories (bundle + image packages). */
  runRoot: string;
  /** The URL users reach a function host at (`http://local--hello-f.localhost:8600/`), for the URLs printed to them. */
  functionUrl: (hostLabel: string) => string;
  /** The agent every container runs (dist/agent.mjs): image exports include it. */
  agentBundle: string;
  /** Inputs allowed to wait per pool. Default 1000. */
  queueLimit?: number;
  /** The server's and workspaces' caps on live containers; every pool takes its slots here. Absent: only `maxContainers` of each function. */
  capacity?: Capacity;
  /** Milliseconds an input waits for a container while its workspace or the server is at its cap; then 503. Default 30 000. */
  capacityWaitMs?: number;
  /** Milliseconds draining containers get to finish. Default 30 000. */
  drainGraceMs?: number;
  /** Versions per app whose bundle and run folder are kept (for rollbacks); older ones lose them. Default 10. */
  keepVersions?: number;
  /** Seals inline secrets at deploy time and resolves every secret a function names into its environment. */
  secrets: SecretService;
  /** Told of each container's start, failure and crash (metrics). */
  onPoolEvent?: (identity: ServiceIdentity, event: PoolEvent) => void;
  connector: UpstreamConnector<U>;
  /** Monotonic time of the pools: container ages, scale-down windows, backoff. */
  clock: Clock;
  /** Wall-clock milliseconds since the epoch, for records and log lines. Default `Date.now`. */
  now?: () => number;
  /** The control plane's log: deploys, stops, restores. */
  logger: Logger;
  /** The pools' log: a runtime failing in a way no container explains. */
  poolLogger: Logger;
}

/** Per function of an app, as `berth app stats` shows it before latency is added. */
export type FunctionPools = Omit<FunctionStats, "latencyMs" | "node">;

/** Which app a route table entry belongs to. */
interface AppTarget {
  workspace: string;
  name: string;
  ephemeral: boolean;
}

/** What `converge` left running of an app: its id and the version this node serves. */
interface Active {
  target: AppTarget;
  appId: string;
  versionId: string;
}

/** Resolves when the services a step took out of service have drained. */
interface Converged {
  drained: Promise<void>;
}

const NOTHING_TO_DRAIN: Converged = { drained: Promise.resolve() };
const quiet = () => {};

export class Platform<U> {
  private readonly routes = new Map<string, FunctionService<U>>();
  /** Host labels currently owned by each app (`<workspace>/<name>`). */
  private readonly appRoutes = new Map<string, string[]>();
  /** Every service with containers, routed or draining: old versions stay here until drained. */
  private readonly running = new Set<FunctionService<U>>();
  /** What this node serves, by app key. */
  private readonly active = new Map<string, Active>();
  /** App ids seen, to their key: a change names an app by id, and a removed app cannot be read any more. */
  private readonly targets = new Map<string, AppTarget>();
  /** The last step of each app's convergence: steps of one app run one after another. */
  private readonly steps = new Map<string, Promise<unknown>>();
  /** The image each service's containers run: what `image prune` must keep. */
  private readonly serviceImages = new Map<FunctionService<U>, string>();
  private readonly now: () => number;
  /** The bundle each live service runs, kept while it runs (a draining old version included). */
  private readonly serviceBundles = new WeakMap<FunctionService<U>, string>();
  /** Deploys with a client id that are running now, by `<workspace>/<id>`. */
  private readonly deploying = new Map<string, DeploymentIdentity & { result: Promise<DeployResult> }>();
  private readonly placement: Placement;
  private closed = false;

  constructor(private readonly options: PlatformOptions<U>) {
    this.now = options.now ?? Date.now;
    this.placement = options.placement ?? ALONE;
    mkdirSync(options.runRoot, { recursive: true, mode: 0o700 });
  }

  private get store(): Store {
    return this.options.store;
  }

  lookup(host: string): FunctionService<U> | undefined {
    return this.routes.get(host);
  }

  /**
   * Brings back every app after a start. Ephemeral leftovers of a crashed
   * `serve` are removed, but only by a node that is `alone`: with others
   * running, they may be another node's live sessions.
   */
  async restore(alone = true): Promise<void> {
    for (const app of await this.store.apps.listApps()) {
      if (app.ephemeral && alone) {
        await this.store.apps.deleteApp(app.id);
        this.options.logs.forget(logIdOf(app));
        continue;
      }
      if (app.state !== "deployed" || !app.currentVersionId) continue;
      try {
        await this.converge(targetOf(app));
        this.options.logger.info({ workspace: app.workspace, app: app.name, ephemeral: app.ephemeral }, "restored app");
      } catch (error) {
        this.options.logger.error({ err: error, workspace: app.workspace, app: app.name }, "could not restore app");
      }
    }
    await this.prune();
  }

  /**
   * Deploys an app. With a `deployId`, at most once per id and workspace: a
   * request with an id that is running waits for that run, one with an id
   * that already made a version gets that version, so a client can repeat a
   * deploy whose answer it lost without making a second version.
   * `deployedBy`: the caller, recorded with the version (`berth app versions`).
   */
  async deploy(request: DeployRequest & { workspace: string; deployedBy: Deployer }, progress: (line: string) => void): Promise<DeployResult> {
    const { workspace, deployId } = request;
    if (deployId === undefined) return this.deployNow(request, progress);
    const key = `${workspace}/${deployId}`;
    const running = this.deploying.get(key);
    if (running) {
      checkSameDeployment(deployId, running, request);
      progress(`deploy ${deployId} is already under way; waiting for it`);
      return running.result;
    }
    const done = await this.store.apps.findDeployment(workspace, deployId);
    if (done) {
      checkSameDeployment(deployId, { name: done.app.name, ephemeral: done.app.ephemeral, bundleHash: done.version.bundleHash }, request);
      progress(`deploy ${deployId} was already done: version ${done.version.number}`);
      return { app: done.app, version: done.version.number, functions: this.summarise(done.app, done.version.manifest) };
    }
    const result = this.deployNow(request, progress).finally(() => this.deploying.delete(key));
    this.deploying.set(key, { name: request.manifest.name, ephemeral: request.ephemeral, bundleHash: request.bundleHash, result });
    return result;
  }

  private async deployNow(request: DeployRequest & { workspace: string; deployedBy: Deployer }, progress: (line: string) => void): Promise<DeployResult> {
    const { workspace } = request;
    if (!(await this.store.blobs.has(request.bundleHash))) {
      throw new BerthError("bad_request", `bundle ${request.bundleHash} has not been uploaded`);
    }
    this.checkLabels(workspace, request.manifest, request.ephemeral);
    await this.checkUploads(request.manifest);
    const manifest = await this.options.secrets.prepare(workspace, request.manifest);
    await this.buildImages(manifest, progress);
    const { app, version } = await this.store.apps.recordDeployment({
      workspace,
      name: manifest.name,
      ephemeral: request.ephemeral,
      bundleHash: request.bundleHash,
      manifest,
      now: this.now(),
      deployId: request.deployId,
      deployedBy: request.deployedBy,
    });
    // The same id recorded meanwhile by another node (or process) returns that version: it must be the same bundle.
    if (request.deployId !== undefined) {
      checkSameDeployment(request.deployId, { name: app.name, ephemeral: app.ephemeral, bundleHash: version.bundleHash }, request);
    }
    await this.converge(targetOf(app));
    await this.prune();
    this.options.logger.info({ workspace, app: app.name, version: version.number, ephemeral: app.ephemeral }, "deployed app");
    return { app, version: version.number, functions: this.summarise(app, manifest) };
  }

  /**
   * Redeploys an earlier version's bundle and manifest as a new version
   * (so the history only grows). Without `toVersion`, the one before the
   * current version.
   */
  async rollback(
    workspace: string,
    name: string,
    toVersion: number | undefined,
    deployedBy: Deployer,
    progress: (line: string) => void,
    deployId?: string,
  ): Promise<DeployResult> {
    const app = await this.store.apps.getApp(workspace, name);
    if (!app?.currentVersionId) throw new BerthError("not_found", `no deployed app named "${name}" in workspace "${workspace}"`);
    const versions = await this.store.apps.listVersions(app.id);
    const current = versions.find((v) => v.id === app.currentVersionId)?.number ?? Number.POSITIVE_INFINITY;
    const target = toVersion === undefined ? versions.filter((v) => v.number < current).at(-1) : versions.find((v) => v.number === toVersion);
    if (!target) {
      throw new BerthError("not_found", toVersion === undefined ? `app "${name}" has no version before ${current}` : `app "${name}" has no version ${toVersion}`);
    }
    if (!(await this.store.blobs.has(target.bundleHash))) {
      throw new BerthError(
        "not_found",
        `version ${target.number} of app "${name}" is gone: the server keeps the bundles of the last ${this.keepVersions} versions of each app ` +
          "(berth server --keep-versions); deploy that code again instead",
      );
    }
    progress(`rolling back to version ${target.number}`);
    return this.deploy({ workspace, ephemeral: false, bundleHash: target.bundleHash, manifest: target.manifest, deployedBy, deployId }, progress);
  }

  /** Whether the app exists (a served app exists while `berth serve` runs it). */
  async has(workspace: string, name: string, ephemeral = false): Promise<boolean> {
    return (await this.store.apps.getApp(workspace, name, ephemeral)) !== undefined;
  }

  /** Every version of an app, oldest first. */
  async versions(workspace: string, name: string, ephemeral = false): Promise<VersionInfo[]> {
    const app = await this.store.apps.getApp(workspace, name, ephemeral);
    if (!app) throw new BerthError("not_found", `no ${ephemeral ? "served" : "deployed"} app named "${name}" in workspace "${workspace}"`);
    return (await this.store.apps.listVersions(app.id)).map((version) => ({
      id: version.id,
      number: version.number,
      createdAt: version.createdAt,
      bundleHash: version.bundleHash,
      deployedBy: version.deployedBy,
      current: app.state === "deployed" && version.id === app.currentVersionId,
    }));
  }

  /** Stops an app: its URLs stop answering on every node, its containers drain. */
  async stop(workspace: string, name: string, ephemeral = false): Promise<AppRecord> {
    const app = await this.store.apps.getApp(workspace, name, ephemeral);
    if (!app) throw new BerthError("not_found", `no ${ephemeral ? "served" : "deployed"} app named "${name}" in workspace "${workspace}"`);
    // A served app's versions go with it: their blobs are noted first, so pruning knows they were named until now.
    const retired = app.ephemeral ? await this.blobsOf(app) : undefined;
    if (app.ephemeral) await this.store.apps.deleteApp(app.id);
    else await this.store.apps.setAppState(app.id, "stopped", this.now());
    const { drained } = await this.converge(targetOf(app));
    await drained;
    // A served app's versions went with it: so do their files, now that its containers are gone.
    if (retired) await this.prune(retired);
    this.options.logger.info({ workspace, app: name, ephemeral }, "stopped app");
    return { ...app, state: "stopped" };
  }

  /** Converges on one app that changed elsewhere (its change arrived from the store). */
  async refresh(appId: string): Promise<void> {
    const app = await this.store.apps.getAppById(appId);
    const target = app ? targetOf(app) : this.targets.get(appId);
    if (target) await this.converge(target);
  }

  /**
   * Converges on every app: the backstop for changes this node did not hear
   * of (a lost notification, a database outage). Apps already served at
   * their current version cost nothing but the list.
   */
  async resync(): Promise<void> {
    const seen = new Set<string>();
    const steps: Promise<unknown>[] = [];
    for (const app of await this.store.apps.listApps()) {
      const key = appKey(app.workspace, app.name, app.ephemeral);
      seen.add(key);
      const wanted = app.state === "deployed" ? app.currentVersionId : null;
      if ((this.active.get(key)?.versionId ?? null) !== wanted) steps.push(this.converge(targetOf(app)));
    }
    for (const [key, active] of this.active) if (!seen.has(key)) steps.push(this.converge(active.target));
    const failures = (await Promise.allSettled(steps)).filter((result) => result.status === "rejected");
    for (const failure of failures) this.options.logger.error({ err: failure.reason }, "could not bring an app up to date");
  }

  /** Gives every routed service its share of containers again (the live nodes changed). */
  respread(): void {
    for (const service of this.routes.values()) {
      service.resize(this.bounds(service.manifest, service.identity.hostLabel));
      service.warmUp();
    }
  }

  async listApps(workspace?: string): Promise<AppSummary[]> {
    const apps = await this.store.apps.listApps(workspace);
    return Promise.all(
      apps.map(async (app) => {
        const version = app.currentVersionId ? await this.store.apps.getVersion(app.currentVersionId) : undefined;
        return {
          ...app,
          version: version?.number ?? null,
          functions: version && app.state === "deployed" ? this.summarise(app, version.manifest) : [],
        };
      }),
    );
  }

  /** Live services, routed ones and older versions still draining. */
  services(): Iterable<FunctionService<U>> {
    return this.running;
  }

  /** Every pool of every live service: where capacity looks for idle containers to retire. */
  *pools(): Iterable<Pool<U>> {
    for (const service of this.running) yield* service.allPools();
  }

  /** What this node is doing, for its heartbeat. */
  load(): NodeLoad {
    const load: NodeLoad = { apps: this.active.size, containers: 0, inFlight: 0, queued: 0 };
    for (const service of this.running) {
      for (const pool of service.stats()) {
        load.containers += pool.starting + pool.ready;
        load.inFlight += pool.inFlight;
        load.queued += pool.queued;
      }
    }
    return load;
  }

  /** `stats`, after checking in the store that the app exists (`not_found` otherwise). */
  async appStats(workspace: string, name: string, ephemeral = false): Promise<FunctionPools[]> {
    if (!(await this.store.apps.getApp(workspace, name, ephemeral))) {
      throw new BerthError("not_found", `no ${ephemeral ? "served" : "deployed"} app named "${name}" in workspace "${workspace}"`);
    }
    return this.stats(workspace, name, ephemeral);
  }

  /** This node's pools of an app, per function: its current version's pools, then any older versions still draining. */
  stats(workspace: string, name: string, ephemeral = false): FunctionPools[] {
    const current = new Set<FunctionService<U>>();
    for (const host of this.appRoutes.get(appKey(workspace, name, ephemeral)) ?? []) {
      const service = this.routes.get(host);
      if (service) current.add(service);
    }
    const draining = [...this.running].filter(
      (s) => !current.has(s) && s.identity.workspace === workspace && s.identity.appName === name && s.identity.ephemeral === ephemeral,
    );
    return [...current, ...draining].map((service) => ({
      function: service.identity.functionName,
      host: service.identity.hostLabel,
      versionId: service.identity.versionId,
      draining: !current.has(service),
      pools: service.stats(),
    }));
  }

  /** The images this server knows, each with the apps whose containers run it. */
  listImages(): Array<ImageSummary & { usedBy: string[] }> {
    const users = new Map<string, Set<string>>();
    for (const [service, image] of this.serviceImages) {
      const { workspace, appName, ephemeral } = service.identity;
      users.set(image, (users.get(image) ?? new Set()).add(`${workspace}/${appName}${ephemeral ? " (serve)" : ""}`));
    }
    return this.options.images.list().map((image) => ({ ...image, usedBy: [...(users.get(image.id) ?? [])].sort() }));
  }

  /** Removes every image no running version uses (and, with `all`, the Debian and Node base layers too). */
  pruneImages(all: boolean): PruneResult {
    return this.options.images.prune(new Set(this.serviceImages.values()), all);
  }

  /**
   * Writes the OCI image layout of a function of an app's current version:
   * its image's layers and one more with the bundle and the agent, tagged
   * `<app>-<function>`.
   */
  async exportImage(workspace: string, name: string, functionName: string, ephemeral: boolean, out: string): Promise<{ ref: string }> {
    const app = await this.store.apps.getApp(workspace, name, ephemeral);
    const version = app?.currentVersionId ? await this.store.apps.getVersion(app.currentVersionId) : undefined;
    if (!app || !version) throw new BerthError("not_found", `no ${ephemeral ? "served" : "deployed"} app named "${name}" in workspace "${workspace}"`);
    const fn = version.manifest.functions.find((f) => f.name === functionName);
    if (!fn) throw new BerthError("not_found", `app "${name}" has no function "${functionName}" (it has ${version.manifest.functions.map((f) => f.name).join(", ")})`);
    const exporter = this.options.images.exportOci?.bind(this.options.images);
    if (!exporter) throw new BerthError("invalid_input", "image export needs the sandbox runtime's images; this server runs the process runtime");
    await this.fetchUploads(version.manifest);
    const image = await this.options.images.build(fn.image, quiet);
    const ref = functionLabel(name, functionName);
    await exporter(image.id, out, {
      ref,
      appFiles: [
        { path: "/berth/app/app.mjs", source: await this.store.blobs.file(version.bundleHash) },
        { path: "/berth/agent.mjs", source: this.options.agentBundle },
      ],
      labels: { "berth.app": name, "berth.function": functionName, "berth.version": String(version.number) },
    });
    return { ref };
  }

  /** Stops serving and drains everything; the caller has cut client connections, so only `exit` hooks remain to wait for. */
  async close(): Promise<void> {
    this.closed = true;
    this.routes.clear();
    await Promise.all([...this.running].map((service) => service.drain(this.options.drainGraceMs ?? 30_000)));
  }

  /** Runs `step` for one app after that app's previous steps. */
  private converge(target: AppTarget): Promise<Converged> {
    const key = appKey(target.workspace, target.name, target.ephemeral);
    const previous = this.steps.get(key) ?? Promise.resolve();
    const step = previous.catch(quiet).then(() => this.convergeNow(key, target));
    this.steps.set(key, step);
    void step.catch(quiet).then(() => {
      if (this.steps.get(key) === step) this.steps.delete(key);
    });
    return step;
  }

  /** Makes this node serve what the store says of one app now. */
  private async convergeNow(key: string, target: AppTarget): Promise<Converged> {
    if (this.closed) return NOTHING_TO_DRAIN;
    const app = await this.store.apps.getApp(target.workspace, target.name, target.ephemeral);
    if (app) this.targets.set(app.id, target);
    const wanted = app?.state === "deployed" ? app.currentVersionId : null;
    const active = this.active.get(key);
    if (!app || !wanted) {
      if (!active) return NOTHING_TO_DRAIN;
      this.active.delete(key);
      this.targets.delete(active.appId);
      // After the drain, so the containers' last words are in it; a deployed app keeps its log for `berth app logs`.
      return { drained: this.unroute(key).then(() => this.options.logs.forget(logIdOf(target))) };
    }
    if (active?.versionId === wanted) return NOTHING_TO_DRAIN;
    const version = await this.store.apps.getVersion(wanted);
    if (!version) throw new Error(`app ${key} names version ${wanted}, which is not in the store`);
    await this.activate(app, version);
    this.active.set(key, { target, appId: app.id, versionId: version.id });
    return NOTHING_TO_DRAIN;
  }

  /** This node's share of a function's container bounds; at least one container, so every node can serve it. */
  private bounds(fn: FunctionManifest, host: string) {
    return {
      minContainers: this.placement.share(fn.scaling.minContainers, host),
      maxContainers: Math.max(1, this.placement.share(fn.scaling.maxContainers, host)),
    };
  }

  private checkLabels(workspace: string, manifest: AppManifest, ephemeral: boolean): void {
    if (manifest.functions.length === 0) {
      throw new BerthError("invalid_input", `app "${manifest.name}" defines no web functions`);
    }
    const seen = new Map<string, string>();
    for (const fn of manifest.functions) {
      const host = this.hostFor(workspace, manifest.name, fn, ephemeral);
      const other = seen.get(host);
      if (other) throw new BerthError("invalid_input", `functions ${other} and ${fn.name} have the same URL label; give one a different label`);
      seen.set(host, fn.name);
      const owner = this.routes.get(host);
      const sameApp =
        owner && owner.identity.appName === manifest.name && owner.identity.workspace === workspace && owner.identity.ephemeral === ephemeral;
      if (owner && !sameApp) {
        throw new BerthError("invalid_input", `the URL of ${fn.name} (${host}) is already used by app "${owner.identity.appName}"`);
      }
    }
  }

  /** `addLocalFile/Dir` steps name blobs the CLI uploaded before deploying. */
  private async checkUploads(manifest: AppManifest): Promise<void> {
    for (const fn of manifest.functions) {
      for (const step of fn.image.steps) {
        if (step.kind !== "copy") continue;
        if (!(await this.store.blobs.has(step.blob))) {
          throw new BerthError("invalid_input", `the files for ${step.target} (blob ${step.blob.slice(0, 12)}) have not been uploaded`);
        }
        // Only archives: a copy step naming some other blob (another app's bundle) must not unpack it into an image.
        if (!isTarArchive(await this.store.blobs.file(step.blob))) {
          throw new BerthError("invalid_input", `the files for ${step.target} (blob ${step.blob.slice(0, 12)}) are not a tar archive`);
        }
      }
    }
  }

  /**
   * Makes the blobs of a manifest's copy steps files on this node, where
   * the image builder reads them (`BlobStore.localPath`): a node other than
   * the one that took the upload fetches them from the store.
   */
  private async fetchUploads(manifest: AppManifest): Promise<void> {
    for (const fn of manifest.functions) {
      for (const step of fn.image.steps) if (step.kind === "copy") await this.store.blobs.file(step.blob);
    }
  }

  private hostFor(workspace: string, appName: string, fn: FunctionManifest, ephemeral: boolean): string {
    const label = fn.label !== undefined ? validateLabelOverride(fn.label) : functionLabel(appName, fn.name);
    return hostLabel(workspace, label, ephemeral);
  }

  private async buildImages(manifest: AppManifest, progress: (line: string) => void): Promise<void> {
    const seen = new Set<string>();
    for (const fn of manifest.functions) {
      const key = JSON.stringify(fn.image);
      if (seen.has(key)) continue;
      seen.add(key);
      await this.options.images.build(fn.image, progress);
    }
  }

  /**
   * Creates the services of a version and points the app's hosts at them.
   * Its images are built by now (a deploy through this node) or built
   * quietly here (a restore, or a version deployed through another node).
   */
  private async activate(app: AppRecord, version: VersionRecord): Promise<void> {
    const key = appKey(app.workspace, app.name, app.ephemeral);
    await this.fetchUploads(version.manifest);
    const logId = logIdOf(app);
    const services: FunctionService<U>[] = [];
    for (const fn of version.manifest.functions) {
      const image = await this.options.images.build(fn.image, quiet);
      const runDir = await this.runDir(version.bundleHash, image);
      const secretEnv = await this.options.secrets.environment(app.workspace, fn);
      // The container's whole environment: the image's, secrets, the function's own, then who it is (which the function cannot override).
      const env = {
        ...image.env,
        ...secretEnv,
        ...fn.env,
        BERTH_APP: app.name,
        BERTH_FUNCTION: fn.name,
        BERTH_VERSION: String(version.number),
        BERTH_CONTAINER: "1",
      };
      const redact = redactor(Object.values(secretEnv));
      const host = this.hostFor(app.workspace, app.name, fn, app.ephemeral);
      const identity = {
        workspace: app.workspace,
        appName: app.name,
        functionName: fn.name,
        versionId: version.id,
        hostLabel: host,
        ephemeral: app.ephemeral,
      };
      const service = new FunctionService(identity, fn, (params, paramsKey) =>
        this.poolOptions(logId, identity, fn, image, runDir, env, redact, params, paramsKey),
      );
      service.resize(this.bounds(fn, host));
      services.push(service);
      this.serviceImages.set(service, image.id);
      this.options.driver.prepare?.({ id: image.id, rootfs: image.rootfs }, resourcesOf(fn).network);
    }
    // Closed while the images were built: nothing may start containers any more.
    if (this.closed) return;
    const previous = this.appRoutes.get(key) ?? [];
    const replaced: FunctionService<U>[] = [];
    for (const host of previous) {
      const old = this.routes.get(host);
      if (old) replaced.push(old);
      this.routes.delete(host);
    }
    for (const service of services) this.routes.set(service.identity.hostLabel, service);
    this.appRoutes.set(key, services.map((service) => service.identity.hostLabel));
    for (const service of services) {
      this.running.add(service);
      this.serviceBundles.set(service, version.bundleHash);
      service.warmUp();
    }
    for (const service of replaced) void this.retire(service);
  }

  /** Drains a service that no route leads to any more; it stays visible in stats until it is gone. */
  private async retire(service: FunctionService<U>): Promise<void> {
    await service.drain(this.options.drainGraceMs ?? 30_000);
    this.running.delete(service);
    this.serviceImages.delete(service);
  }

  private get keepVersions(): number {
    return Math.max(1, this.options.keepVersions ?? 10);
  }

  /**
   * Deletes the bundles and run folders that no version within the last
   * `keepVersions` of its app, no current version and no service running
   * on this node needs. A blob stored in the last `UPLOAD_GRACE_MS` and
   * after the newest version naming it was recorded is spared: a deploy (on
   * any node sharing the store) uploaded it and has not recorded its
   * version yet. Run after every deploy and stop, so
   * the disk holds about `keepVersions` versions per app, however many were
   * deployed. A failure is logged, not thrown: the deploy or stop it
   * follows has succeeded.
   */
  private async prune(retired: ReadonlyMap<string, number> = new Map()): Promise<void> {
    try {
      const needed = new Set(await this.store.apps.blobsInUse(this.keepVersions));
      for (const service of this.running) {
        const bundle = this.serviceBundles.get(service);
        if (bundle) needed.add(bundle);
      }
      const named = await this.store.apps.blobsNamed();
      for (const [hash, at] of retired) named.set(hash, Math.max(at, named.get(hash) ?? at));
      const now = Date.now();
      // Spared besides what is needed: a blob stored lately and not since recorded by a version, i.e. uploaded for a deploy still under way.
      await this.store.blobs.prune((hash, storedAt) => needed.has(hash) || (now - storedAt < UPLOAD_GRACE_MS && storedAt > (named.get(hash) ?? Number.NEGATIVE_INFINITY)));
      const neededPrefixes = new Set([...needed].map((hash) => hash.slice(0, 16)));
      for (const name of readdirSync(this.options.runRoot)) {
        const bundle = RUN_DIR.exec(name)?.[1];
        if (bundle !== undefined && !neededPrefixes.has(bundle)) rmSync(join(this.options.runRoot, name), { recursive: true, force: true });
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, "could not prune old versions' files");
    }
  }

  /** The blobs an app's versions name, each with now: what `prune` may delete once the app is gone. */
  private async blobsOf(app: AppRecord): Promise<Map<string, number>> {
    const now = Date.now();
    const blobs = new Map<string, number>();
    for (const version of await this.store.apps.listVersions(app.id)) {
      for (const hash of [version.bundleHash, ...copyBlobs(version.manifest)]) blobs.set(hash, now);
    }
    return blobs;
  }

  private unroute(key: string): Promise<void> {
    const hosts = this.appRoutes.get(key) ?? [];
    this.appRoutes.delete(key);
    const drains = hosts.map((host) => {
      const service = this.routes.get(host);
      this.routes.delete(host);
      return service && this.retire(service);
    });
    return Promise.all(drains).then(() => {});
  }

  private poolOptions(
    logId: AppLogId,
    identity: ServiceIdentity,
    fn: FunctionManifest,
    image: BuiltImage,
    runDir: string,
    env: Record<string, string>,
    redact: Redact,
    params: Record<string, unknown>,
    key: string,
  ): PoolOptions<U> {
    const scaling = fn.scaling;
    const routeKey = appKey(identity.workspace, identity.appName, identity.ephemeral);
    // A stopped served app's log is dropped: what its draining containers still say must not bring it back.
    const write = (entry: LogEntry) => {
      if (!logId.ephemeral || this.appRoutes.has(routeKey)) this.options.logs.write(logId, entry);
    };
    return {
      name: key ? `${identity.appName}.${fn.name}[${key}]` : `${identity.appName}.${fn.name}`,
      scaling: {
        minContainers: scaling.minContainers,
        maxContainers: scaling.maxContainers,
        bufferContainers: scaling.bufferContainers,
        scaledownWindowMs: scaling.scaledownWindow * 1000,
        maxInputs: scaling.maxInputs,
        targetInputs: scaling.targetInputs,
      },
      queueLimit: this.options.queueLimit ?? 1000,
      exitGraceMs: this.options.drainGraceMs ?? 30_000,
      driver: redactingDriver(this.options.driver, redact),
      containerSpec: (id) => ({
        id,
        functionName: fn.name,
        bundlePath: join(runDir, "app.mjs"),
        image: { id: image.id, rootfs: image.rootfs },
        cwd: image.workdir ?? runDir,
        env: { ...env, ...(fn.port !== undefined ? { PORT: String(fn.port) } : {}) },
        params,
        startupTimeoutMs: fn.startupTimeout * 1000,
        limits: { memoryMiB: resourcesOf(fn).memory, cpu: resourcesOf(fn).cpu },
        network: resourcesOf(fn).network,
      }),
      log: (container, line, stream) => write({ time: this.now(), app: identity.appName, function: fn.name, container, stream, line: redact(line) }),
      output: (container) => new ContainerOutput({ app: identity.appName, function: fn.name, container, redact, now: this.now, write }),
      onEvent: (event) => this.options.onPoolEvent?.(identity, event),
      capacity: this.options.capacity?.forWorkspace(identity.workspace),
      workspace: identity.workspace,
      capacityWaitMs: this.options.capacityWaitMs,
      attach: (endpoint, log) => this.options.connector.attach(endpoint, log),
      detach: (upstream) => this.options.connector.detach(upstream),
      clock: this.options.clock,
      logger: this.options.poolLogger,
    };
  }

  /**
   * `<runRoot>/<bundle>-<image>/`: the bundle as `app.mjs`, beside the
   * image's `node_modules` for host images (a sandbox gets a copy of the
   * bundle in its own mount instead).
   */
  private async runDir(bundleHash: string, image: BuiltImage): Promise<string> {
    const dir = join(this.options.runRoot, `${bundleHash.slice(0, 16)}-${image.id.slice(0, 16)}`);
    if (existsSync(join(dir, "app.mjs"))) return dir;
    // Written aside and renamed, last: a server killed mid-write must not leave a truncated app.mjs that looks complete.
    const partial = tempPath(join(dir, "app.mjs"));
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const modules = image.nodeModulesDir && join(image.nodeModulesDir, "node_modules");
      if (modules && existsSync(modules) && !existsSync(join(dir, "node_modules"))) symlinkSync(modules, join(dir, "node_modules"), "dir");
      writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }), { mode: 0o600 });
      // The source map goes beside the bundle, so importing it does not read the map (the agent reads it for a stack).
      const { code, map } = splitSourceMap(await this.store.blobs.get(bundleHash));
      if (map) writeFileSync(join(dir, "app.mjs.map"), map, { mode: 0o600 });
      writeFileSync(partial, code, { mode: 0o600 });
      renameSync(partial, join(dir, "app.mjs"));
    } catch (error) {
      rmSync(partial, { force: true });
      throw storageFull(error, "the run folder", dir);
    }
    return dir;
  }

  private summarise(app: AppRecord, manifest: AppManifest): FunctionSummary[] {
    return manifest.functions.map((fn) => ({
      name: fn.name,
      kind: fn.kind,
      url: this.options.functionUrl(this.hostFor(app.workspace, app.name, fn, app.ephemeral)),
    }));
  }
}

/** Milliseconds a stored blob no version names is kept: the time a deploy may take from its upload to recording its version. */
const UPLOAD_GRACE_MS = 10 * 60_000;

/** A run folder's name: the first 16 hex digits of its bundle's hash, then of its image's. */
const RUN_DIR = /^([0-9a-f]{16})-[0-9a-f]{16}$/;

/** What a deploy id stands for: one bundle as one app. */
interface DeploymentIdentity {
  name: string;
  ephemeral: boolean;
  bundleHash: string;
}

/** A deploy id names one deployment: the same id with another app or bundle is a client's mistake, refused rather than guessed at. */
function checkSameDeployment(deployId: string, known: DeploymentIdentity, request: DeployRequest): void {
  if (known.name !== request.manifest.name || known.ephemeral !== request.ephemeral || known.bundleHash !== request.bundleHash) {
    throw new BerthError("invalid_input", `deploy id ${deployId} was already used for another deployment (app "${known.name}"); use a new id`);
  }
}

function targetOf(app: AppRecord): AppTarget {
  return { workspace: app.workspace, name: app.name, ephemeral: app.ephemeral };
}

/** Whether a file starts with a POSIX tar header (`ustar` at byte 257). */
function isTarArchive(path: string): boolean {
  const header = Buffer.alloc(512);
  const fd = openSync(path, "r");
  try {
    return readSync(fd, header, 0, 512, 0) === 512 && header.toString("latin1", 257, 262) === "ustar";
  } finally {
    closeSync(fd);
  }
}

/** A function's limits and network; manifests from before they existed get the defaults. */
export function resourcesOf(fn: FunctionManifest) {
  return fn.resources ?? DEFAULT_RESOURCES;
}

/** The log of an app. */
function logIdOf(app: AppRecord | AppTarget): AppLogId {
  return { workspace: app.workspace, app: app.name, ephemeral: app.ephemeral };
}

/** Names an app in the route table; a served app and a deployed one of the same name are different apps. */
export function appKey(workspace: string, name: string, ephemeral: boolean): string {
  return `${workspace}/${name}${ephemeral ? "/dev" : ""}`;
}
