/**
 * The control plane's HTTP API, served on the gateway's bare host. The CLI
 * uses nothing else, whether the platform is a remote `berth server` or the
 * one `berth serve` embeds, so both behave the same.
 *
 *   GET  /api/health
 *   PUT  /api/blobs/:sha256            raw bytes (a bundle), streamed to disk, hash checked as they arrive
 *   POST /api/apps                     deploy; streams NDJSON progress, then the result
 *   GET  /api/apps                     list
 *   POST /api/apps/:name/stop
 *   POST /api/apps/:name/rollback      {"version"?: n} or no body; streams NDJSON like a deploy
 *   GET  /api/apps/:name/stats
 *   GET  /api/apps/:name/versions
 *   GET  /api/apps/:name/logs          one page: ?tail=N | ?after=<cursor>, &since=<ms> &function= &request= &limit=
 *   GET  /api/apps/:name/logs?follow=1 NDJSON entries as they are written (after ?tail=N or from ?since=<ms>)
 *   GET  /api/apps/:name/functions/:fn/image   the function's image as an OCI layout, in a tar stream
 *   GET  /api/images                   the image cache, with the apps using each image (admin)
 *   POST /api/images/prune             {"all"?: true}: removes images no running version uses (admin)
 *   GET  /metrics                      Prometheus text exposition (a token unless --public-metrics)
 *   ...  tokens, secrets, workspace limits: see security-api.ts
 *
 * Every route but health needs an API token (on `berth serve`'s embedded
 * platform, its session token) and acts on the token's workspace (see
 * security-api.ts). Bodies are bounded before they are read: JSON ones at
 * 1 MiB, bundles at `maxBundleBytes`, both answered 413. What the routes take and
 * answer is typed in wire/control-api.ts; errors are the error table's.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { Hono, type Context } from "hono";
import { stream } from "hono/streaming";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { BerthError, errorBody } from "../errors/codes.js";
import { storageFull } from "../errors/storage.js";
import type { Logger } from "../logging/logger.js";
import {
  API_VERSION,
  type AppList,
  type AppStats,
  type DeployRequest,
  type DeployResult,
  type Health,
  type ImageList,
  type LatencySummary,
  type LogEntry,
  type Deployer,
  type LogPage,
  type ProgressLine,
  type PruneRequest,
  type PruneResultView,
  type RollbackRequest,
  type VersionList,
} from "../wire/control-api.js";
import type { LogHub } from "../logs/hub.js";
import type { AppLogId, LogQuery } from "../logs/store.js";
import { deployRequestSchema, jsonTooLarge, logQuerySchema, MAX_JSON_BYTES, parseBody, parseQuery, pruneRequestSchema, rollbackRequestSchema } from "./api-schema.js";
import type { Clock } from "../clock/clock.js";
import { checkName } from "../sdk/names.js";
import { tooLarge, type BlobStore } from "./blobs.js";
import type { Platform } from "./platform.js";
import { TarWriter, writeTree } from "../image/tar.js";
import type { Principal } from "./auth.js";
import { authenticate, SESSION_TOKEN_ID, requireAdmin, securityRoutes, workspaceFor, type ApiEnv, type SecurityApiOptions } from "./security-api.js";

/** What the API reads of the metrics: recent latency for `stats`, and the Prometheus text. */
export interface ApiMetrics {
  latency(workspace: string, app: string, dev: boolean, fn: string): LatencySummary;
  text(): Promise<string>;
  readonly contentType: string;
}

/** Largest bundle accepted by default. */
export const DEFAULT_MAX_BUNDLE_BYTES = 256 * 1024 * 1024;

const EMPTY: AsyncIterable<Uint8Array> = (async function* () {})();

export interface ApiOptions<U> {
  platform: Platform<U>;
  blobs: BlobStore;
  logs: LogHub;
  /** Workspace used when a request names none. */
  defaultWorkspace: string;
  /** Largest bundle accepted, in bytes. Default 256 MiB. */
  maxBundleBytes?: number;
  /** Milliseconds an upload may go without a byte arriving before it is abandoned (408). Default 60 000. */
  uploadIdleMs?: number;
  /** Serve `/metrics` without a token (`berth server --public-metrics`). Default false. */
  publicMetrics?: boolean;
  /** Times stalled uploads. */
  clock: Clock;
  security: SecurityApiOptions;
  metrics: ApiMetrics;
  /** Where failures that are the platform's own (500s) are logged. */
  logger: Logger;
}

