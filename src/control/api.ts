/**
 * The control plane's HTTP API, served on the gateway's bare host. The CLI
 * uses nothing else, whether the platform is a remote `berth server` or the
 * one `berth serve` embeds, so both behave the same.
 *
 *   GET  /api/health
 *   PUT  /api/blobs/:sha256            raw bytes (a bundle)
 *   POST /api/apps                     deploy; streams NDJSON progress, then the result
 *   GET  /api/apps                     list
 *   POST /api/apps/:name/stop
 *   POST /api/apps/:name/rollback      {"version"?: n}; streams NDJSON like a deploy
 *   GET  /api/apps/:name/stats
 *   GET  /api/apps/:name/logs?follow=1 NDJSON log entries
 *   GET  /api/apps/:name/functions/:fn/image   the function's image as an OCI layout, in a tar stream
 *   GET  /api/images                   the image cache, with the apps using each image (admin)
 *   POST /api/images/prune             {"all"?: true}: removes images no running version uses (admin)
 *   GET  /metrics                      Prometheus text exposition
 *   ...  tokens, secrets, workspace limits: see security-api.ts
 *
 * Every route but health needs an API token on a `berth server` and acts on
 * the token's workspace (see security-api.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { Hono, type Context } from "hono";
import { stream } from "hono/streaming";
import { BerthError, errorBody } from "../errors/codes.js";
import { deployRequestSchema, parseBody } from "./api-schema.js";
import type { BlobStore } from "./blobs.js";
import type { LogHub } from "./logs.js";
import type { Metrics } from "../metrics/metrics.js";
import { TarWriter, writeTree } from "../image/tar.js";
import { appKey, type Platform } from "./platform.js";
import { authenticate, requireAdmin, securityRoutes, workspaceFor, type ApiEnv, type SecurityApiOptions } from "./security-api.js";

export interface ApiOptions {
  platform: Platform;
  blobs: BlobStore;
  logs: LogHub;
  /** Workspace used when a request names none. */
  defaultWorkspace: string;
  /** Largest bundle accepted, in bytes. */
  maxBundleBytes?: number;
  security: SecurityApiOptions;
  metrics: Metrics;
}

export const API_VERSION = 1;

export function createControlApi(options: ApiOptions): Hono<ApiEnv> {
  const { platform, blobs, logs } = options;
  const api = new Hono<ApiEnv>();
  api.use("/api/*", authenticate(options.security));
  /** `?dev=1` names the app `serve` runs rather than the deployed one of the same name. */
  const devOf = (c: Context) => c.req.query("dev") === "1";

  api.onError((error, c) => {
    if (error instanceof BerthError) return c.json(error.toJSON(), error.status as 400);
    console.error("control api:", error);
    return c.json(errorBody("internal_error"), 500);
  });
  api.notFound((c) => c.json(errorBody("not_found", `no API route ${c.req.method} ${c.req.path}`), 404));

  api.get("/api/health", (c) => c.json({ ok: true, api: API_VERSION, workspace: options.defaultWorkspace, auth: options.security.requireAuth }));

  api.put("/api/blobs/:hash", async (c) => {
    const limit = options.maxBundleBytes ?? 256 * 1024 * 1024;
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > limit) throw new BerthError("payload_too_large", `bundles are limited to ${limit} bytes`);
    const data = new Uint8Array(await c.req.arrayBuffer());
    if (data.byteLength > limit) throw new BerthError("payload_too_large", `bundles are limited to ${limit} bytes`);
    try {
      return c.json({ hash: blobs.put(data, c.req.param("hash")) }, 201);
    } catch (error) {
      throw new BerthError("invalid_input", (error as Error).message);
    }
  });

  api.post("/api/apps", async (c) => {
    const body = await parseBody(c, deployRequestSchema);
    const request = { ...body, workspace: workspaceFor(c, body.workspace) };
    return progressStream(c, (progress) => platform.deploy(request, progress));
  });

  api.post("/api/apps/:name/rollback", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { version?: unknown };
    if (body.version !== undefined && !(Number.isInteger(body.version) && (body.version as number) > 0)) {
      throw new BerthError("invalid_input", "version must be a positive integer");
    }
    const version = body.version as number | undefined;
    return progressStream(c, (progress) => platform.rollback(workspaceFor(c), c.req.param("name"), version, progress));
  });

  api.get("/api/apps", (c) => {
    if (c.req.query("all")) requireAdmin(c, "listing every workspace's apps");
    return c.json({ apps: platform.listApps(c.req.query("all") ? undefined : workspaceFor(c)) });
  });

  api.post("/api/apps/:name/stop", async (c) => c.json({ app: await platform.stop(workspaceFor(c), c.req.param("name"), devOf(c)) }));

  api.get("/api/apps/:name/stats", (c) => {
    const [workspace, name, dev] = [workspaceFor(c), c.req.param("name"), devOf(c)];
    const functions = platform
      .stats(workspace, name, dev)
      .map((fn) => ({ ...fn, latencyMs: options.metrics.latency(workspace, name, dev, fn.function) }));
    return c.json({ functions });
  });

  api.get("/api/images", (c) => {
    requireAdmin(c, "listing the server's image cache");
    return c.json({ images: platform.listImages() });
  });

  api.post("/api/images/prune", async (c) => {
    requireAdmin(c, "pruning the server's image cache");
    const body = (await c.req.json().catch(() => ({}))) as { all?: unknown };
    return c.json(platform.pruneImages(body.all === true));
  });

  api.get("/api/apps/:name/functions/:fn/image", async (c) => {
    const out = mkdtempSync(join(tmpdir(), "berth-export-"));
    try {
      const { ref } = await platform.exportImage(workspaceFor(c), c.req.param("name"), c.req.param("fn"), devOf(c), out);
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

  api.get("/metrics", async (c) => c.body(await options.metrics.text(), 200, { "content-type": options.metrics.contentType }));

  api.get("/api/apps/:name/logs", (c) => {
    const key = appKey(workspaceFor(c), c.req.param("name"), devOf(c));
    const follow = c.req.query("follow") === "1" || c.req.query("follow") === "true";
    c.header("content-type", "application/x-ndjson");
    return stream(c, async (out) => {
      for (const entry of logs.recent(key)) await out.write(`${JSON.stringify(entry)}\n`);
      if (!follow) return;
      await new Promise<void>((resolve) => {
        const unsubscribe = logs.subscribe(key, (entry) => void out.write(`${JSON.stringify(entry)}\n`));
        out.onAbort(() => {
          unsubscribe();
          resolve();
        });
      });
    });
  });

  securityRoutes(api, options.security);

  return api;
}

/** Long steps answer NDJSON: `progress` lines as they happen, then one `result` or `error` line. */
function progressStream(c: Context, run: (progress: (message: string) => void) => Promise<unknown>): Response {
  c.header("content-type", "application/x-ndjson");
  return stream(c, async (out) => {
    const send = (value: unknown) => out.write(`${JSON.stringify(value)}\n`);
    try {
      const result = await run((message) => void send({ type: "progress", message }));
      await send({ type: "result", ...(result as object) });
    } catch (error) {
      const body = error instanceof BerthError ? error.toJSON() : errorBody("internal_error", (error as Error).message);
      await send({ type: "error", ...body });
    }
  });
}
