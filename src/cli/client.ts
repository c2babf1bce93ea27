/**
 * The control API client: the only way the CLI talks to a platform, local
 * or remote. Connection failures become one-line errors that say what to do.
 */
import type { LogEntry } from "../control/logs.js";
import type { DeployResult } from "../control/platform.js";
import type { AppManifest } from "../sdk/contract.js";

export class CliError extends Error {
  override readonly name = "CliError";
}

export interface AppSummary {
  name: string;
  workspace: string;
  state: string;
  ephemeral: boolean;
  version: number | null;
  updatedAt: number;
  functions: { name: string; kind: string; url: string }[];
}

export interface TokenSummary {
  id: string;
  kind: "api" | "proxy";
  workspace: string;
  admin: boolean;
  name: string;
  createdAt: number;
  revokedAt: number | null;
}

/** A new token: `token` for API tokens, `key` and `secret` for proxy tokens. */
export interface IssuedToken extends TokenSummary {
  token?: string;
  key?: string;
  secret?: string;
}

export interface ImageListing {
  id: string;
  steps: string[];
  layers: number;
  sizeBytes: number;
  createdAt: number;
  lastUsedAt: number;
  /** `workspace/app` of each app whose containers run the image now. */
  usedBy: string[];
}

export interface SecretSummary {
  name: string;
  keys: string[];
  createdAt: number;
  updatedAt: number;
}

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

  private async call(path: string, init: RequestInit = {}, query: Record<string, string> = {}): Promise<Response> {
    let response: Response;
    try {
      const headers = new Headers(init.headers);
      if (this.token) headers.set("authorization", `Bearer ${this.token}`);
      response = await fetch(this.url(path, query), { ...init, headers });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new CliError(
        `no berth server reachable at ${this.baseUrl} (${cause}): start one with \`npx berth server\`, or point --server / BERTH_SERVER at yours`,
      );
    }
    if (!response.ok && response.headers.get("content-type")?.includes("application/json")) {
      const body = (await response.json()) as { error?: { message?: string; issues?: { loc: unknown[]; message: string }[] } };
      const issues = body.error?.issues?.map((i) => `\n  ${i.loc.join(".")}: ${i.message}`).join("") ?? "";
      throw new CliError(`${body.error?.message ?? `HTTP ${response.status}`}${issues}`);
    }
    if (!response.ok) throw new CliError(`the server answered HTTP ${response.status} to ${path}`);
    return response;
  }

  async health(): Promise<{ ok: boolean; workspace: string; auth?: boolean }> {
    return (await (await this.call("/api/health")).json()) as { ok: boolean; workspace: string; auth?: boolean };
  }

  private async json<T>(path: string, method: string, body?: unknown, query: Record<string, string> = {}): Promise<T> {
    const init: RequestInit = body === undefined ? { method } : { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
    return (await (await this.call(path, init, query)).json()) as T;
  }

  async createToken(request: { kind: "api" | "proxy"; name?: string; admin?: boolean; workspace?: string }): Promise<IssuedToken> {
    return (await this.json<{ token: IssuedToken }>("/api/tokens", "POST", request)).token;
  }

  async listTokens(all = false): Promise<TokenSummary[]> {
    return (await this.json<{ tokens: TokenSummary[] }>("/api/tokens", "GET", undefined, all ? { all: "1" } : {})).tokens;
  }

  async revokeToken(id: string): Promise<void> {
    await this.json(`/api/tokens/${encodeURIComponent(id)}`, "DELETE");
  }

  async createSecret(name: string, values: Record<string, string>): Promise<SecretSummary> {
    return (await this.json<{ secret: SecretSummary }>(`/api/secrets/${encodeURIComponent(name)}`, "PUT", { values })).secret;
  }

  async listSecrets(): Promise<SecretSummary[]> {
    return (await this.json<{ secrets: SecretSummary[] }>("/api/secrets", "GET")).secrets;
  }

  async deleteSecret(name: string): Promise<void> {
    await this.json(`/api/secrets/${encodeURIComponent(name)}`, "DELETE");
  }

  async workspaceLimit(workspace: string): Promise<{ workspace: string; rate: number; burst: number; custom: boolean }> {
    return this.json(`/api/workspaces/${encodeURIComponent(workspace)}/limit`, "GET");
  }

  async setWorkspaceLimit(workspace: string, limit: { rate: number; burst: number }): Promise<void> {
    await this.json(`/api/workspaces/${encodeURIComponent(workspace)}/limit`, "PUT", limit);
  }

  async uploadBlob(hash: string, data: Uint8Array): Promise<void> {
    await this.call(`/api/blobs/${hash}`, { method: "PUT", body: new Uint8Array(data), headers: { "content-type": "application/octet-stream" } });
  }

  async deploy(
    request: { bundleHash: string; manifest: AppManifest; ephemeral: boolean },
    onProgress: (message: string) => void,
  ): Promise<DeployResult> {
    return this.progressCall("/api/apps", request, onProgress);
  }

  async rollback(name: string, version: number | undefined, onProgress: (message: string) => void): Promise<DeployResult> {
    return this.progressCall(`/api/apps/${encodeURIComponent(name)}/rollback`, version === undefined ? {} : { version }, onProgress);
  }

  private async progressCall(path: string, body: unknown, onProgress: (message: string) => void): Promise<DeployResult> {
    const response = await this.call(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    let result: DeployResult | undefined;
    for await (const event of ndjson(response)) {
      const message = event as { type: string; message?: string; error?: { message: string } };
      if (message.type === "progress") onProgress(message.message ?? "");
      else if (message.type === "error") throw new CliError(message.error?.message ?? "deploy failed");
      else if (message.type === "result") result = event as unknown as DeployResult;
    }
    if (!result) throw new CliError("the server ended the deployment without a result");
    return result;
  }

  async listApps(): Promise<AppSummary[]> {
    return ((await (await this.call("/api/apps")).json()) as { apps: AppSummary[] }).apps;
  }

  /** `dev` names the app `serve` runs rather than the deployed app of the same name. */
  async stopApp(name: string, dev = false): Promise<void> {
    await this.call(`/api/apps/${encodeURIComponent(name)}/stop`, { method: "POST" }, dev ? { dev: "1" } : {});
  }

  async stats(name: string, dev = false): Promise<unknown> {
    return (await this.call(`/api/apps/${encodeURIComponent(name)}/stats`, {}, dev ? { dev: "1" } : {})).json();
  }

  async listImages(): Promise<ImageListing[]> {
    return (await this.json<{ images: ImageListing[] }>("/api/images", "GET")).images;
  }

  async pruneImages(all: boolean): Promise<{ images: string[]; layers: string[]; bytes: number }> {
    return this.json("/api/images/prune", "POST", { all });
  }

  /** The OCI layout of a function's image, as a tar stream, and its tag. */
  async exportImage(app: string, fn: string, dev = false): Promise<{ ref: string; body: ReadableStream<Uint8Array> }> {
    const response = await this.call(`/api/apps/${encodeURIComponent(app)}/functions/${encodeURIComponent(fn)}/image`, {}, dev ? { dev: "1" } : {});
    return { ref: response.headers.get("berth-image-ref") ?? "", body: response.body! };
  }

  /** Streams log entries until `signal` aborts (with `follow`) or the recent ones are printed. */
  async logs(name: string, options: { follow?: boolean; dev?: boolean; signal?: AbortSignal }, onEntry: (entry: LogEntry) => void): Promise<void> {
    const query: Record<string, string> = {};
    if (options.follow) query.follow = "1";
    if (options.dev) query.dev = "1";
    const { signal } = options;
    const response = await this.call(`/api/apps/${encodeURIComponent(name)}/logs`, { signal }, query);
    try {
      for await (const entry of ndjson(response)) onEntry(entry as unknown as LogEntry);
    } catch (error) {
      if (!signal?.aborted) throw error;
    }
  }
}

async function* ndjson(response: Response): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) yield JSON.parse(line) as Record<string, unknown>;
    }
  }
}
