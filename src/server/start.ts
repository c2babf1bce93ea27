/**
 * The composition root: the only module that knows every component. It
 * builds the state store (with its blobs), the runtime (driver and image
 * builder),
 * metrics, control plane and gateway, and hands each the others' parts it
 * needs through the small interfaces declared where they are used: the
 * control plane gets the gateway's upstream connector and live rate
 * limiter, the gateway gets the control plane's routes and API, every
 * component its child of one logger and the one clock.
 * `berth server` runs it for good; `berth serve` embeds a throwaway one.
 *
 * Every server is a node: it registers in the store with heartbeats
 * (cluster/membership.ts), and when several share one PostgreSQL database
 * they split minContainers, maxContainers and rate limits among the live
 * nodes, keep their memory in step through the store's change feed
 * (control/sync.ts), forward result URLs to the node that runs the call,
 * and answer `app stats` and `app logs` for all of them.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { readdirSync } from "node:fs";
import { hostname } from "node:os";
import { getRequestListener } from "@hono/node-server";
import { systemClock, type Cancel, type Clock } from "../clock/clock.js";
import { Membership } from "../cluster/membership.js";
import { createControlApi } from "../control/api.js";
import type { TokenService } from "../control/auth.js";
import type { LiveLimits } from "../control/security-api.js";
import { Platform } from "../control/platform.js";
import { openStore } from "../control/store/open.js";
import type { Store } from "../control/store/types.js";
import { reloadLimits, StateSync } from "../control/sync.js";
import { createDashboard } from "../dashboard/dashboard.js";
import { CallRegistry } from "../gateway/calls.js";
import { clientAddress, normaliseAddress, rateKey, TrustedProxies } from "../gateway/client-ip.js";
import { installCrashGuard } from "../gateway/crash-guard.js";
import { DEFAULT_LIMITS, Guards, type GatewayLimits } from "../gateway/guards.js";
import { DEFAULT_FAILED_AUTH_LIMIT, FailedAuthLimiter, RateLimiter } from "../gateway/rate-limiter.js";
import { createGateway } from "../gateway/server.js";
import { Upstream } from "../gateway/upstream.js";
import { currentRun, isRunAlive, tempPath } from "../lifetime/run.js";
import { RunScope } from "../lifetime/scope.js";
import { sweepDeadRuns } from "../lifetime/sweep.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { AccessLog } from "../logs/access.js";
import { FileLogStore } from "../logs/file-store.js";
import { LogHub } from "../logs/hub.js";
import { MemoryLogStore } from "../logs/memory-store.js";
import { Metrics } from "../metrics/metrics.js";
import { functionUrl, parsePublicUrl, publicHost, type PublicBase } from "../hosts/public-url.js";
import { BerthError } from "../errors/codes.js";
import { Capacity, type IdleContainers } from "../router/capacity.js";
import type { LogEntry, RateLimit } from "../wire/control-api.js";
import { AGENT_BUNDLE } from "../paths.js";
import { homePermissionWarnings, prepareHome } from "./home.js";
import { advertiseUrlFor, nodeIdFor } from "./node-identity.js";
import { createRuntime, type Runtime, type RuntimeName } from "./runtime.js";
import { defaultKeyFile, openSecurity } from "./security.js";

export interface ServerOptions {
  /** State directory: database (without `database`), blobs, images, this node's id. */
  home: string;
  /** A `postgres://` URL: the state lives there, shared with every node that names it. Default: SQLite in `home`. */
  database?: string;
  /** This node's id among the nodes (`[a-z0-9-]`). Default: the one saved in `home`, made on first start. */
  nodeId?: string;
  /** Where the other nodes reach this one. Default `http://<host>:<port>`. */
  advertiseUrl?: string;
  /** Milliseconds between heartbeats. Default 1000. */
  heartbeatMs?: number;
  /** Milliseconds without a heartbeat after which a node is taken for dead. Default 5000. */
  nodeTimeoutMs?: number;
  /** Milliseconds between full re-reads of the state (the backstop for lost change notifications). Default 10 000. */
  resyncMs?: number;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to bind. Default 127.0.0.1. */
  host?: string;
  /** Base domain of function hosts. Default "localhost" (or `publicUrl`'s host). */
  domain?: string;
  /**
   * Where clients reach the gateway, e.g. `https://fns.example.com` behind a
   * proxy that terminates TLS: function URLs become
   * `https://<workspace>--<label>.fns.example.com/`, and its host is the
   * domain routed. Default: this server's own scheme, domain and port.
   */
  publicUrl?: string;
  /** Serve HTTPS (and WebSockets over TLS) directly with this certificate and key (PEM). Default: plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Workspace of requests that name none. */
  workspace: string;
  /** Keep state in memory only (the embedded platform of `berth serve`). */
  ephemeralState?: boolean;
  /** Receives every app log line as it is written: containers' output and events, and access lines (the server prints them). */
  onLog?: (entry: LogEntry) => void;
  /** Bytes of log kept per deployed app (under `<home>/logs`), oldest lines dropped first. Default 16 MiB. */
  appLogBytes?: number;
  /** Write an access line per proxied request into the app's log. Default true. */
  accessLog?: boolean;
  /** `sandbox` (isolated containers on layered images) or `process` (child processes, one trusted user). Default `process`; `berth server` defaults to `sandbox`. */
  runtime?: RuntimeName;
  /** Generic agents (process runtime) or sandboxes per recently used image (sandbox runtime) kept warm. Default 2. */
  warmAgents?: number;
  /** Where the sandbox runtime keeps its layered images, shared by every server that names it. Default /var/lib/berth/images. */
  imageCache?: string;
  /** A PEM bundle of extra certificate authorities image build steps trust (registries behind a TLS-intercepting proxy). */
  buildCaFile?: string;
  /**
   * Run as `berth server`: the control API takes API tokens only, and a
   * fresh state directory gets a bootstrap admin token. Default false (the
   * embedded platform of `berth serve`): the control API takes API tokens
   * and this process's session token (`sessionToken`, random unless given).
   */
  requireAuth?: boolean;
  /** The embedded platform's session token (an admin token held only in memory). Default: 32 random bytes, base64url. */
  sessionToken?: string;
  /** Serve `/metrics` without a token (`berth server --public-metrics`). Default false. */
  publicMetrics?: boolean;
  /** Addresses and CIDR ranges of proxies whose X-Forwarded-* headers are believed. Default none. */
  trustProxy?: string[];
  /** Body and header limits of the gateway; see GatewayLimits for the defaults. */
  limits?: Partial<GatewayLimits>;
  /** Rate limit of workspaces without their own. Default 200/s, burst 1000; null turns rate limiting off (benchmarks). */
  rateLimit?: RateLimit | null;
  /** One client address's limit on a workspace's public endpoints, for workspaces without their own. Default: a quarter of the workspace's limit. */
  clientRateLimit?: RateLimit;
  /** Failed authentications allowed per client address (proxy auth and API tokens). Default 10/s, burst 100; null: not limited. */
  failedAuthLimit?: RateLimit | null;
  /** Live containers allowed on the whole server (workspaces may have lower caps of their own). Default 64. */
  maxContainers?: number;
  /** Milliseconds a request waits for a container while the server or its workspace is at its cap, then 503 `at_capacity`. Default 30 000. */
  capacityWaitMs?: number;
  /** The secrets key file, kept apart from the database. Default `<home>/secrets.key`. */
  secretKeyFile?: string;
  /** Requests allowed to wait per function pool before 503 queue_full. Default 1000. */
  queueLimit?: number;
  /** Milliseconds a call may go without starting its response before the client gets a 303 to its result URL. Default 150 000. */
  callDelayMs?: number;
  /** Milliseconds a finished call's result waits at its result URL. Default 60 000. */
  callResultTtlMs?: number;
  /** Milliseconds a stopping container gets for its `exit` hook (in-flight requests finish first). Default 30 000. `close` ends within this plus 5 s. */
  exitGraceMs?: number;
  /** Versions per app whose bundles and run folders are kept for rollbacks. Default 10. */
  keepVersions?: number;
  /** The server's own log (its components log to children of it). Default: warnings and errors to stdout. */
  logger?: Logger;
}

