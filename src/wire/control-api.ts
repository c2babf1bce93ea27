/**
 * The control API's wire types: the JSON that crosses `/api/*` between the
 * server (control/api.ts, security-api.ts), the CLI (cli/client.ts) and the
 * dashboard. Types only, and the one place they are written: the server
 * builds its answers as these types and the clients read them as these
 * types, so a change to either side that breaks the other fails to compile.
 * Errors travel as the error table's `ErrorBody` (errors/codes.ts).
 */
import type { ErrorBody } from "../errors/codes.js";
import type { AppManifest, FunctionKind } from "../sdk/contract.js";

/** Bumped when a route changes incompatibly; `GET /api/health` reports it. */
export const API_VERSION = 1;

/** `GET /api/health` */
export interface Health {
  ok: true;
  api: number;
  /** The server's default workspace. */
  workspace: string;
  /** Always true: every route but health demands a token (an API token, or on `berth serve`'s embedded platform its session token). */
  auth: boolean;
}

/** `POST /api/apps` */
export interface DeployRequest {
  /** Another workspace than the token's (admin tokens only). */
  workspace?: string;
  /** `berth serve`'s apps: `-dev` URLs, removed when the session ends. */
  ephemeral: boolean;
  /** SHA-256 of the bundle, uploaded before with `PUT /api/blobs/:sha256`. */
  bundleHash: string;
  manifest: AppManifest;
  /**
   * Made up by the client (a UUID) so that the deploy runs once however often
   * it is sent: a retry after a broken connection gets the same version,
   * even while the first request is still running.
   */
  deployId?: string;
}

/** `POST /api/apps/:name/rollback`; without `version`, the version before the current one. */
export interface RollbackRequest {
  version?: number;
  /** As `DeployRequest.deployId`: the rollback runs once per id. */
  deployId?: string;
}

export type AppState = "deployed" | "stopped";

