/**
 * The control API client: the only way the CLI talks to a platform, local
 * or remote. It speaks the wire types of wire/control-api.ts; every failure
 * is a `BerthError` with the server's code, worded to say what to do:
 * `unreachable` when no server could be connected to (the request never
 * left), `connection_lost` when a connection broke after the request went
 * out (the server may have acted on it). Deploys and rollbacks carry an id,
 * so they are asked again after a lost connection without running twice.
 */
import { randomUUID } from "node:crypto";
import { BerthError, messageOf, systemCode } from "../errors/codes.js";
import { httpRequest, type HttpAnswer, type HttpInit } from "./http.js";
import { ndjsonLines } from "../wire/ndjson.js";
import type {
  AppList,
  AppStats,
  AppSummary,
  DeployRequest,
  DeployResult,
  Health,
  ImageList,
  ImageView,
  IssuedToken,
  LogEntry,
  NodeList,
  LogPage,
  ProgressLine,
  PruneRequest,
  PruneResultView,
  RollbackRequest,
  SecretView,
  TokenRequest,
  TokenView,
  VersionInfo,
  VersionList,
  WorkspaceLimitRequest,
  WorkspaceLimitView,
} from "../wire/control-api.js";

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly workspace?: string,
    /** API token (`bt_…`), sent as `Authorization: Bearer`. */
    private readonly token?: string,
  ) {}

  private url(path: string, query: Record<string, string> = {}): string {
    const url = new URL(path, this.baseUrl);
    if (this.workspace) url.searchParams.set("workspace", this.workspace);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    return url.toString();
  }

  private async call(path: string, init: HttpInit = {}, query: Record<string, string> = {}): Promise<HttpAnswer> {
    let response: HttpAnswer;
    try {
      const headers = { ...init.headers };
      if (this.token) headers.authorization = `Bearer ${this.token}`;
      response = await httpRequest(this.url(path, query), { ...init, headers });
    } catch (error) {
      if (neverSent(error)) {
        throw new BerthError(
          "unreachable",
          `no berth server reachable at ${this.baseUrl} (${causeOf(error)}): start one with \`npx berth server\`, or point --server / BERTH_SERVER at yours`,
          { cause: error },
        );
      }
      throw lostConnection(this.baseUrl, error);
    }
    if (response.ok) return response;
    const body: unknown = response.headers.get("content-type")?.includes("application/json") ? await response.json().catch(() => undefined) : undefined;
    if (body === undefined) response.cancel();
    throw BerthError.fromResponse(response.status, body);
  }

  private async json<T>(path: string, method: string, body?: unknown, query: Record<string, string> = {}): Promise<T> {
    const init: HttpInit = body === undefined ? { method } : { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
    // The wire types are the contract: the server builds its answers as T.
    return (await (await this.call(path, init, query)).json()) as T;
  }

  health(): Promise<Health> {
    return this.json("/api/health", "GET");
  }

  async createToken(request: TokenRequest): Promise<IssuedToken> {
    return (await this.json<{ token: IssuedToken }>("/api/tokens", "POST", request)).token;
  }

  async listTokens(all = false): Promise<TokenView[]> {
    return (await this.json<{ tokens: TokenView[] }>("/api/tokens", "GET", undefined, all ? { all: "1" } : {})).tokens;
  }

  async revokeToken(id: string): Promise<void> {
    await this.json(`/api/tokens/${encodeURIComponent(id)}`, "DELETE");
  }

  async createSecret(name: string, values: Record<string, string>): Promise<SecretView> {
    return (await this.json<{ secret: SecretView }>(`/api/secrets/${encodeURIComponent(name)}`, "PUT", { values })).secret;
  }

  async listSecrets(): Promise<SecretView[]> {
    return (await this.json<{ secrets: SecretView[] }>("/api/secrets", "GET")).secrets;
  }

  async deleteSecret(name: string): Promise<void> {
    await this.json(`/api/secrets/${encodeURIComponent(name)}`, "DELETE");
  }

  workspaceLimit(workspace: string): Promise<WorkspaceLimitView> {
    return this.json(`/api/workspaces/${encodeURIComponent(workspace)}/limit`, "GET");
  }

  setWorkspaceLimit(workspace: string, limit: WorkspaceLimitRequest): Promise<WorkspaceLimitView> {
    return this.json(`/api/workspaces/${encodeURIComponent(workspace)}/limit`, "PUT", limit);
  }


  async uploadBlob(hash: string, data: Uint8Array): Promise<void> {
    await this.call(`/api/blobs/${hash}`, { method: "PUT", body: data, headers: { "content-type": "application/octet-stream" } });
  }

  /** Deploys once, whatever happens to the connection (see `once`); a `deployId` is made up unless given. */
  deploy(request: DeployRequest, onProgress: (message: string) => void): Promise<DeployResult> {
    const deployId = request.deployId ?? randomUUID();
    return this.once("deploy", deployId, () => this.progressCall("/api/apps", { ...request, deployId }, onProgress), onProgress);
  }

  rollback(name: string, version: number | undefined, onProgress: (message: string) => void): Promise<DeployResult> {
    const deployId = randomUUID();
    const request: RollbackRequest = version === undefined ? { deployId } : { version, deployId };
    return this.once("rollback", deployId, () => this.progressCall(`/api/apps/${encodeURIComponent(name)}/rollback`, request, onProgress), onProgress);
  }

  /**
   * Runs a request that carries a deploy id until its outcome is known: when
   * the connection breaks before the answer (the server may have taken the
   * deploy), the same request is sent again, which the server answers with
   * the same version rather than a second one. While the server cannot be
   * reached the tries go on with growing pauses (~7 s in all); then the
   * outcome is unknown, and the error says so and how to find out.
   */
  private async once(what: string, deployId: string, send: () => Promise<DeployResult>, onProgress: (message: string) => void): Promise<DeployResult> {
    let lost: BerthError | undefined;
    for (const pauseMs of [...RETRY_PAUSES_MS, undefined]) {
      try {
        return await send();
      } catch (error) {
        // Before any lost connection, an unreachable server never got the request: that is the honest answer.
        const unknown = error instanceof BerthError && (error.code === "connection_lost" || (lost !== undefined && error.code === "unreachable"));
        if (!unknown) throw error;
        const first = lost === undefined;
        lost ??= error;
        if (pauseMs === undefined) break;
        onProgress(
          first
            ? `the connection to ${this.baseUrl} broke before the ${what}'s outcome arrived (${causeOf(error.cause)}); asking again by its id ${deployId}...`
            : `no answer from ${this.baseUrl} yet (${causeOf(error.cause)}); asking again in ${pauseMs / 1000} s...`,
        );
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }
    throw new BerthError(
      "connection_lost",
      `the connection to ${this.baseUrl} broke before the ${what}'s outcome arrived, and the server has not answered since: ` +
        `the outcome is unknown (the server may have done it). \`berth app list\` shows the version that runs (${what} id ${deployId}); running it again is safe.`,
      { cause: lost },
    );
  }

  private async progressCall(path: string, body: DeployRequest | RollbackRequest, onProgress: (message: string) => void): Promise<DeployResult> {
    const response = await this.call(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    try {
      for await (const line of ndjsonLines<ProgressLine>(response.body)) {
        if (line.type === "progress") onProgress(line.message);
        else if (line.type === "error") throw BerthError.fromResponse(500, line);
        else return { app: line.app, version: line.version, functions: line.functions };
      }
    } catch (error) {
      if (error instanceof BerthError) throw error;
      throw lostConnection(this.baseUrl, error);
    }
    throw lostConnection(this.baseUrl, new Error("the answer ended without a result"));
  }

  listNodes(): Promise<NodeList> {
    return this.json("/api/nodes", "GET");
  }

  async listApps(): Promise<AppSummary[]> {
    return (await this.json<AppList>("/api/apps", "GET")).apps;
  }

  /** `dev` names the app `serve` runs rather than the deployed app of the same name. */
  async stopApp(name: string, dev = false): Promise<void> {
    await this.call(`/api/apps/${encodeURIComponent(name)}/stop`, { method: "POST" }, dev ? { dev: "1" } : {});
  }

  stats(name: string, dev = false): Promise<AppStats> {
    return this.json(`/api/apps/${encodeURIComponent(name)}/stats`, "GET", undefined, dev ? { dev: "1" } : {});
  }

  async listImages(): Promise<ImageView[]> {
    return (await this.json<ImageList>("/api/images", "GET")).images;
  }

  pruneImages(all: boolean): Promise<PruneResultView> {
    const request: PruneRequest = { all };
    return this.json("/api/images/prune", "POST", request);
  }

  /** The OCI layout of a function's image, as a tar stream, and its tag. */
  async exportImage(app: string, fn: string, dev = false): Promise<{ ref: string; body: AsyncIterable<Uint8Array> }> {
    const response = await this.call(`/api/apps/${encodeURIComponent(app)}/functions/${encodeURIComponent(fn)}/image`, {}, dev ? { dev: "1" } : {});
    return { ref: response.headers.get("berth-image-ref") ?? "", body: response.body };
  }

  /** Every version of an app, oldest first. */
  async versions(name: string, dev = false): Promise<VersionInfo[]> {
    return (await this.json<VersionList>(`/api/apps/${encodeURIComponent(name)}/versions`, "GET", undefined, dev ? { dev: "1" } : {})).versions;
  }

  /** One page of an app's log (see `LogRequest`); `after` reads on from an earlier page's cursor. */
  logPage(name: string, request: LogRequest & { after?: string }): Promise<LogPage> {
    return this.json(`/api/apps/${encodeURIComponent(name)}/logs`, "GET", undefined, logQuery(request));
  }

  /**
   * Hands over an app's log entries in order: the newest `tail`, or all
   * since `since` (page by page), or with neither every entry kept; with
   * `follow`, then every new one until `signal` aborts.
   */
  async logs(name: string, request: LogRequest & { follow?: boolean; signal?: AbortSignal }, onEntry: (entry: LogEntry) => void): Promise<void> {
    const { follow, signal } = request;
    if (!follow) {
      for (let page: LogPage | undefined; !page || page.more; ) {
        page = await this.logPage(name, { ...request, after: page?.cursor });
        for (const entry of page.entries) onEntry(entry);
      }
      return;
    }
    const response = await this.call(`/api/apps/${encodeURIComponent(name)}/logs`, { signal }, { ...logQuery(request), follow: "1" });
    try {
      for await (const entry of ndjsonLines<LogEntry>(response.body)) onEntry(entry);
    } catch (error) {
      if (!signal?.aborted) throw error;
    }
  }
}

/** Pauses between the tries of a deploy whose connection broke: ~7.5 s in all, enough for a server restart. */
const RETRY_PAUSES_MS = [500, 1000, 2000, 4000];

/**
 * Failures of a connection that was made, after which the server may have
 * received the request and acted on it (`node:http` says "socket hang up",
 * ECONNRESET, for a connection closed before or while its answer arrived).
 * Anything else (a refused or unresolvable connection, a refused
 * certificate) ends before the request leaves.
 */
const LOST_AFTER_CONNECT = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);

function neverSent(error: unknown): boolean {
  return !LOST_AFTER_CONNECT.has(causeOf(error));
}

function lostConnection(baseUrl: string, error: unknown): BerthError {
  return new BerthError("connection_lost", `the connection to ${baseUrl} broke before its answer arrived (${causeOf(error)}); the outcome is unknown`, {
    cause: error,
  });
}

/** Which entries of an app's log to read. */
export interface LogRequest {
  /** The app `berth serve` runs, not the deployed one of that name. */
  dev?: boolean;
  /** The newest N entries (at most 5000). */
  tail?: number;
  /** Entries written at or after this time (milliseconds since the epoch). */
  since?: number;
  function?: string;
  requestId?: string;
}

function logQuery(request: LogRequest & { after?: string }): Record<string, string> {
  const query: Record<string, string> = {};
  if (request.dev) query.dev = "1";
  if (request.tail !== undefined) query.tail = String(request.tail);
  if (request.since !== undefined) query.since = String(request.since);
  if (request.function !== undefined) query.function = request.function;
  if (request.requestId !== undefined) query.request = request.requestId;
  if (request.after !== undefined) query.after = request.after;
  return query;
}

/** Why a request failed, in a word: `ECONNREFUSED`, else the message. */
function causeOf(error: unknown): string {
  return systemCode(error) ?? messageOf(error);
}