export interface RunningServer {
  port: number;
  /** `http://localhost:<port>` (`https://` with `tls`), the control API's base URL. */
  url: string;
  platform: Platform<Upstream>;
  tokens: TokenService;
  store: Store;
  membership: Membership;
  /** An admin API token, created when `requireAuth` found no API token at all (a fresh server). Shown once. */
  bootstrapToken?: string;
  /** The runtime containers run on. */
  runtime: RuntimeName;
  /** Paths of the state directory other users can read, one line each with its fix (also logged as warnings). */
  warnings: string[];
  /** The embedded platform's session token (without `requireAuth`): what its own CLI sends. */
  sessionToken?: string;
  /** The dashboard's address; on the embedded platform it carries the key that opens it without signing in. */
  dashboardUrl: string;
  /** Requests the gateway is answering now. */
  readonly requestsInFlight: number;
  /**
   * A graceful stop: no new connections; requests and streams in flight
   * get up to `graceMs` to finish (log streams end at once), then `close`.
   * Resolves with the number of requests the grace cut. The port is closed
   * before it returns: a connection attempted after the call is refused.
   */
  shutdown(graceMs: number): Promise<number>;
  /** Stops at once: cuts what is in flight, drains the containers (their `exit` hooks), stops everything. */
  close(): Promise<void>;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { rate: 200, burst: 1000 };

const DEFAULT_EXIT_GRACE_MS = 30_000;
/** Milliseconds an open WebSocket gets to answer its 1001 close frame at shutdown before it is cut. */
const WEBSOCKET_CLOSE_MS = 1_000;
/**
 * `close` ends within the exit grace plus this, whatever is stuck: in-flight
 * requests are cut at once, WebSockets after WEBSOCKET_CLOSE_MS, `exit`
 * hooks are killed 2 s after the grace (process-driver.ts), and anything
 * still holding a container after that is stopped by force.
 */
const SHUTDOWN_MARGIN_MS = 5_000;
/**
 * Milliseconds shutdown then waits for reads of the state store under way
 * (a change being applied), and again for the store to close: a read stuck
 * on something the runtime's close cut must not hold the process.
 */
const STORE_CLOSE_MS = 1_000;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  // Checked before anything starts: a bad option must not leave a runtime's warm agents behind.
  const publicBase = options.publicUrl === undefined ? undefined : parsePublicUrl(options.publicUrl);
  if (publicBase && options.domain !== undefined && options.domain !== publicBase.domain) {
    throw new BerthError("invalid_input", `--domain ${options.domain} and --public-url ${options.publicUrl} disagree: give --public-url alone`);
  }
  const domain = publicBase?.domain ?? options.domain ?? "localhost";
  const scheme = options.tls ? "https" : "http";
  // With PostgreSQL the state directory still holds this node's id, the secrets key, logs and a cache of blobs, but no database.
  prepareHome(options.home, { sqlite: !options.database });
  const logger = options.logger ?? createLogger({ level: "warn" });
  const serverLogger = logger.child({ component: "server" });
  // `berth serve`'s platform keeps its bundles and run folders apart, in a folder that goes with it, however it ends.
  const throwaway = options.ephemeralState ? tempPath(join(options.home, "serve")) : undefined;
  const swept = await sweepDeadRuns(tempRoots(options.home, join(options.home, "run")));
  if (swept.processes.length + swept.paths.length > 0) {
    serverLogger.info({ processes: swept.processes, paths: swept.paths }, "swept what a dead run left behind");
  }
  // What this platform starts and keeps outside the home: ended and removed with it, however it ends.
  const scope = new RunScope(throwaway ? [throwaway] : []);
  let started = false;
  try {
    const store = await openStore({
      home: options.home,
      database: options.database,
      ephemeralApps: options.ephemeralState,
      blobDir: throwaway && join(throwaway, "blobs"),
      logger: logger.child({ component: "store" }),
    });
    try {
      const server = await assemble(options, store, logger, { publicBase, domain, scheme }, { scope, stateDir: throwaway ?? options.home });
      started = true;
      return server;
    } finally {
      if (!started) await store.close();
    }
  } finally {
    if (!started) await scope.close();
  }
}