/** An app as the control plane records it. Times are milliseconds since the epoch. */
export interface AppInfo {
  id: string;
  workspace: string;
  name: string;
  /** Run by `berth serve` (`-dev` URLs) rather than deployed. */
  ephemeral: boolean;
  state: AppState;
  /** Id of the version that serves traffic. */
  currentVersionId: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface FunctionSummary {
  name: string;
  kind: FunctionKind;
  /** The function's public URL. */
  url: string;
}

/** The `result` line of a deploy or rollback. */
export interface DeployResult {
  app: AppInfo;
  /** The new version's number (1, 2, 3 ... per app). */
  version: number;
  functions: FunctionSummary[];
}

/** Deploys and rollbacks answer NDJSON: progress lines as they happen, then one result or error line. */
export type ProgressLine =
  | { type: "progress"; message: string }
  | ({ type: "result" } & DeployResult)
  | ({ type: "error" } & ErrorBody);

/** `GET /api/apps` → `{ apps }` */
export interface AppSummary extends AppInfo {
  /** The current version's number, null before the first. */
  version: number | null;
  /** Empty when the app is stopped. */
  functions: FunctionSummary[];
}

export interface AppList {
  apps: AppSummary[];
}

/** One container pool: a function version's containers for one parameter set. */
export interface PoolStats {
  starting: number;
  ready: number;
  draining: number;
  /** Inputs being served now. */
  inFlight: number;
  /** Inputs waiting for a free container. */
  queued: number;
  /** Containers started so far (each one a cold start). */
  coldStarts: number;
  startFailures: number;
  /** Milliseconds until the next start attempt after failures (0 when not backing off). */
  backoffMs: number;
  lastError?: string;
}

export interface PoolStatsView extends PoolStats {
  /** The parameter set, `root="/" n=2`; empty for functions without params. */
  params: string;
}

/**
 * One container of a pool, as the dashboard lists it. `busy` is a ready
 * container serving at least one input; `ready` is one with none.
 */
export interface ContainerView {
  id: string;
  state: "starting" | "ready" | "busy" | "draining";
  inFlight: number;
  /** Inputs it takes at once (the function's `maxInputs`). */
  maxInputs: number;
  /** Milliseconds since it was asked to start. */
  ageMs: number;
  /** Milliseconds since its last input finished; null while busy or starting. */
  idleMs: number | null;
}

/** Recent request latency of a function (the last 1024 requests). */
export interface LatencySummary {
  /** Requests in the window. */
  count: number;
  /** Milliseconds, or null with no requests. */
  p50: number | null;
  p99: number | null;
}

/** One function version of an app on one node: its current version, or an older one still draining. */
export interface FunctionStats {
  /** The node whose pools these are. */
  node: string;
  function: string;
  /** The host label `<workspace>--<label>[-dev]`. */
  host: string;
  versionId: string;
  draining: boolean;
  pools: PoolStatsView[];
  latencyMs: LatencySummary;
}

/** `GET /api/apps/:name/stats`: every live node's pools (`?local=1`: the answering node's only). */
export interface AppStats {
  functions: FunctionStats[];
  /** Live nodes that could not be asked, with why: their pools are missing from `functions`. */
  unreachable?: { node: string; error: string }[];
}

/**
 * Where a log line came from: `stdout`/`stderr`, the container's own output;
 * `system`, the platform about a container (ready, crashed, scaled down);
 * `access`, one line per proxied request, written by the gateway.
 */
export type LogStream = "stdout" | "stderr" | "system" | "access";

/** The request an access line describes. */
export interface AccessInfo {
  method: string;
  /** The path, and the query string's parameter names with their values left out (`/items?page=…&token=…`). */
  path: string;
  /** What the client got; 499 when it left before any answer. */
  status: number;
  /** Milliseconds from arrival to the end of the response. */
  durationMs: number;
  /** Milliseconds of the wait spent on the start of the container that served it; 0 when it was already running. */
  coldStartMs: number;
}

/** One line of an app's log, as `GET /api/apps/:name/logs` returns it and `berth app logs --json` prints it. */
export interface LogEntry {
  /** Milliseconds since the epoch, when the platform received the line. */
  time: number;
  /** The node that ran the container; set on entries from a platform of several nodes. */
  node?: string;
  app: string;
  function: string;
  /** The container that wrote it (or served the request, for access lines); empty when none did. */
  container: string;
  stream: LogStream;
  /** The `berth-request-id` of the request during which the line was written; absent outside requests. */
  requestId?: string;
  line: string;
  /** The line was longer than the line cap (16 KiB) and goes on in the next entry of the same container and stream. */
  continued?: true;
  /** Access lines only. */
  access?: AccessInfo;
}

/**
 * `GET /api/apps/:name/logs` without `follow`: one bounded page. `cursor`
 * is an opaque position: pass it as `after` to read on from where the page
 * ended (and `more` says whether entries already wait there).
 */
export interface LogPage {
  entries: LogEntry[];
  cursor: string;
  more: boolean;
}

/** Who made a version: the API token that deployed it (`local` for `berth serve`'s embedded platform). */
export interface Deployer {
  tokenId: string;
  /** The token's name when it was used (may be empty). */
  name: string;
}

/** One version of an app. */
export interface VersionInfo {
  /** The version's id (`FunctionStats.versionId` names it). */
  id: string;
  /** 1, 2, 3 ... per app. */
  number: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** SHA-256 of the bundle. */
  bundleHash: string;
  /** Null for versions recorded before deployers were. */
  deployedBy: Deployer | null;
  /** The version serving traffic (false for every version of a stopped app). */
  current: boolean;
}

/** `GET /api/apps/:name/versions`, oldest first. */
export interface VersionList {
  versions: VersionInfo[];
}

/** `api`: the control API (`berth deploy`, ...). `proxy`: `Berth-Key`/`Berth-Secret` for protected endpoints. */
export type TokenKind = "api" | "proxy";

/** `POST /api/tokens` */
export interface TokenRequest {
  kind: TokenKind;
  /** A note shown by `berth token list`, at most 100 characters. */
  name?: string;
  /** An admin API token (needs an admin token). */
  admin?: boolean;
  workspace?: string;
}

/** A token as listed: never its secret. */
export interface TokenView {
  /** `bt_<16 hex>` (API) or `wk-<16 hex>` (proxy key). */
  id: string;
  kind: TokenKind;
  workspace: string;
  /** API tokens only: may act on every workspace. */
  admin: boolean;
  name: string;
  createdAt: number;
  /** Null while the token is valid. */
  revokedAt: number | null;
}

/** A token just issued (`201 { token }`): its secret, shown once. */
export interface IssuedToken extends TokenView {
  /** API tokens: `bt_<id>_<secret>`, what `--token` and `BERTH_TOKEN` take. */
  token?: string;
  /** Proxy tokens: `wk-…`, sent as `Berth-Key`. */
  key?: string;
  /** Proxy tokens: `ws-…`, sent as `Berth-Secret`. */
  secret?: string;
}

/** `PUT /api/secrets/:name` */
export interface SecretRequest {
  values: Record<string, string>;
}

/** A secret as listed: names of its keys, never values. */
export interface SecretView {
  name: string;
  keys: string[];
  createdAt: number;
  updatedAt: number;
}

/** A token bucket: `rate` requests per second sustained, `burst` at once from a full bucket. */
export interface RateLimit {
  rate: number;
  burst: number;
}

/** `GET /api/workspaces/:name/limit`: the limits in force, and which are the workspace's own. */
export interface WorkspaceLimitView extends RateLimit {
  workspace: string;
  /** False when `rate` and `burst` are the server's default. */
  custom: boolean;
  /** One client address's limit on the workspace's public endpoints (default: a quarter of `rate` and `burst`). */
  client: RateLimit;
  /** False when `client` is the server's default. */
  clientCustom: boolean;
  /** The workspace's own cap on live containers, or null when only the server's applies. */
  containers: number | null;
  /** The server's cap on live containers, all workspaces together (`--max-containers`). */
  serverContainers: number;
}

/**
 * `PUT /api/workspaces/:name/limit` (admin): each field given replaces the
 * workspace's own setting, `null` returns it to the server's default, and
 * one left out keeps what it was. A rate without a burst gets 5 s worth.
 */
export interface WorkspaceLimitRequest {
  /** Requests per second, all clients together. */
  rate?: number | null;
  burst?: number | null;
  /** Requests per second from one client address on public endpoints. */
  clientRate?: number | null;
  clientBurst?: number | null;
  /** Live containers at once (starting, ready and draining). */
  containers?: number | null;
}

/** What a node is doing, as its last heartbeat reported it. */
export interface NodeLoad {
  /** Apps it serves. */
  apps: number;
  /** Containers starting or ready. */
  containers: number;
  /** Inputs being served now. */
  inFlight: number;
  /** Inputs waiting for a container. */
  queued: number;
}

/** One `berth server` sharing the platform's database. */
export interface NodeView {
  id: string;
  /** Where the other nodes reach it. */
  url: string;
  /** The node that answered this request. */
  self: boolean;
  /** Heard from within the node timeout; a node that is not live serves nothing and holds no share. */
  live: boolean;
  /** Milliseconds since the epoch when its process started. */
  startedAt: number;
  /** Milliseconds since its last heartbeat. */
  lastSeenMs: number;
  load: NodeLoad;
}

/** `GET /api/nodes` */
export interface NodeList {
  /** `sqlite` or `postgres`. */
  engine: string;
  nodes: NodeView[];
}

/** An image of the server's cache (`GET /api/images`). Times are milliseconds since the epoch. */
export interface ImageView {
  /** The image's content id (its last layer's key). */
  id: string;
  /** Its steps after the Debian and Node base, as declared: `aptInstall python3`. */
  steps: string[];
  /** Layers under it, the base included. */
  layers: number;
  /** Bytes of all its layers (shared ones included). */
  sizeBytes: number;
  createdAt: number;
  lastUsedAt: number;
  /** `workspace/app` of each app whose containers run it now. */
  usedBy: string[];
}

/** `GET /api/images` (admin) */
export interface ImageList {
  images: ImageView[];
}

/** `POST /api/images/prune` (admin) */
export interface PruneRequest {
  /** Also the Debian and Node base layers (minutes to build again). */
  all?: boolean;
}

/** What `POST /api/images/prune` removed. */
export interface PruneResultView {
  images: string[];
  layers: string[];
  bytes: number;
}
