/**
 * The dashboard: web pages on the bare host (apps, an app, a function,
 * logs, tokens, secrets, the rate limit), rendered on the server with
 * Hono's JSX, kept live by one server-sent event stream per page, and a
 * small script (client.ts) plus uPlot for the charts. It owns sign-in and
 * sessions and the defences of a browser-facing site; what it shows and
 * changes goes through the platform's services and the control API
 * (sources.ts), never through logic of its own.
 *
 *   GET  /login, POST /login, POST /logout     sign in with an API token; out
 *   GET  /                                     → /w/<the token's workspace>/
 *   GET  /w/:workspace/...                     the pages (workspace-routes.tsx)
 *   POST /w/:workspace/...                     the actions, each a control API call
 *   GET  /assets/<name>.<hash>.<ext>           stylesheet, client script, uPlot
 *
 * An anonymous browser gets the sign-in page and its stylesheet, nothing
 * else. On `berth serve` (`local`), opening the printed link
 * (`/?key=<key>`) starts a session without signing in; the key lives in
 * that process's memory only, like the session token its CLI uses.
 * Sessions live in the state store (sessions.ts), so any node of a
 * cluster answers any signed-in browser.
 */
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Clock } from "../clock/clock.js";
import { BerthError } from "../errors/codes.js";
import type { Logger } from "../logging/logger.js";
import { LoginPage } from "./admin-pages.js";
import { assets } from "./assets.js";
import { ControlClient } from "./control.js";
import { page, renderWithoutAsyncContext, type DashboardEnv } from "./http.js";
import { clearSessionCookie, crossSiteProblem, isSecure, securityHeaders, sessionCookie, setSessionCookie } from "./guard.js";
import { csrfMatches, sameString, Sessions, type Session, type SessionLimits } from "./sessions.js";
import type { ControlApi, MetricsView, PlatformView, Sealer, SessionRows, TokenCheck } from "./sources.js";
import { workspaceRoutes } from "./workspace-routes.js";

export interface DashboardOptions {
  platform: PlatformView;
  metrics: MetricsView;
  /** Checks a sign-in token, and each request's session again (a revoked token ends it). */
  tokens: TokenCheck;
  /** The control API's fetch handler: every action and the pages that list tokens, secrets and limits. */
  control: ControlApi;
  /**
   * `berth serve`: the dashboard link's key (`/?key=`), and the session
   * token the sessions it starts act with (an admin of `workspace`).
   */
  local?: { key: string; credential: string; workspace: string };
  /** The live feeds' ticks. */
  clock: Clock;
  logger: Logger;
  /** Where sessions live (the state store every node shares) and the key that seals what they hold. */
  sessions: { rows: SessionRows; sealer: Sealer; limits?: SessionLimits };
  /** Milliseconds since the epoch, for session ages (nodes share no monotonic clock). Default Date.now. */
  now?: () => number;
  /** Milliseconds between two updates of a live page. Default 1 000. */
  tickMs?: number;
  /**
   * The host (`name[:port]`, lowercase, as browsers send it in `Host`) that
   * browsers reach over HTTPS through a proxy ending TLS: `--public-url
   * https://…`'s. Sessions on it get the `Secure`, `__Host-` cookie.
   */
  httpsHost?: string;
}

/** Largest form the dashboard reads (a secret's values are the biggest). */
const MAX_FORM_BYTES = 64 * 1024;