/** Where function URLs point, worked out from the options before anything starts. */
interface PublicAddress {
  publicBase: PublicBase | undefined;
  domain: string;
  scheme: "http" | "https";
}

/** What this run keeps apart from the home: its processes and throwaway folder (`scope`), and where run folders go (`<stateDir>/run`). */
interface RunPlace {
  scope: RunScope;
  stateDir: string;
}

async function assemble(
  options: ServerOptions,
  store: Store,
  logger: Logger,
  { publicBase, domain, scheme }: PublicAddress,
  { scope, stateDir }: RunPlace,
): Promise<RunningServer> {
  const clock = systemClock;
  const serverLogger = logger.child({ component: "server" });
  const gatewayLogger = logger.child({ component: "gateway" });
  const runRoot = join(stateDir, "run");
  // `serve`'s embedded platform keeps even deployed apps' logs in memory: its state is gone when it stops, and so must they be.
  // Each node keeps the logs of the containers it runs; `berth app logs` through any node asks the others (control/api.ts).
  const ephemeralLogs = new MemoryLogStore(options.appLogBytes);
  const logs = new LogHub({
    persistent: options.ephemeralState ? ephemeralLogs : new FileLogStore(join(options.home, "logs"), { maxBytes: options.appLogBytes, logger: serverLogger }),
    ephemeral: ephemeralLogs,
    clock,
    echo: options.onLog,
  });
  const access = options.accessLog === false ? undefined : new AccessLog({ write: (id, entries) => logs.writeBatch(id, entries), clock, now: Date.now });
  // On disk even for `berth serve`: secrets created with `berth secret create` must reach its functions.
  const { tokens, secrets } = await openSecurity(store.security, options.secretKeyFile ?? defaultKeyFile(options.home));
  const nodeId = nodeIdFor(options.home, options.nodeId);
  // Joins once the gateway listens (its URL needs the port); until then it counts this node alone.
  const membership: Membership = new Membership({
    registry: store.nodes,
    id: nodeId,
    // The run (lifetime/run.ts) on this machine: a server restarted after `kill -9` takes its id back at once.
    instance: `${currentRun}@${hostname()}`,
    instanceGone: (instance) => {
      const at = instance.lastIndexOf("@");
      return at > 0 && instance.slice(at + 1) === hostname() && !isRunAlive(instance.slice(0, at));
    },
    load: () => platform.load(),
    heartbeatMs: options.heartbeatMs,
    timeoutMs: options.nodeTimeoutMs,
    clock,
    logger: logger.child({ component: "cluster" }),
  });
  const rateLimiter = new RateLimiter(options.rateLimit ?? DEFAULT_RATE_LIMIT, { clientLimit: options.clientRateLimit });
  const limitRates = options.rateLimit !== null;
  const failedAuth = options.failedAuthLimit === null ? undefined : new FailedAuthLimiter(options.failedAuthLimit ?? DEFAULT_FAILED_AUTH_LIMIT);
  // Reads the platform's pools only when a slot is missing, so the platform can be created after it.
  const capacity: Capacity = new Capacity({ maxContainers: options.maxContainers, pools: (): Iterable<IdleContainers> => platform.pools() });
  const limits = liveLimits(rateLimiter, capacity, (total, workspace) => membership.share(total, workspace));
  await reloadLimits(store.security, limits);
  const requireAuth = options.requireAuth ?? false;
  const bootstrapToken = requireAuth && !tokens.hasApiTokens() ? await tokens.bootstrapAdminToken(options.workspace) : undefined;
  const sessionToken = requireAuth ? undefined : (options.sessionToken ?? randomBytes(32).toString("base64url"));
  // What the printed dashboard link carries instead of the session token itself (a URL ends up in browser history).
  const dashboardKey = requireAuth ? undefined : randomBytes(32).toString("base64url");
  const trustedProxies = new TrustedProxies(options.trustProxy);
  const clientOf = clientKeyOf(trustedProxies);
  const runtimeName = options.runtime ?? "process";
  const runtime: Runtime = createRuntime({
    runtime: runtimeName,
    home: options.home,
    scope,
    imageCache: options.imageCache,
    buildCaFile: options.buildCaFile,
    warm: options.warmAgents,
    // Only blobs on this node's disk: the platform fetches those of a version's copy steps from the store before building it.
    blobPath: (hash) => (/^[0-9a-f]{64}$/.test(hash) ? store.blobs.localPath(hash) : undefined),
  });
  const { driver, images } = runtime;
  let port = options.port;
  // Scraped later, so the platform it reads from can be created after it.
  const metrics = new Metrics({ services: () => platform.services() }, { clock });
  const platform: Platform<Upstream> = new Platform<Upstream>({
    store,
    placement: membership,
    images,
    driver,
    logs,
    runRoot,
    functionUrl: (hostLabel) => functionUrl(publicBase ?? { scheme, domain, port }, hostLabel),
    agentBundle: AGENT_BUNDLE,
    queueLimit: options.queueLimit,
    capacity,
    capacityWaitMs: options.capacityWaitMs,
    drainGraceMs: options.exitGraceMs,
    keepVersions: options.keepVersions,
    onPoolEvent: (identity, event) => metrics.poolEvent(identity, event),
    secrets,
    connector: { attach: (endpoint, log) => new Upstream(endpoint, gatewayLogger, log), detach: (upstream) => upstream.close() },
    clock,
    logger: logger.child({ component: "control" }),
    poolLogger: logger.child({ component: "router" }),
  });
  const calls = new CallRegistry({
    delayMs: options.callDelayMs,
    resultTtlMs: options.callResultTtlMs,
    clock,
    nodes: { id: nodeId, urlOf: (id) => membership.urlOf(id) },
    logger: gatewayLogger,
  });
  const api = createControlApi({
    platform,
    blobs: store.blobs,
    logs,
    metrics,
    peers: { self: nodeId, others: () => membership.others(), list: () => membership.list() },
    engine: store.engine,
    defaultWorkspace: options.workspace,
    publicMetrics: options.publicMetrics,
    clock,
    security: {
      tokens,
      secrets,
      store: store.security,
      limits,
      sessionToken,
      defaultWorkspace: options.workspace,
      failedAuth,
      clientOf,
      clock,
    },
    logger: logger.child({ component: "control" }),
  });
  const dashboard = createDashboard({
    platform,
    metrics,
    tokens,
    control: (request, env) => api.fetch(request, env),
    local: sessionToken && dashboardKey ? { key: dashboardKey, credential: sessionToken, workspace: options.workspace } : undefined,
    // In the store every node shares (`berth serve`: in its memory), sealed with the secrets key every node holds.
    sessions: { rows: store.sessions, sealer: secrets.sealer("berth-dashboard") },
    clock,
    logger: logger.child({ component: "dashboard" }),
    httpsHost: publicBase?.scheme === "https" ? publicHost(publicBase) : undefined,
  });
  // The bare host: the control API and /metrics, and the dashboard on every other path.
  const bareHost = (request: Request, env: unknown) => {
    const path = new URL(request.url).pathname;
    return path.startsWith("/api/") || path === "/metrics" ? api.fetch(request, env as never) : dashboard.fetch(request, env as never);
  };
  const gateway = createGateway({
    domain,
    tls: options.tls,
    routes: platform,
    trustedProxies,
    guards: new Guards({
      limits: { ...DEFAULT_LIMITS, ...options.limits },
      proxyAuth: tokens,
      rateLimiter: limitRates ? rateLimiter : undefined,
      failedAuth,
      clientOf,
      clock,
    }),
    control: getRequestListener(bareHost, { overrideGlobalObjects: false }),
    calls,
    observer: metrics,
    access,
    clock,
    logger: gatewayLogger,
  });
  const uninstallCrashGuard = installCrashGuard(serverLogger);
  // Nothing started here may outlive a failed start (`serve` tries another port when this one is taken); startServer closes the store.
  const abandon = async () => {
    gateway.close();
    uninstallCrashGuard();
    calls.close();
    await runtime.close();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      gateway.once("error", reject);
      gateway.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
    });
  } catch (error) {
    await abandon();
    throw error;
  }
  port = listeningPort(gateway.address());
  const nodes = membership;
  const sync = new StateSync({
    store,
    platform,
    tokens,
    limits,
    nodes,
    resyncMs: options.resyncMs,
    clock,
    logger: logger.child({ component: "sync" }),
  });
  try {
    await nodes.join(advertiseUrlFor(options.host ?? "127.0.0.1", port, options.advertiseUrl, scheme));
  } catch (error) {
    await abandon();
    throw error;
  }
  const spread = () => {
    rateLimiter.setShare(1 / nodes.live().length);
    limits.respread();
    platform.respread();
  };
  nodes.onChange(spread);
  spread();
  sync.start();
  await platform.restore(nodes.live().length === 1);
  serverLogger.info(
    { port, home: options.home, workspace: options.workspace, node: nodeId, store: store.engine, nodes: nodes.live(), runtime: runtimeName },
    "listening",
  );
  const warnings = homePermissionWarnings(options.home, options.secretKeyFile ? [options.secretKeyFile] : []);
  for (const warning of warnings) serverLogger.warn(warning);

  let closing: Promise<void> | undefined;
  const running: RunningServer = {
    port,
    url: `${scheme}://localhost:${port}`,
    platform,
    tokens,
    store,
    membership: nodes,
    bootstrapToken,
    runtime: runtimeName,
    warnings,
    get requestsInFlight() {
      return gateway.requestsInFlight;
    },
    async shutdown(graceMs) {
      logs.endFollowers();
      const cut = await gateway.finishRequests(graceMs);
      await running.close();
      return cut;
    },
    sessionToken,
    dashboardUrl: `${publicBase ? `${publicBase.scheme}://${publicHost(publicBase)}` : `${scheme}://localhost:${port}`}/${dashboardKey ? `?key=${dashboardKey}` : ""}`,
    close() {
      closing ??= (async () => {
        sync.close();
        await nodes.leave();
        gateway.close();
        gateway.closeAllConnections();
        calls.close();
        metrics.close();
        // Draining sends every open WebSocket a 1001 close frame; a peer that has not answered it soon is cut.
        const drained = platform.close();
        const cancelCut = clock.after(WEBSOCKET_CLOSE_MS, () => gateway.closeWebSockets());
        const graceMs = options.exitGraceMs ?? DEFAULT_EXIT_GRACE_MS;
        let cancelDeadline: Cancel | undefined;
        const late = await Promise.race([
          drained.then(() => false),
          new Promise<boolean>((resolve) => (cancelDeadline = clock.after(graceMs + SHUTDOWN_MARGIN_MS, () => resolve(true)))),
        ]);
        cancelDeadline?.();
        cancelCut();
        if (late) serverLogger.error({ waitedMs: graceMs + SHUTDOWN_MARGIN_MS }, "shutdown still waiting after the exit grace; stopping every container now");
        gateway.closeWebSockets();
        // Stops whatever is left at once: containers of a drain that never ended, warm agents.
        await runtime.close();
        if (!(await within(sync.settled(), STORE_CLOSE_MS, clock))) serverLogger.warn("reads of the state store still under way at shutdown; closing it under them");
        access?.flush();
        logs.flush();
        const storeClosed = store.close().catch((error: unknown) => serverLogger.warn({ err: error }, "closing the state store failed"));
        if (!(await within(storeClosed, STORE_CLOSE_MS, clock))) serverLogger.warn("the state store did not close in time; leaving it");
        await scope.close();
        uninstallCrashGuard();
      })();
      return closing;
    },
  };
  return running;
}

