/**
 * What the dashboard's route modules share: the Hono environment (the Node
 * request, the session) and how a page is answered.
 */
import type { IncomingMessage } from "node:http";
import { gzipSync } from "node:zlib";
import type { Context } from "hono";
import { jsx } from "hono/jsx";
import type { Session } from "./sessions.js";

/** `secure`: the browser reached this request over TLS (guard.ts's isSecure). */
export type DashboardEnv = { Bindings: { incoming?: IncomingMessage }; Variables: { session: Session; secure: boolean } };

/** Pages smaller than this (bytes) are sent as they are: gzip would save little. */
const GZIP_FROM = 1024;

/**
 * Answers a page: HTML, never cached (it carries workspace data), gzipped
 * for a browser that takes it (the apps page of 50 apps of four functions
 * each is ~120 KB, ~7 KB gzipped: bench/dashboard.ts).
 */
export function page(c: Context, body: unknown, status: 200 | 401 | 403 | 404 | 429 = 200): Response {
  const html = Buffer.from(`<!DOCTYPE html>${String(body)}`);
  const headers: Record<string, string> = { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", vary: "accept-encoding" };
  if (html.length >= GZIP_FROM && /\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
    return c.body(new Uint8Array(gzipSync(html)), status, { ...headers, "content-encoding": "gzip" });
  }
  return c.body(new Uint8Array(html), status, headers);
}

/**
 * Makes hono/jsx render without an AsyncLocalStorage, for the life of the
 * process. hono/jsx runs every render in one when the runtime has it, and on
 * Node 20 the first `AsyncLocalStorage#run` turns on async_hooks for the whole
 * process for good: from the first page anyone opened, every request the
 * gateway proxies paid an init hook per async resource and promise tracking
 * (2.7 µs of ~72 in a V8 profile under wrk -c50). The dashboard uses no JSX
 * context, and its components are synchronous, where hono's fallback keeps
 * context working anyway. hono looks for the storage once, on its first
 * render (through `process.getBuiltinModule`), so this first render must come
 * before any other; test/dashboard-async-hooks.test.ts fails if hono changes
 * how it looks.
 */
export function renderWithoutAsyncContext(): void {
  const { getBuiltinModule } = process;
  Object.defineProperty(process, "getBuiltinModule", { value: undefined, configurable: true, writable: true });
  try {
    String(jsx("i", {}));
  } finally {
    Object.defineProperty(process, "getBuiltinModule", { value: getBuiltinModule, configurable: true, writable: true });
  }
}
