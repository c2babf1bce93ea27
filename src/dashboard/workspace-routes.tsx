/**
 * The pages and actions of one workspace, under `/w/:workspace`. A member
 * token sees its own workspace only (any other is a 403 page, as the
 * control API answers it); an admin token sees any. Live pages read the
 * platform and the metrics through their models (model.ts); the token,
 * secret and limit pages read the control API; every action is a control
 * API call made with the session's credential, followed by a redirect
 * (post/redirect/get) to a page that shows the outcome once.
 */
import { Hono, type Context } from "hono";
import type { Clock } from "../clock/clock.js";
import { BerthError, issuesOf } from "../errors/codes.js";
import type { Logger } from "../logging/logger.js";
import { nameProblem } from "../sdk/names.js";
import type { AppSummary, IssuedToken, LogPage, SecretView, TokenView, WorkspaceLimitRequest, WorkspaceLimitView } from "../wire/control-api.js";
import { ErrorPage, LimitsPage, SecretsPage, TokensPage } from "./admin-pages.js";
import { AppPage, AppsPage, feedPath, FunctionPage, regionsOf } from "./app-pages.js";
import { ControlClient } from "./control.js";
import { page, type DashboardEnv } from "./http.js";
import { appPath, base, type PageContext } from "./layout.js";
import { liveStream, logStream, shapeHash } from "./live.js";
import { isStream, LogRows, LogsPage, type LogFilters } from "./logs-page.js";
import { appModel, appsModel, functionModel, type FunctionModel, type ModelSources, type VersionRow } from "./model.js";
import type { Flash } from "./sessions.js";
import type { ControlApi } from "./sources.js";

/** Milliseconds an admin's workspace list is reused. */
const WORKSPACES_MS = 10_000;
/** Sessions whose workspace list a node keeps at once; beyond, the stale ones go (or all). */
const MAX_WORKSPACE_LISTS = 1_000;

export interface WorkspaceRouteOptions extends ModelSources {
  control: ControlApi;
  /** `berth serve`'s dashboard (no sign-out). */
  local: boolean;
  clock: Clock;
  logger: Logger;
  tickMs?: number;
  /** Whether the request's session is still good (the live feeds ask every tick). */
  signedIn(c: Context<DashboardEnv>): Promise<boolean>;
  /** Leaves a one-time message for the session's next page (on whichever node serves it). */
  setFlash(c: Context<DashboardEnv>, flash: Flash): Promise<void>;
  /** The session's one-time message, taken. */
  takeFlash(c: Context<DashboardEnv>): Promise<Flash | undefined>;
}

