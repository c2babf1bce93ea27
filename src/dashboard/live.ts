/**
 * The live feed of a page: one server-sent event stream per open page.
 * Once a second it computes the page's model (model.ts) and sends what
 * changed since the last send, so the browser polls nothing:
 *
 *   event: values    {"key": "text", ...}       numbers that moved
 *   event: regions   {"shape", "regions": {...}} HTML of the page's regions, when what it lists changed
 *   event: points    HistorySeries               chart buckets closed since the last send
 *   event: logs      {"html"}                    new rows of a log page (logStream)
 *   event: gone      the page's subject no longer exists (the browser reloads)
 *   event: signed-out the session ended (token revoked, expired)
 *
 * A page with nothing moving costs a model computation a second and a
 * comment line every 15 s (which also tells a proxy the stream is alive).
 * The request path of the gateway is not involved: what the feed reads is
 * what the metrics already aggregate per event.
 */
import { createHash } from "node:crypto";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Clock } from "../clock/clock.js";
import type { Logger } from "../logging/logger.js";
import type { HistorySeries } from "../metrics/history.js";
import type { LogEntry } from "../wire/control-api.js";
import type { LiveModel } from "./model.js";

/** What one open page needs from the feed. */
export interface Feed<M extends LiveModel> {
  /** The model now, or undefined when the page's subject is gone. */
  compute(): Promise<M | undefined>;
  /** The page's regions as HTML, for a changed shape. */
  regions(model: M): Record<string, string>;
  /** Chart buckets that began after `after` (ms since the epoch), for pages with charts. */
  points?(model: M, after: number): HistorySeries | undefined;
}

export interface FeedOptions {
  clock: Clock;
  logger: Logger;
  /** Milliseconds between two computations. Default 1 000. */
  tickMs?: number;
  /** Whether the session is still valid (a read of the state store); checked every tick. */
  signedIn(): Promise<boolean>;
}

/** Milliseconds of silence after which a comment line is sent. */
const KEEPALIVE_MS = 15_000;

/** A short, stable name of a shape, for the page and the feed to compare. */
export function shapeHash(shape: string): string {
  return createHash("sha256").update(shape).digest("base64url").slice(0, 16);
}

/**
 * Streams `feed` to the browser. The page tells, in its query, the shape it
 * was rendered with (`shape`) and its newest chart bucket (`after`), so a
 * change between render and connection is sent at once.
 */
export function liveStream<M extends LiveModel>(c: Context, feed: Feed<M>, options: FeedOptions): Response {
  const tickMs = options.tickMs ?? 1_000;
  c.header("cache-control", "no-store");
  // nginx and similar proxies would otherwise hold the events back in a buffer.
  c.header("x-accel-buffering", "no");
  return streamSSE(
    c,
    async (stream) => {
      let shape = c.req.query("shape") ?? "";
      let after = Number(c.req.query("after") ?? Number.NEGATIVE_INFINITY);
      if (!Number.isFinite(after)) after = Number.NEGATIVE_INFINITY;
      let sent: Record<string, string> = {};
      let quietSince = options.clock.now();
      let wake: (() => void) | undefined;
      stream.onAbort(() => wake?.());
      /** Waits a tick on the clock, or until the browser goes away. */
      const pause = () =>
        new Promise<void>((resolve) => {
          const cancel = options.clock.after(tickMs, resolve);
          wake = () => {
            cancel();
            resolve();
          };
        });
      const send = async (event: string, data: unknown) => {
        await stream.writeSSE({ event, data: JSON.stringify(data) });
        quietSince = options.clock.now();
      };
      while (!stream.aborted && !stream.closed) {
        if (!(await options.signedIn())) {
          await send("signed-out", {});
          return;
        }
        const model = await feed.compute();
        if (!model) {
          await send("gone", {});
          return;
        }
        const nextShape = shapeHash(model.shape);
        if (nextShape !== shape) {
          shape = nextShape;
          sent = {};
          await send("regions", { shape, regions: feed.regions(model) });
        }
        const changed = changes(sent, model.values);
        if (changed) await send("values", changed);
        sent = model.values;
        const points = feed.points?.(model, after);
        if (points && points.time.length > 0) {
          after = points.time[points.time.length - 1]!;
          await send("points", points);
        }
        if (options.clock.now() - quietSince >= KEEPALIVE_MS) {
          await stream.write(": keep-alive\n\n");
          quietSince = options.clock.now();
        }
        await pause();
      }
    },
    async (error) => {
      options.logger.error({ err: error, path: c.req.path }, "a dashboard live feed failed");
    },
  );
}

/** The entries of `next` that differ from `previous`, or null when none do. */
export function changes(previous: Record<string, string>, next: Record<string, string>): Record<string, string> | null {
  let out: Record<string, string> | null = null;
  for (const key in next) {
    if (previous[key] !== next[key]) (out ??= {})[key] = next[key]!;
  }
  return out;
}

/**
 * The live tail of a log page: the control API's own follow stream
 * (`GET /api/apps/:name/logs?follow=1`, NDJSON), opened in-process by
 * `open`, turned into `logs` events of rows rendered by `render`. The
 * session is checked every tick; when it ends, so does the tail.
 */
export function logStream(c: Context, open: () => Promise<Response>, render: (entries: LogEntry[]) => string, options: FeedOptions): Response {
  const tickMs = options.tickMs ?? 1_000;
  c.header("cache-control", "no-store");
  c.header("x-accel-buffering", "no");
  return streamSSE(
    c,
    async (stream) => {
      const response = await open();
      if (!response.ok || !response.body) {
        const body = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
        await stream.writeSSE({ event: "failed", data: JSON.stringify({ message: body?.error?.message ?? `HTTP ${response.status}` }) });
        return;
      }
      const reader = response.body.getReader();
      stream.onAbort(() => void reader.cancel());
      let quietSince = options.clock.now();
      let cancelTick = () => {};
      const tick = async () => {
        const signedIn = await options.signedIn().catch((error: unknown) => {
          options.logger.warn({ err: error, path: c.req.path }, "a dashboard log tail could not check its session");
          return false;
        });
        if (!signedIn) {
          await stream.writeSSE({ event: "signed-out", data: "{}" }).finally(() => reader.cancel());
          return;
        }
        if (options.clock.now() - quietSince >= KEEPALIVE_MS) {
          quietSince = options.clock.now();
          void stream.write(": keep-alive\n\n");
        }
        cancelTick = options.clock.after(tickMs, () => void tick());
      };
      cancelTick = options.clock.after(tickMs, () => void tick());
      const decoder = new TextDecoder();
      let buffer = "";
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          buffer += decoder.decode(value, { stream: true });
          const end = buffer.lastIndexOf("\n");
          if (end === -1) continue;
          const entries = buffer
            .slice(0, end)
            .split("\n")
            .filter((line) => line !== "")
            .map((line) => JSON.parse(line) as LogEntry);
          buffer = buffer.slice(end + 1);
          quietSince = options.clock.now();
          if (entries.length > 0) await stream.writeSSE({ event: "logs", data: JSON.stringify({ html: render(entries) }) });
        }
      } finally {
        cancelTick();
      }
    },
    async (error) => {
      options.logger.error({ err: error, path: c.req.path }, "a dashboard log tail failed");
    },
  );
}