export function createControlApi<U>(options: ApiOptions<U>): Hono<ApiEnv> {
  const { platform, blobs, logs, logger } = options;
  const api = new Hono<ApiEnv>();
  api.use("/api/*", authenticate(options.security));
  if (!options.publicMetrics) api.use("/metrics", authenticate(options.security));
  // A declared body over the JSON limit is refused before anything reads it, on every route but uploads (which
  // stream to disk under their own limit); parseBody meters chunked bodies as they arrive.
  api.use("/api/*", async (c, next) => {
    if (!c.req.path.startsWith("/api/blobs/") && Number(c.req.header("content-length") ?? 0) > MAX_JSON_BYTES) throw jsonTooLarge();
    await next();
  });
  /** `?dev=1` names the app `serve` runs rather than the deployed one of the same name. */
  const devOf = (c: Context) => c.req.query("dev") === "1";
  /** Who is calling, as versions record it: the token, by id and name. */
  const deployerOf = (c: Context<ApiEnv>): Deployer => {
    const { tokenId } = c.get("principal");
    return { tokenId, name: tokenId === SESSION_TOKEN_ID ? "berth serve" : (options.security.tokens.get(tokenId)?.name ?? "") };
  };

  api.onError((error, c) => {
    if (error instanceof BerthError) return answerError(c, error);
    // A write of ours that no call site named: still a 507 rather than a 500.
    const full = storageFull(error, "what this request needed", "the state directory");
    if (full instanceof BerthError) return answerError(c, full);
    logger.error({ err: error, method: c.req.method, path: c.req.path }, "unexpected error in the control API");
    return c.json(errorBody("internal_error"), 500);
  });
  api.notFound((c) => c.json(errorBody("not_found", `no API route ${c.req.method} ${c.req.path}`), 404));

  api.get("/api/health", (c) => {
    const health: Health = { ok: true, api: API_VERSION, workspace: options.defaultWorkspace, auth: true };
    return c.json(health);
  });

  api.put("/api/blobs/:hash", async (c) => {
    const hash = c.req.param("hash");
    blobs.path(hash);
    const maxBytes = options.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
    const declared = c.req.header("content-length");
    if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
    // The Node request itself when served by node:http: its backpressure holds the client while the disk catches up.
    const body: AsyncIterable<Uint8Array> = c.env?.incoming ?? c.req.raw.body ?? EMPTY;
    await blobs.putStream(body, hash, { maxBytes, idleMs: options.uploadIdleMs ?? 60_000, clock: options.clock });
    return c.json({ hash }, 201);
  });

  api.post("/api/apps", async (c) => {
    const body: DeployRequest = await parseBody(c, deployRequestSchema);
    const request = { ...body, workspace: workspaceFor(c, body.workspace), deployedBy: deployerOf(c) };
    return progressStream(c, logger, (progress) => platform.deploy(request, progress));
  });

  api.post("/api/apps/:name/rollback", async (c) => {
    const body: RollbackRequest = await parseBody(c, rollbackRequestSchema, { empty: {} });
    return progressStream(c, logger, (progress) => platform.rollback(workspaceFor(c), appName(c), body.version, deployerOf(c), progress, body.deployId));
  });

  api.get("/api/apps", (c) => {
    if (c.req.query("all")) requireAdmin(c, "listing every workspace's apps");
    const list: AppList = { apps: platform.listApps(c.req.query("all") ? undefined : workspaceFor(c)) };
    return c.json(list);
  });

  api.post("/api/apps/:name/stop", async (c) => c.json({ app: await platform.stop(workspaceFor(c), appName(c), devOf(c)) }));

  api.get("/api/apps/:name/stats", (c) => {
    const [workspace, name, dev] = [workspaceFor(c), appName(c), devOf(c)];
    const functions = platform
      .stats(workspace, name, dev)
      .map((fn) => ({ ...fn, latencyMs: options.metrics.latency(workspace, name, dev, fn.function) }));
    const stats: AppStats = { functions };
    return c.json(stats);
  });

  api.get("/api/images", (c) => {
    requireAdmin(c, "listing the server's image cache");
    const list: ImageList = { images: platform.listImages() };
    return c.json(list);
  });

  api.post("/api/images/prune", async (c) => {
    requireAdmin(c, "pruning the server's image cache");
    const request: PruneRequest = await parseBody(c, pruneRequestSchema, { empty: {} });
    const result: PruneResultView = platform.pruneImages(request.all === true);
    return c.json(result);
  });

  api.get("/api/apps/:name/functions/:fn/image", async (c) => {
    const out = mkdtempSync(join(tmpdir(), "berth-export-"));
    try {
      const { ref } = await platform.exportImage(workspaceFor(c), appName(c), checkName("function", c.req.param("fn") ?? "", ["path", "function"]), devOf(c), out);
      const body = new PassThrough();
      const writer = new TarWriter(body);
      void writeTree(writer, out, { ids: () => [0, 0] })
        .then(() => writer.finish())
        .then(() => body.end(), (error: unknown) => body.destroy(error as Error))
        .finally(() => rmSync(out, { recursive: true, force: true }));
      return new Response(Readable.toWeb(body) as ReadableStream, { headers: { "content-type": "application/x-tar", "berth-image-ref": ref } });
    } catch (error) {
      rmSync(out, { recursive: true, force: true });
      throw error;
    }
  });


  api.get("/metrics", async (c) => {
    const text = await options.metrics.text();
    // A member token sees its own workspace's series; an admin token (or --public-metrics) every one.
    const principal: Principal | undefined = c.get("principal");
    const visible = principal === undefined || principal.admin ? text : onlyWorkspace(text, principal.workspace);
    return c.body(visible, 200, { "content-type": options.metrics.contentType });
  });

  api.get("/api/apps/:name/versions", (c) => {
    const list: VersionList = { versions: platform.versions(workspaceFor(c), appName(c), devOf(c)) };
    return c.json(list);
  });

  api.get("/api/apps/:name/logs", async (c) => {
    const { follow, request, ...rest } = parseQuery(c, logQuerySchema);
    const id: AppLogId = { workspace: workspaceFor(c), app: appName(c), ephemeral: devOf(c) };
    if (!platform.has(id.workspace, id.app, id.ephemeral)) {
      throw new BerthError("not_found", `no ${id.ephemeral ? "served" : "deployed"} app named "${id.app}" in workspace "${id.workspace}"`);
    }
    const query: LogQuery = { ...rest, requestId: request };
    if (!follow) {
      const page: LogPage = await logs.read(id, query);
      return c.json(page);
    }
    c.header("content-type", "application/x-ndjson");
    return stream(c, async (out) => {
      const abort = new AbortController();
      out.onAbort(() => abort.abort());
      const send = async (entries: LogEntry[]) => {
        await out.write(entries.map((entry) => `${JSON.stringify(entry)}\n`).join(""));
      };
      await logs.follow(id, query, abort.signal, send).catch((error: unknown) => {
        if (!abort.signal.aborted) logger.error({ err: error, path: c.req.path }, "following a log failed");
      });
    });
  });

  securityRoutes(api, options.security);

  return api;
}

