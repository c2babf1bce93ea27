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
 *   GET  /api/apps/:name/stats         every node's pools (?local=1: this node's)
 *   GET  /api/apps/:name/versions
 *   GET  /api/apps/:name/logs          one page of every node's log: ?tail=N | ?after=<cursor>, &since=<ms> &function= &request= &limit=
 *                                      (?local=1: this node's)
 *   GET  /api/apps/:name/logs?follow=1 NDJSON entries of every node as they are written (after ?tail=N or from ?since=<ms>)
 *   GET  /api/nodes                    the nodes sharing the database (admin)
 *   GET  /api/apps/:name/functions/:fn/image   the function's image as an OCI layout, in a tar stream
 *   GET  /api/images                   this node's image cache, with the apps using each image (admin)
 *   POST /api/images/prune             {"all"?: true}: removes images no running version on this node uses (admin)
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
  type FunctionStats,
  type Health,
  type ImageList,
  type LatencySummary,
  type LogEntry,
  type NodeList,
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
import { checkHash, tooLarge } from "./store/file-blobs.js";
import { ndjsonLines } from "../wire/ndjson.js";
import { askPeer, peerFailure, peerUrl, type Peer, type Peers } from "./peers.js";
import type { BlobStore } from "./store/types.js";
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
  /** The other nodes, asked for their part of stats and logs. */
  peers: Peers;
  /** The storage engine's name, for `GET /api/nodes`. */
  engine: string;
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
  const { platform, blobs, logs, logger, peers } = options;
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
  /** `?local=1`: this node's part only (how nodes ask each other). */
  const localOf = (c: Context) => c.req.query("local") === "1";
  /** Who is calling, as versions record it: the token, by id and name. */
  const deployerOf = async (c: Context<ApiEnv>): Promise<Deployer> => {
    const { tokenId } = c.get("principal");
    return { tokenId, name: tokenId === SESSION_TOKEN_ID ? "berth serve" : ((await options.security.tokens.get(tokenId))?.name ?? "") };
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
    const hash = checkHash(c.req.param("hash"));
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
    const request = { ...body, workspace: workspaceFor(c, body.workspace), deployedBy: await deployerOf(c) };
    return progressStream(c, logger, (progress) => platform.deploy(request, progress));
  });

  api.post("/api/apps/:name/rollback", async (c) => {
    const body: RollbackRequest = await parseBody(c, rollbackRequestSchema, { empty: {} });
    const deployedBy = await deployerOf(c);
    return progressStream(c, logger, (progress) => platform.rollback(workspaceFor(c), appName(c), body.version, deployedBy, progress, body.deployId));
  });

  api.get("/api/apps", async (c) => {
    if (c.req.query("all")) requireAdmin(c, "listing every workspace's apps");
    const list: AppList = { apps: await platform.listApps(c.req.query("all") ? undefined : workspaceFor(c)) };
    return c.json(list);
  });

  api.post("/api/apps/:name/stop", async (c) => c.json({ app: await platform.stop(workspaceFor(c), appName(c), devOf(c)) }));

  api.get("/api/apps/:name/stats", async (c) => {
    const [workspace, name, dev, local] = [workspaceFor(c), appName(c), devOf(c), localOf(c)];
    const pools = local ? platform.stats(workspace, name, dev) : await platform.appStats(workspace, name, dev);
    const stats: AppStats = {
      functions: pools.map((fn) => ({ ...fn, node: peers.self, latencyMs: options.metrics.latency(workspace, name, dev, fn.function) })),
    };
    if (local) return c.json(stats);
    const query = { workspace, ...(dev ? { dev: "1" } : {}) };
    const answers = await Promise.allSettled(
      peers.others().map(async (peer) => {
        const response = await askPeer(peerUrl(peer, c.req.path, query), c.req.header("authorization"));
        // Another berth node answering the same route: its body is this route's wire type.
        return (await response.json()) as AppStats;
      }),
    );
    answers.forEach((answer, i) => {
      if (answer.status === "fulfilled") stats.functions.push(...answer.value.functions);
      else (stats.unreachable ??= []).push({ node: peers.others()[i]?.id ?? "?", error: peerFailure(answer.reason) });
    });
    stats.functions.sort(byFunctionThenNode);
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

  api.get("/api/apps/:name/versions", async (c) => {
    const list: VersionList = { versions: await platform.versions(workspaceFor(c), appName(c), devOf(c)) };
    return c.json(list);
  });

  api.get("/api/apps/:name/logs", async (c) => {
    const { follow, request, after, ...rest } = parseQuery(c, logQuerySchema);
    const id: AppLogId = { workspace: workspaceFor(c), app: appName(c), ephemeral: devOf(c) };
    if (!(await platform.has(id.workspace, id.app, id.ephemeral))) {
      throw new BerthError("not_found", `no ${id.ephemeral ? "served" : "deployed"} app named "${id.app}" in workspace "${id.workspace}"`);
    }
    const local = localOf(c);
    const others = local ? [] : peers.others();
    // One node: its own cursors, as they are. Several: a cursor names every node's position (nodeCursors).
    const cursors = local || others.length === 0 ? { [peers.self]: after } : readCursors(after, peers.self);
    const query: LogQuery = { ...rest, requestId: request, after: cursors[peers.self] };
    // Entries say which node they come from when there is more than one.
    const mine = local || others.length > 0 ? (entry: LogEntry): LogEntry => ({ ...entry, node: peers.self }) : (entry: LogEntry) => entry;
    const authorization = c.req.header("authorization");
    /** The same question to another node, about its own log only. */
    const askOf = (peer: Peer, extra: Record<string, string>) => {
      const params: Record<string, string> = { ...c.req.query(), workspace: id.workspace, ...extra };
      delete params.after;
      const position = cursors[peer.id];
      if (position !== undefined) params.after = position;
      return peerUrl(peer, c.req.path, params);
    };
    const failed = (peer: Peer, error: unknown): LogEntry => ({
      time: Date.now(),
      node: peer.id,
      app: id.app,
      function: "",
      container: "",
      stream: "system",
      line: `node ${peer.id} did not answer: ${peerFailure(error)}`,
    });
    if (!follow) {
      const page: LogPage = await logs.read(id, query);
      if (others.length === 0) return c.json(local ? { ...page, entries: page.entries.map(mine) } : page);
      const entries = page.entries.map(mine);
      const next: Record<string, string | undefined> = { ...cursors, [peers.self]: page.cursor };
      let more = page.more;
      await Promise.all(
        others.map(async (peer) => {
          try {
            // Another berth node answering the same route with ?local=1: its body is this route's wire type.
            const theirs = (await (await askPeer(askOf(peer, {}), authorization)).json()) as LogPage;
            entries.push(...theirs.entries);
            next[peer.id] = theirs.cursor;
            more ||= theirs.more;
          } catch (error) {
            // Its position stays where it was: the next page asks it again.
            entries.push(failed(peer, error));
          }
        }),
      );
      const merged: LogPage = { entries: entries.sort((a, b) => a.time - b.time), cursor: writeCursors(next), more };
      return c.json(merged);
    }
    c.header("content-type", "application/x-ndjson");
    return stream(c, async (out) => {
      const abort = new AbortController();
      out.onAbort(() => abort.abort());
      const send = async (entries: LogEntry[]) => {
        await out.write(entries.map((entry) => `${JSON.stringify(entry)}\n`).join(""));
      };
      // Every node's entries as they come: each node's tail first, then its new lines; nodes interleave as they write.
      const fromPeers = others.map(async (peer) => {
        try {
          const response = await askPeer(askOf(peer, { follow: "1" }), authorization, abort.signal, false);
          for await (const entry of ndjsonLines<LogEntry>(response.body)) await send([entry]);
        } catch (error) {
          if (!abort.signal.aborted) await send([failed(peer, error)]);
        }
      });
      await Promise.all([
        logs.follow(id, query, abort.signal, (entries) => send(entries.map(mine))).catch((error: unknown) => {
          if (!abort.signal.aborted) logger.error({ err: error, path: c.req.path }, "following a log failed");
        }),
        ...fromPeers,
      ]);
    });
  });

  api.get("/api/nodes", async (c) => {
    requireAdmin(c, "listing the platform's nodes");
    const list: NodeList = { engine: options.engine, nodes: await peers.list() };
    return c.json(list);
  });

  securityRoutes(api, options.security);

  return api;
}

/**
 * The cursor of a page read from several nodes: `m.` and the base64url of
 * `{ node: its cursor }`, so the next page asks each node from where its
 * own log was left. A plain cursor (from a time there was one node) is
 * this node's.
 */
function writeCursors(cursors: Record<string, string | undefined>): string {
  return `m.${Buffer.from(JSON.stringify(cursors)).toString("base64url")}`;
}

function readCursors(cursor: string | undefined, self: string): Record<string, string | undefined> {
  if (cursor === undefined) return {};
  if (!cursor.startsWith("m.")) return { [self]: cursor };
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor.slice(2), "base64url").toString("utf8"));
    if (typeof parsed === "object" && parsed !== null && Object.values(parsed).every((value) => typeof value === "string" && /^\d{1,20}$/.test(value))) {
      return parsed as Record<string, string>;
    }
  } catch {
    // Not ours: answered below.
  }
  throw new BerthError("invalid_input", undefined, { details: { issues: [{ loc: ["query", "after"], message: "a cursor from an earlier page" }] } });
}

function byFunctionThenNode(a: FunctionStats, b: FunctionStats): number {
  return Number(a.draining) - Number(b.draining) || a.function.localeCompare(b.function) || a.node.localeCompare(b.node);
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