/** Folders where files are written aside and renamed into place: a dead run's unfinished ones are swept from them. */
function tempRoots(home: string, runRoot: string): string[] {
  let runDirs: string[] = [];
  try {
    runDirs = readdirSync(runRoot).map((name) => join(runRoot, name));
  } catch {}
  return [home, join(home, "images"), join(home, "blobs", "sha256"), join(home, "uploads"), runRoot, ...runDirs];
}

/**
 * The rate limiter and the container capacity as the control API's limit
 * routes change them. A workspace's container cap is the platform's: this
 * node enforces its share among the live nodes (`share`, the same split as
 * minContainers), at least one container so that every node can serve the
 * workspace, unless the cap is 0. `respread` applies the shares again when
 * the live nodes change. The server-wide `--max-containers` is this
 * machine's own and is not shared.
 */
function liveLimits(rates: RateLimiter, capacity: Capacity, share: (total: number, workspace: string) => number): LiveLimits & { respread(): void } {
  const caps = new Map<string, number>();
  const apply = (workspace: string, containers: number) => capacity.setWorkspaceLimit(workspace, containers === 0 ? 0 : Math.max(1, share(containers, workspace)));
  return {
    limitOf: (workspace) => rates.limitOf(workspace),
    clientLimitOf: (workspace) => rates.clientLimitOf(workspace),
    containerLimitOf: (workspace) => caps.get(workspace) ?? null,
    maxContainers: capacity.maxContainers,
    set(limit) {
      const rate = limit.rate !== undefined && limit.burst !== undefined ? { rate: limit.rate, burst: limit.burst } : undefined;
      const client = limit.clientRate !== undefined && limit.clientBurst !== undefined ? { rate: limit.clientRate, burst: limit.clientBurst } : undefined;
      rates.setLimit(limit.workspace, rate, client);
      if (limit.containers === undefined) {
        caps.delete(limit.workspace);
        capacity.setWorkspaceLimit(limit.workspace, null);
      } else {
        caps.set(limit.workspace, limit.containers);
        apply(limit.workspace, limit.containers);
      }
    },
    respread() {
      for (const [workspace, containers] of caps) apply(workspace, containers);
    },
  };
}