export function createDashboard(options: DashboardOptions): Hono<DashboardEnv> {
  renderWithoutAsyncContext();
  const sessions = new Sessions({ ...options.sessions, now: options.now });
  const app = new Hono<DashboardEnv>({ strict: false });
  const local = options.local;

  app.use("*", async (c, next) => {
    securityHeaders(c);
    c.set("secure", isSecure(c, options.httpsHost));
    await next();
  });
  app.use("*", bodyLimit({ maxSize: MAX_FORM_BYTES, onError: (c) => c.text("The form is too large.", 413) }));
  app.onError((error, c) => {
    // The state store unreachable (PostgreSQL down) or full: its own status and message, which say what to do.
    if (error instanceof BerthError && (error.code === "database_unavailable" || error.code === "storage_full")) {
      options.logger.warn({ err: error, path: c.req.path }, "the dashboard could not reach the state store");
      return c.text(error.message, error.status as 503 | 507);
    }
    options.logger.error({ err: error, path: c.req.path }, "unexpected error in the dashboard");
    return c.text("Something went wrong in the dashboard; the server's log has the details.", 500);
  });

  app.get("/assets/:file", async (c) => {
    const asset = assets().byUrl.get(c.req.path);
    if (!asset || (!asset.public && !(await liveSession(c)))) return c.text("Not found.", 404);
    const gzip = /\bgzip\b/.test(c.req.header("accept-encoding") ?? "");
    c.header("content-type", asset.type);
    c.header("cache-control", "private, max-age=31536000, immutable");
    c.header("vary", "accept-encoding");
    if (gzip) c.header("content-encoding", "gzip");
    return c.body(new Uint8Array(gzip ? asset.gzip : asset.body));
  });

  app.get("/login", async (c) => {
    if (await liveSession(c)) return c.redirect(safeNext(c.req.query("next")), 303);
    return page(c, <LoginPage local={local !== undefined} />);
  });

  app.post("/login", async (c) => {
    const refused = crossSiteProblem(c);
    if (refused) return c.text(`Refused: ${refused}.`, 403);
    const form = await c.req.parseBody();
    const token = typeof form.token === "string" ? form.token.trim() : "";
    // The control API checks the token, so its failed-auth limit and its hold on a flooding address apply here too.
    try {
      await new ControlClient(options.control, token, c.env?.incoming).json("GET", "/api/tokens");
    } catch (error) {
      const message = error instanceof BerthError && error.code === "rate_limited" ? error.message : "That token is not valid (unknown, malformed or revoked).";
      return page(c, <LoginPage local={local !== undefined} error={message} />, error instanceof BerthError && error.code === "rate_limited" ? 429 : 401);
    }
    const principal = options.tokens.principalOf(token);
    if (!principal) return page(c, <LoginPage local={local !== undefined} error="That token is not valid." />, 401);
    const old = sessionCookie(c, c.get("secure"));
    if (old) await sessions.deleteById(old);
    setSessionCookie(c, c.get("secure"), (await sessions.create(token, principal)).id);
    return c.redirect(safeNext(c.req.query("next")), 303);
  });

  // Everything below needs a session.
  app.use("*", async (c, next) => {
    const session = await liveSession(c);
    if (session) {
      c.set("session", session);
      if (c.req.method === "POST") {
        const refused = crossSiteProblem(c);
        const form = await c.req.parseBody();
        const token = typeof form._csrf === "string" ? form._csrf : c.req.header("x-csrf-token");
        if (refused || !csrfMatches(session, token)) return c.text(`Refused: ${refused ?? "the form's CSRF token is missing or stale; reload the page"}.`, 403);
      }
      return next();
    }
    const key = c.req.query("key");
    if (local && key !== undefined && c.req.method === "GET" && sameString(key, local.key)) {
      setSessionCookie(c, c.get("secure"), (await sessions.create(local.credential, { tokenId: "local", workspace: local.workspace, admin: true })).id);
      return c.redirect(c.req.path, 303);
    }
    if (c.req.method !== "GET" || c.req.path.endsWith("/events")) return c.text("Sign in first.", 401);
    const next_ = c.req.path === "/" ? "" : `?next=${encodeURIComponent(c.req.path + new URL(c.req.url).search)}`;
    return c.redirect(`/login${next_}`, 303);
  });

  app.post("/logout", async (c) => {
    await sessions.delete(c.get("session"));
    clearSessionCookie(c, c.get("secure"));
    return c.redirect("/login", 303);
  });

  app.get("/", (c) => c.redirect(`/w/${encodeURIComponent(c.get("session").principal.workspace)}/`, 303));

  app.get("/switch", (c) => c.redirect(`/w/${encodeURIComponent(c.req.query("workspace") ?? c.get("session").principal.workspace)}/`, 303));

  app.route(
    "/w/:workspace",
    workspaceRoutes({
      ...options,
      local: local !== undefined,
      signedIn: async (c) => (await liveSession(c)) !== undefined,
      setFlash: (c, flash) => sessions.setFlash(c.get("session"), flash),
      takeFlash: (c) => sessions.takeFlash(c.get("session")),
    }),
  );

  app.notFound((c) => c.text("Not found.", 404));

  /**
   * The browser's session, if it has one that is still good: its token is
   * checked again on every request (one map lookup and one hash, against
   * the tokens this node keeps in memory), so a revoked token signs its
   * sessions out at once. A `local` session is good only with this
   * process's own session token.
   */
  async function liveSession(c: Context<DashboardEnv>): Promise<Session | undefined> {
    const session = await sessions.get(sessionCookie(c, c.get("secure")));
    if (!session) return undefined;
    if (session.principal.tokenId === "local") {
      if (local && sameString(session.credential, local.credential)) return session;
      await sessions.delete(session);
      return undefined;
    }
    const principal = options.tokens.principalOf(session.credential);
    if (!principal) {
      await sessions.delete(session);
      return undefined;
    }
    session.principal = principal;
    return session;
  }

  return app;
}

/** Where to go after signing in: a path of this dashboard, never another site (`//evil`, `/\evil`). */
function safeNext(next: string | undefined): string {
  return next !== undefined && /^\/(?![/\\])/.test(next) ? next : "/";
}