/** The `:name` of an app route, held to the name grammar (422 at `["path", "name"]`). */
function appName(c: Context): string {
  return checkName("app", c.req.param("name") ?? "", ["path", "name"]);
}

/**
 * The Prometheus text with only `workspace`'s samples: comment lines stay,
 * and a sample stays when its labels name that workspace. Every berth
 * series carries the label; series without it (none today) are dropped, so
 * nothing of another workspace can slip through.
 */
export function onlyWorkspace(text: string, workspace: string): string {
  const label = `workspace="${workspace}"`;
  return text
    .split("\n")
    .filter((line) => line === "" || line.startsWith("#") || line.includes(`{${label}`) || line.includes(`,${label}`))
    .join("\n");
}

/** Answers a `BerthError` from the table: its status, its headers, its JSON body. */
function answerError(c: Context, error: BerthError): Response {
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
  // The table's statuses are all contentful ones; Hono wants its literal type.
  return c.body(JSON.stringify(error.toJSON()), error.status as ContentfulStatusCode, { "content-type": "application/json" });
}

/**
 * Long steps answer NDJSON: `progress` lines as they happen, then one
 * `result` or `error` line. The status (200) is sent before the outcome is
 * known, so a failure is told by the error line's code; one that is not a
 * `BerthError` is the platform's own and is logged, not shown.
 */
function progressStream(c: Context, logger: Logger, run: (progress: (message: string) => void) => Promise<DeployResult>): Response {
  c.header("content-type", "application/x-ndjson");
  return stream(c, async (out) => {
    const send = (line: ProgressLine) => out.write(`${JSON.stringify(line)}\n`);
    try {
      const result = await run((message) => void send({ type: "progress", message }));
      await send({ type: "result", ...result });
    } catch (thrown) {
      const error = storageFull(thrown, "what this deployment needed", "the state directory");
      if (!(error instanceof BerthError)) logger.error({ err: error, path: c.req.path }, "unexpected error in a deployment");
      const body = error instanceof BerthError ? error.toJSON() : errorBody("internal_error");
      await send({ type: "error", ...body });
    }
  });
}