/**
 * The key of a request's client in the per-address limits: the peer's
 * address, or behind a trusted proxy (`--trust-proxy`) the address it
 * forwarded for; an IPv6 client as its /64 (client-ip.ts).
 */
function clientKeyOf(trusted: TrustedProxies): (req: IncomingMessage) => string {
  return (req) => {
    const peer = req.socket.remoteAddress ?? "";
    if (trusted.empty) return rateKey(peer);
    const normal = normaliseAddress(peer);
    if (!trusted.has(normal)) return rateKey(peer);
    return rateKey(clientAddress(normal, req.headersDistinct["x-forwarded-for"]?.join(", "), trusted).clientIp);
  };
}

/** Whether `work` (which never rejects) settles within `ms`. */
async function within(work: Promise<unknown>, ms: number, clock: Clock): Promise<boolean> {
  let cancel: Cancel | undefined;
  const done = await Promise.race([
    work.then(() => true),
    new Promise<boolean>((resolve) => (cancel = clock.after(ms, () => resolve(false)))),
  ]);
  cancel?.();
  return done;
}

/** The port of a server listening on TCP (`address()` is a string only for a pipe). */
function listeningPort(address: AddressInfo | string | null): number {
  if (address === null || typeof address === "string") throw new Error(`the gateway is not listening on a TCP port (${address})`);
  return address.port;
}
