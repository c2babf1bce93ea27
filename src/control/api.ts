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
 *   GET  /api/apps/:name/logs?follow=1 NDJSON log entries of every node (?local=1: this node's)
 *   GET  /api/nodes                    the nodes sharing the database (admin)
 *   GET  /metrics                      Prometheus text exposition (a token unless --public-metrics)
 *   ...  tokens, secrets, workspace limits: see security-api.ts
 *
 * Every route but health needs an API token (on `berth serve`'s embedded
 * platform, its session token) and acts on the token's workspace (see
 * security-api.ts). Bodies are bounded before they are read: JSON ones at
 * 1 MiB, bundles at `maxBundleBytes`, both answered 413. What the routes take and
 * answer is typed in wire/control-api.ts; errors are the error table's.
 */
import { Hono, type Context } from "hono";
import { stream } from "hono/streaming";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { BerthError, errorBody } from "../errors/codes.js";
import type { Logger } from "../logging/logger.js";
import {
  API_VERSION,
  type AppList,
  type AppStats,
  type DeployRequest,
  type DeployResult,
  type FunctionStats,
  type Health,
  type LatencySummary,
  type LogEntry,
  type NodeList,
  type ProgressLine,
  type RollbackRequest,
} from "../wire/control-api.js";
import { deployRequestSchema, jsonTooLarge, MAX_JSON_BYTES, parseBody, rollbackRequestSchema } from "./api-schema.js";
import type { Clock } from "../clock/clock.js";
import { checkName } from "../sdk/names.js";
import { checkHash, tooLarge } from "./store/file-blobs.js";
import type { LogHub } from "./logs.js";
import { askPeer, ndjsonLines, peerFailure, peerUrl, type Peer, type Peers } from "./peers.js";
import type { BlobStore } from "./store/types.js";
import { appKey, type Platform } from "./platform.js";
import type { Principal } from "./auth.js";
import { authenticate, requireAdmin, securityRoutes, workspaceFor, type ApiEnv, type SecurityApiOptions } from "./security-api.js";

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

  api.onError((error, c) => {
    if (error instanceof BerthError) return answerError(c, error);
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
    const request = { ...body, workspace: workspaceFor(c, body.workspace) };
    return progressStream(c, logger, (progress) => platform.deploy(request, progress));
  });

  api.post("/api/apps/:name/rollback", async (c) => {
    const body: RollbackRequest = await parseBody(c, rollbackRequestSchema, { empty: {} });
    return progressStream(c, logger, (progress) => platform.rollback(workspaceFor(c), appName(c), body.version, progress));
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

  api.get("/metrics", async (c) => {
    const text = await options.metrics.text();
    // A member token sees its own workspace's series; an admin token (or --public-metrics) every one.
    const principal: Principal | undefined = c.get("principal");
    const visible = principal === undefined || principal.admin ? text : onlyWorkspace(text, principal.workspace);
    return c.body(visible, 200, { "content-type": options.metrics.contentType });
  });

  api.get("/api/apps/:name/logs", (c) => {
    const [workspace, name, dev, local] = [workspaceFor(c), appName(c), devOf(c), localOf(c)];
    const key = appKey(workspace, name, dev);
    const follow = c.req.query("follow") === "1" || c.req.query("follow") === "true";
    // `recent=0` (nodes following each other): only what comes from now on; the recent entries were asked for apart.
    const withRecent = c.req.query("recent") !== "0";
    const others = local ? [] : peers.others();
    const authorization = c.req.header("authorization");
    const query = { workspace, ...(dev ? { dev: "1" } : {}) };
    // Entries say which node they come from when there is more than one.
    const mine = local || others.length > 0 ? (entry: LogEntry): LogEntry => ({ ...entry, node: peers.self }) : (entry: LogEntry) => entry;
    c.header("content-type", "application/x-ndjson");
    return stream(c, async (out) => {
      const send = (entry: LogEntry) => out.write(`${JSON.stringify(entry)}\n`);
      const stop = new AbortController();
      out.onAbort(() => stop.abort());
      const failed = (peer: Peer, error: unknown): LogEntry => ({
        time: Date.now(),
        node: peer.id,
        app: name,
        function: "-",
        container: "-",
        stream: "system",
        line: `node ${peer.id} did not answer: ${peerFailure(error)}`,
      });
      // Following: live entries of this node and the others wait in `pending` until the recent ones are out, in time order.
      let pending: LogEntry[] | undefined = [];
      const live = (entry: LogEntry) => (pending ? pending.push(entry) : void send(entry));
      let unsubscribe = () => {};
      if (follow) {
        unsubscribe = logs.subscribe(key, (entry) => live(mine(entry)));
        for (const peer of others) {
          void (async () => {
            try {
              const response = await askPeer(peerUrl(peer, c.req.path, { ...query, follow: "1", recent: "0" }), authorization, stop.signal, false);
              for await (const entry of ndjsonLines<LogEntry>(response)) live(entry);
            } catch (error) {
              if (!stop.signal.aborted) live(failed(peer, error));
            }
          })();
        }
      }
      const recent: LogEntry[] = withRecent ? logs.recent(key).map(mine) : [];
      await Promise.all(
        others.map(async (peer) => {
          try {
            const response = await askPeer(peerUrl(peer, c.req.path, query), authorization);
            for await (const entry of ndjsonLines<LogEntry>(response)) recent.push(entry);
          } catch (error) {
            recent.push(failed(peer, error));
          }
        }),
      );
      for (const entry of recent.sort((a, b) => a.time - b.time)) await send(entry);
      if (!follow) return;
      const waiting = pending;
      pending = undefined;
      for (const entry of waiting) await send(entry);
      await new Promise<void>((resolve) => {
        if (stop.signal.aborted) resolve();
        stop.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      unsubscribe();
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
    } catch (error) {
      if (!(error instanceof BerthError)) logger.error({ err: error, path: c.req.path }, "unexpected error in a deployment");
      const body = error instanceof BerthError ? error.toJSON() : errorBody("internal_error");
      await send({ type: "error", ...body });
    }
  });
}