export function workspaceRoutes(options: WorkspaceRouteOptions): Hono<DashboardEnv> {
  const routes = new Hono<DashboardEnv>({ strict: false });
  /** An admin's workspace list per session (by its id's hash), and when (monotonic ms) it was read: this node's cache only. */
  const workspaceLists = new Map<string, { names: string[]; at: number }>();
  const control = (c: Context<DashboardEnv>) => new ControlClient(options.control, c.get("session").credential, c.env?.incoming);
  const workspace = (c: Context<DashboardEnv>) => c.req.param("workspace") ?? "";
  const dev = (c: Context<DashboardEnv>) => c.req.query("dev") === "1";
  const query = (c: Context<DashboardEnv>, extra = "") => `?workspace=${encodeURIComponent(workspace(c))}${dev(c) ? "&dev=1" : ""}${extra}`;

  /** The page context: who, where, the admin's workspace list, and the one-time message (taken). */
  async function contextOf(c: Context<DashboardEnv>): Promise<PageContext> {
    const session = c.get("session");
    const flash = await options.takeFlash(c);
    const ws = workspace(c);
    const workspaces = session.principal.admin ? [...new Set([ws, ...(await knownWorkspaces(c))])].sort() : [];
    return { workspace: ws, principal: session.principal, csrf: session.csrf, workspaces, flash, local: options.local };
  }

  /**
   * Every workspace with an app or a token, for an admin's switch. Reading
   * them means reading every app's record, so a session keeps the list for
   * WORKSPACES_MS (a new workspace shows up within that).
   */
  async function knownWorkspaces(c: Context<DashboardEnv>): Promise<string[]> {
    const session = c.get("session");
    const key = session.idHash.toString("hex");
    const now = options.clock.now();
    const cached = workspaceLists.get(key);
    if (cached && now - cached.at < WORKSPACES_MS) return cached.names;
    const known = new Set([session.principal.workspace]);
    for (const app of await options.platform.listApps()) known.add(app.workspace);
    const all = await control(c).json<{ tokens: TokenView[] }>("GET", "/api/tokens?all=1").catch(() => ({ tokens: [] }));
    for (const token of all.tokens) known.add(token.workspace);
    if (workspaceLists.size >= MAX_WORKSPACE_LISTS) {
      for (const [other, list] of workspaceLists) if (now - list.at >= WORKSPACES_MS) workspaceLists.delete(other);
      if (workspaceLists.size >= MAX_WORKSPACE_LISTS) workspaceLists.clear();
    }
    const names = [...known];
    workspaceLists.set(key, { names, at: now });
    return names;
  }

  const notFound = async (c: Context<DashboardEnv>, message: string) => page(c, <ErrorPage ctx={await contextOf(c)} title="Not found" message={message} />, 404);

  const done = async (c: Context<DashboardEnv>, to: string, flash: Flash) => {
    await options.setFlash(c, flash);
    return c.redirect(to, 303);
  };
  const failed = (c: Context<DashboardEnv>, to: string, error: unknown) => {
    if (!(error instanceof BerthError)) throw error;
    const issues = issuesOf(error).map((issue) => `${issue.loc.join(".")}: ${issue.message}`);
    return done(c, to, { kind: "error", message: [error.message, ...issues].join(" · ") });
  };

  // The workspace must be a workspace name, and one the signed-in token may see.
  routes.use("*", async (c, next) => {
    const ws = workspace(c);
    const { principal } = c.get("session");
    if (nameProblem("workspace", ws) !== undefined) return c.text("Not found.", 404);
    if (!principal.admin && ws !== principal.workspace) {
      const message = `This token belongs to workspace "${principal.workspace}" and cannot see "${ws}".`;
      if (c.req.method !== "GET" || c.req.path.endsWith("/events")) return c.text(message, 403);
      return page(c, <ErrorPage ctx={{ ...(await contextOf(c)), workspace: principal.workspace }} title="Forbidden" message={message} />, 403);
    }
    return next();
  });

  /** The app's versions as the control plane records them, with who deployed each (the token's name, else its id). */
  const versionsOf = async (app: AppSummary): Promise<VersionRow[]> =>
    (await options.platform.versions(app.workspace, app.name, app.ephemeral)).map((v) => ({
      id: v.id,
      number: v.number,
      createdAt: v.createdAt,
      deployedBy: v.deployedBy === null ? "" : v.deployedBy.name || v.deployedBy.tokenId,
      current: v.current,
    }));

  const findApp = async (c: Context<DashboardEnv>) =>
    (await options.platform.listApps(workspace(c))).find((a) => a.name === c.req.param("app") && a.ephemeral === dev(c));

  routes.get("/", async (c) => {
    const model = appsModel(options, workspace(c), await options.platform.listApps(workspace(c)));
    return page(c, <AppsPage ctx={await contextOf(c)} model={model} shape={shapeHash(model.shape)} />);
  });

  routes.get("/apps/:app", async (c) => {
    const app = await findApp(c);
    const model = app && appModel(options, workspace(c), app, await versionsOf(app));
    if (!model) return notFound(c, `No ${dev(c) ? "served" : "deployed"} app named "${c.req.param("app")}" in workspace ${workspace(c)}.`);
    return page(c, <AppPage ctx={await contextOf(c)} model={model} shape={shapeHash(model.shape)} />);
  });

  routes.get("/apps/:app/functions/:fn", async (c) => {
    const app = await findApp(c);
    const model = app && functionModel(options, workspace(c), app, c.req.param("fn"), await versionsOf(app));
    if (!model) return notFound(c, `No function "${c.req.param("fn")}" in app "${c.req.param("app")}".`);
    return page(c, <FunctionPage ctx={await contextOf(c)} model={model} shape={shapeHash(model.shape)} />);
  });

  routes.post("/apps/:app/rollback", async (c) => {
    const name = c.req.param("app");
    const form = await c.req.parseBody();
    const version = Number(form.version);
    const back = appPath(workspace(c), name, false);
    try {
      const result = await control(c).progress(`/api/apps/${encodeURIComponent(name)}/rollback${query(c)}`, { version });
      return done(c, back, { kind: "ok", message: `Rolled ${name} back to version ${version}: it now serves as version ${result.version}.` });
    } catch (error) {
      return failed(c, back, error);
    }
  });

  routes.post("/apps/:app/stop", async (c) => {
    const name = c.req.param("app");
    const back = dev(c) ? `${base(workspace(c))}/` : appPath(workspace(c), name, false);
    try {
      await control(c).json("POST", `/api/apps/${encodeURIComponent(name)}/stop${query(c)}`);
      return done(c, back, { kind: "ok", message: `Stopped ${name}: its URLs no longer answer; its containers drain.` });
    } catch (error) {
      return failed(c, back, error);
    }
  });

  /** Lines a log page shows first. */
  const LOG_TAIL = 200;

  /** The log filters of the request's query; what the API refuses (a malformed id) it says so on the page. */
  const logFilters = (c: Context<DashboardEnv>): LogFilters => {
    const text = (name: string) => c.req.query(name)?.trim() || undefined;
    const stream = text("stream");
    return { function: text("function"), container: text("container"), request: text("request"), stream: isStream(stream) ? stream : undefined };
  };
  /** The control API's log query of these filters. */
  const logQuery = (filters: LogFilters) =>
    Object.entries(filters)
      .filter(([, value]) => value)
      .map(([key, value]) => `&${key}=${encodeURIComponent(value as string)}`)
      .join("");

  routes.get("/apps/:app/logs", async (c) => {
    const app = await findApp(c);
    if (!app) return notFound(c, `No ${dev(c) ? "served" : "deployed"} app named "${c.req.param("app")}" in workspace ${workspace(c)}.`);
    const filters = logFilters(c);
    const ctx = await contextOf(c);
    try {
      const logs = await control(c).json<LogPage>("GET", `/api/apps/${encodeURIComponent(app.name)}/logs${query(c, `&tail=${LOG_TAIL}${logQuery(filters)}`)}`);
      const params = { app: app.name, ...(app.ephemeral ? { dev: "1" } : {}), ...definedOnly(filters), after: logs.cursor };
      return page(c, <LogsPage ctx={ctx} app={app} filters={filters} entries={logs.entries} live={feedPath(ctx.workspace, "logs", params)} />);
    } catch (error) {
      if (!(error instanceof BerthError)) throw error;
      const message = [error.message, ...issuesOf(error).map((issue) => `${issue.loc.at(-1)}: ${issue.message}`)].join(" · ");
      return page(c, <LogsPage ctx={ctx} app={app} filters={filters} entries={[]} error={message} />);
    }
  });

  routes.get("/events", (c) => (c.req.query("view") === "logs" ? logFeed(c) : liveFeed(c)));

  /** A log page's live tail: the control API's follow of the same filters, from the page's cursor on. */
  function logFeed(c: Context<DashboardEnv>): Response {
    const name = c.req.query("app") ?? "";
    const filters = logFilters(c);
    const after = c.req.query("after");
    const path = `/api/apps/${encodeURIComponent(name)}/logs${query(c, `&follow=1${logQuery(filters)}${after ? `&after=${encodeURIComponent(after)}` : "&tail=0"}`)}`;
    return logStream(c, () => control(c).stream(path), (entries) => String(<LogRows workspace={workspace(c)} app={name} dev={dev(c)} entries={entries} />), {
      clock: options.clock,
      logger: options.logger,
      tickMs: options.tickMs,
      signedIn: () => options.signedIn(c),
    });
  }

  /** The live feed of the page the query names (its model, once a second). */
  function liveFeed(c: Context<DashboardEnv>): Response {
    const ws = workspace(c);
    const ctx: PageContext = { workspace: ws, principal: c.get("session").principal, csrf: c.get("session").csrf, workspaces: [], local: options.local };
    const appName = c.req.query("app") ?? "";
    const isDev = dev(c);
    const current = async () => (await options.platform.listApps(ws)).find((a) => a.name === appName && a.ephemeral === isDev);
    const feed = { clock: options.clock, logger: options.logger, tickMs: options.tickMs, signedIn: () => options.signedIn(c) };
    switch (c.req.query("view")) {
      case "apps":
        return liveStream(
          c,
          { compute: async () => appsModel(options, ws, await options.platform.listApps(ws)), regions: (model) => regionsOf(ctx, { view: "apps", model }) },
          feed,
        );
      case "app": {
        const compute = async () => {
          const app = await current();
          return app && appModel(options, ws, app, await versionsOf(app));
        };
        return liveStream(c, { compute, regions: (model) => regionsOf(ctx, { view: "app", model }) }, feed);
      }
      case "function": {
        const fn = c.req.query("fn") ?? "";
        const compute = async () => {
          const app = await current();
          return app && functionModel(options, ws, app, fn, await versionsOf(app));
        };
        const points = (_model: unknown, after: number) => options.metrics.functionHistory(ws, appName, isDev, fn)?.series(after);
        return liveStream<FunctionModel>(c, { compute, regions: (model) => regionsOf(ctx, { view: "function", model }), points }, feed);
      }
      default:
        return c.text("Unknown view.", 404);
    }
  }

  routes.get("/tokens", async (c) => {
    const { tokens } = await control(c).json<{ tokens: TokenView[] }>("GET", `/api/tokens${query(c)}`);
    return page(c, <TokensPage ctx={await contextOf(c)} tokens={tokens.sort((a, b) => b.createdAt - a.createdAt)} />);
  });

  routes.post("/tokens", async (c) => {
    const form = await c.req.parseBody();
    const back = `${base(workspace(c))}/tokens`;
    const body = { kind: form.kind === "proxy" ? "proxy" : "api", name: typeof form.name === "string" && form.name !== "" ? form.name : undefined, admin: form.admin === "1" };
    try {
      const { token } = await control(c).json<{ token: IssuedToken }>("POST", `/api/tokens${query(c)}`, body);
      const secret = token.token ?? `Berth-Key: ${token.key}\nBerth-Secret: ${token.secret}`;
      return done(c, back, { kind: "secret", message: `Created ${token.kind} token ${token.id}. Copy it now: it is not shown again.`, secret });
    } catch (error) {
      return failed(c, back, error);
    }
  });

  routes.post("/tokens/:id/revoke", async (c) => {
    const id = c.req.param("id");
    const back = `${base(workspace(c))}/tokens`;
    try {
      await control(c).json("DELETE", `/api/tokens/${encodeURIComponent(id)}${query(c)}`);
      return done(c, back, { kind: "ok", message: `Revoked ${id}.` });
    } catch (error) {
      return failed(c, back, error);
    }
  });

  routes.get("/secrets", async (c) => {
    const { secrets } = await control(c).json<{ secrets: SecretView[] }>("GET", `/api/secrets${query(c)}`);
    return page(c, <SecretsPage ctx={await contextOf(c)} secrets={secrets} />);
  });

  routes.post("/secrets", async (c) => {
    const form = await c.req.parseBody();
    const back = `${base(workspace(c))}/secrets`;
    const name = typeof form.name === "string" ? form.name.trim() : "";
    const values = parseValues(typeof form.values === "string" ? form.values : "");
    if (typeof values === "string") return done(c, back, { kind: "error", message: values });
    try {
      const { secret } = await control(c).json<{ secret: SecretView }>("PUT", `/api/secrets/${encodeURIComponent(name)}${query(c)}`, { values });
      return done(c, back, { kind: "ok", message: `Saved secret ${secret.name} with key(s) ${secret.keys.join(", ")}.` });
    } catch (error) {
      return failed(c, back, error);
    }
  });

  routes.post("/secrets/:name/delete", async (c) => {
    const name = c.req.param("name");
    const back = `${base(workspace(c))}/secrets`;
    try {
      await control(c).json("DELETE", `/api/secrets/${encodeURIComponent(name)}${query(c)}`);
      return done(c, back, { kind: "ok", message: `Deleted secret ${name}.` });
    } catch (error) {
      return failed(c, back, error);
    }
  });

  routes.get("/limits", async (c) => {
    const limit = await control(c).json<WorkspaceLimitView>("GET", `/api/workspaces/${encodeURIComponent(workspace(c))}/limit`);
    return page(c, <LimitsPage ctx={await contextOf(c)} limit={limit} />);
  });

  routes.post("/limits", async (c) => {
    const form = await c.req.parseBody();
    const back = `${base(workspace(c))}/limits`;
    const field = (name: string): number | null => {
      const value = typeof form[name] === "string" ? form[name].trim() : "";
      return value === "" ? null : Number(value);
    };
    const request: WorkspaceLimitRequest = {
      rate: field("rate"),
      burst: field("burst"),
      clientRate: field("clientRate"),
      clientBurst: field("clientBurst"),
      containers: field("containers"),
    };
    // A rate given without a burst gets 5 s worth (the API's rule) rather than a cleared burst.
    if (request.rate !== null && request.burst === null) delete request.burst;
    if (request.clientRate !== null && request.clientBurst === null) delete request.clientBurst;
    try {
      const limit = await control(c).json<WorkspaceLimitView>("PUT", `/api/workspaces/${encodeURIComponent(workspace(c))}/limit`, request);
      return done(c, back, { kind: "ok", message: `Workspace ${limit.workspace}: ${limit.rate} requests/s, burst ${limit.burst}.` });
    } catch (error) {
      return failed(c, back, error);
    }
  });

  routes.onError((error, c) => {
    options.logger.error({ err: error, path: c.req.path }, "unexpected error in the dashboard");
    return c.text(`Something went wrong: ${error instanceof BerthError ? error.message : "see the server's log"}.`, error instanceof BerthError ? (error.status as 400) : 500);
  });

  return routes;
}

function definedOnly(values: LogFilters): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => typeof entry[1] === "string"));
}

/** `KEY=value` lines (blank lines skipped) as a secret's values, or what is wrong with them. */
export function parseValues(text: string): Record<string, string> | string {
  const values: Record<string, string> = {};
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "") continue;
    const eq = line.indexOf("=");
    if (eq <= 0) return `line ${i + 1} is not KEY=value`;
    values[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return Object.keys(values).length > 0 ? values : "give at least one KEY=value";
}

