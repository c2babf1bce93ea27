/**
 * The control API's security: who is calling (an API token, or nobody for
 * the embedded platform of `berth serve`, which listens only on loopback
 * for its own CLI) and which workspace a call may touch, plus the routes
 * that manage tokens, secrets and workspace rate limits.
 *
 *   POST   /api/tokens                 { kind: "api" | "proxy", name?, admin?, workspace? } → the token, shown once
 *   GET    /api/tokens[?all=1]         list, without secrets
 *   DELETE /api/tokens/:id             revoke, effective at once
 *   PUT    /api/secrets/:name          { values: { KEY: "value" } } → names and keys only
 *   GET    /api/secrets                names and keys only
 *   DELETE /api/secrets/:name
 *   GET    /api/workspaces/:name/limit → rate, client share and container cap in force
 *   PUT    /api/workspaces/:name/limit { rate?, burst?, clientRate?, clientBurst?, containers? } (admin tokens only)
 *
 * A member token acts on its own workspace only (403 otherwise); an admin
 * token (the one a fresh server prints) acts on any, chosen with
 * `?workspace=`.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Context, Hono, MiddlewareHandler } from "hono";
import { systemClock, type Clock } from "../clock/clock.js";
import { z } from "zod";
import { BerthError } from "../errors/codes.js";
import type { IssuedToken, RateLimit, SecretView, TokenView, WorkspaceLimitRequest, WorkspaceLimitView } from "../wire/control-api.js";
import { parseBody as parse } from "./api-schema.js";
import { checkName } from "../sdk/names.js";
import type { Principal, TokenService } from "./auth.js";
import type { SecretService } from "./secrets.js";
import type { SecurityStore, WorkspaceLimit } from "./store/types.js";

/** `incoming`: the Node request, when served by node:http (uploads stream from it; the client address is read from it). */
export type ApiEnv = { Bindings: { incoming?: IncomingMessage }; Variables: { principal: Principal } };

/**
 * The limits the gateway enforces right now, per workspace. The limit
 * routes read and change them, so a new limit applies to the very next
 * request; the composition root passes the gateway's rate limiter and the
 * router's container capacity.
 */
export interface LiveLimits {
  limitOf(workspace: string): RateLimit;
  clientLimitOf(workspace: string): RateLimit;
  /** The workspace's cap on live containers, or null when only the server's applies. */
  containerLimitOf(workspace: string): number | null;
  /** The server-wide cap on live containers. */
  readonly maxContainers: number;
  set(limit: WorkspaceLimit): void;
}

/**
 * Failed authentications per client address (the gateway's limiter): an
 * address that failed too often is refused with 429 before its token is
 * looked at.
 */
export interface FailedAuthLimit {
  check(client: string, now: number): { allowed: true } | { allowed: false; retryAfterSeconds: number };
  failed(client: string, now: number): void;
}

export interface SecurityApiOptions {
  tokens: TokenService;
  secrets: SecretService;
  store: SecurityStore;
  limits: LiveLimits;
  /**
   * An admin token of the default workspace that lives only in this
   * process's memory: `berth serve` holds it for its embedded platform, so
   * no web page the user visits can drive that platform. API tokens work
   * beside it. Absent on `berth server`.
   */
  sessionToken?: string;
  defaultWorkspace: string;
  /** Counts and refuses failed authentications per client address; absent: not limited. */
  failedAuth?: FailedAuthLimit;
  /** The client address of a request, as the gateway sees it (`--trust-proxy` applied). */
  clientOf?: (req: IncomingMessage) => string;
  /** The failed-auth buckets' time, and the hold on answers to an address over its limit. Default the system clock. */
  clock?: Clock;
  /** Milliseconds an answer to an address over its failed-auth limit is held back. Default 1 000. */
  failedAuthDelayMs?: number;
}

/** The principal of `berth serve`'s embedded platform, which its session token stands for. */
export const SESSION_TOKEN_ID = "session";

/**
 * Resolves the caller: a valid API token or the session token, else 401.
 * Each 401 counts against the client's address; an address over its limit
 * of failures gets 429 before its token is looked at.
 */
export function authenticate(options: SecurityApiOptions): MiddlewareHandler<ApiEnv> {
  const session: Principal = { tokenId: SESSION_TOKEN_ID, workspace: options.defaultWorkspace, admin: true };
  const sessionSecret = options.sessionToken === undefined ? undefined : Buffer.from(options.sessionToken);
  const clock = options.clock ?? systemClock;
  const now = () => clock.now();
  return async (c, next) => {
    if (c.req.path === "/api/health") return next();
    const incoming = c.env?.incoming;
    const client = incoming && options.clientOf ? options.clientOf(incoming) : "";
    const limited = options.failedAuth?.check(client, now());
    if (limited && !limited.allowed) {
      // Held back like the gateway's (guards.ts, FAILED_AUTH_DELAY_MS): a flood waits instead of costing a refusal at full speed.
      await new Promise<void>((resolve) => clock.after(options.failedAuthDelayMs ?? 1_000, resolve));
      c.header("connection", "close");
      throw new BerthError("rate_limited", "too many failed authentications from your address; retry later", {
        headers: { "retry-after": String(limited.retryAfterSeconds) },
      });
    }
    const header = c.req.header("authorization");
    // RFC 9110 §11.1: the scheme is case-insensitive.
    const token = header !== undefined && /^bearer /i.test(header) ? header.slice(7).trim() : undefined;
    const principal = sessionSecret !== undefined && token !== undefined && sameSecret(token, sessionSecret) ? session : await options.tokens.authenticate(token);
    if (!principal) {
      options.failedAuth?.failed(client, now());
      c.header("www-authenticate", 'Bearer realm="berth"');
      // The body (maybe a 256 MiB bundle) is never read: close rather than drain it for a stranger.
      c.header("connection", "close");
      throw new BerthError("unauthorized", unauthorizedMessage(token, sessionSecret !== undefined));
    }
    c.set("principal", principal);
    return next();
  };
}

function unauthorizedMessage(token: string | undefined, session: boolean): string {
  if (token !== undefined) return "the API token is invalid or revoked";
  return session
    ? "this platform (run by `berth serve`) requires its session token: the berth CLI on this machine finds it in $BERTH_HOME/sessions/"
    : "this server requires an API token: pass --token, set BERTH_TOKEN, or run `berth login`";
}

function sameSecret(token: string, secret: Buffer): boolean {
  const given = Buffer.from(token);
  return given.length === secret.length && timingSafeEqual(given, secret);
}

/**
 * The workspace a call acts on: the requested one if the caller may, else
 * 403. `loc` names where `requested` came from, for the 422 of a name
 * outside the grammar (sdk/names.ts).
 */
export function workspaceFor(c: Context<ApiEnv>, requested?: string, loc: (string | number)[] = ["workspace"]): string {
  const principal = c.get("principal");
  const query = c.req.query("workspace");
  const workspace = requested ?? query ?? principal.workspace;
  checkName("workspace", workspace, requested === undefined && query !== undefined ? ["query", "workspace"] : loc);
  if (!principal.admin && workspace !== principal.workspace) {
    throw new BerthError("forbidden", `this token belongs to workspace "${principal.workspace}" and cannot act on "${workspace}"`);
  }
  return workspace;
}

export function requireAdmin(c: Context<ApiEnv>, action: string): void {
  if (!c.get("principal").admin) throw new BerthError("forbidden", `${action} needs an admin token`);
}

const tokenRequest = z.object({
  kind: z.enum(["api", "proxy"]).default("api"),
  name: z.string().max(100).optional(),
  admin: z.boolean().default(false),
  workspace: z.string().optional(),
});

const secretRequest = z.object({ values: z.record(z.string(), z.string()) });

const rate = z.number().positive().max(1_000_000).nullable().optional();
const burst = z.number().int().min(1).max(10_000_000).nullable().optional();
const limitRequest = z.object({
  rate,
  burst,
  clientRate: rate,
  clientBurst: burst,
  containers: z.number().int().min(0).max(100_000).nullable().optional(),
});

export function securityRoutes(api: Hono<ApiEnv>, options: SecurityApiOptions): void {
  const { tokens, secrets } = options;

  api.post("/api/tokens", async (c) => {
    const body = await parse(c, tokenRequest);
    const workspace = workspaceFor(c, body.workspace);
    if (body.admin) requireAdmin(c, "creating an admin token");
    const issued: IssuedToken =
      body.kind === "proxy"
        ? await tokens.createProxyToken({ workspace, name: body.name })
        : await tokens.createApiToken({ workspace, name: body.name, admin: body.admin });
    return c.json({ token: issued }, 201);
  });

  api.get("/api/tokens", async (c) => {
    const all = Boolean(c.req.query("all"));
    if (all) requireAdmin(c, "listing every workspace's tokens");
    const list: TokenView[] = await tokens.list(all ? undefined : workspaceFor(c));
    return c.json({ tokens: list });
  });

  api.delete("/api/tokens/:id", async (c) => {
    const id = c.req.param("id");
    const token = await tokens.get(id);
    const principal = c.get("principal");
    // Another workspace's token is "not found" like an unknown one: a 403 would tell a member which ids exist.
    const visible = token !== undefined && (principal.admin || token.workspace === principal.workspace);
    if (!visible || token.revokedAt !== null) throw new BerthError("not_found", `no valid token with id "${id}"`);
    await tokens.revoke(id);
    return c.json({ revoked: id });
  });

  api.put("/api/secrets/:name", async (c) => {
    const body = await parse(c, secretRequest);
    const secret: SecretView = await secrets.create(workspaceFor(c), checkName("secret", c.req.param("name"), ["path", "name"]), body.values);
    return c.json({ secret }, 201);
  });

  api.get("/api/secrets", async (c) => {
    const list: SecretView[] = await secrets.list(workspaceFor(c));
    return c.json({ secrets: list });
  });

  api.delete("/api/secrets/:name", async (c) => {
    const name = c.req.param("name");
    const workspace = workspaceFor(c);
    if (!(await secrets.delete(workspace, name))) throw new BerthError("not_found", `no secret named "${name}" in workspace "${workspace}"`);
    return c.json({ deleted: name });
  });

  api.get("/api/workspaces/:name/limit", async (c) => {
    const workspace = workspaceFor(c, c.req.param("name"), ["path", "name"]);
    return c.json(await limitView(options, workspace));
  });

  api.put("/api/workspaces/:name/limit", async (c) => {
    requireAdmin(c, "changing a workspace's limits");
    const workspace = checkName("workspace", c.req.param("name"), ["path", "name"]);
    const request: WorkspaceLimitRequest = await parse(c, limitRequest);
    const limit = mergeLimit(await storedLimit(options, workspace), request);
    await options.store.setLimit(limit);
    options.limits.set(limit);
    return c.json(await limitView(options, workspace));
  });
}

async function storedLimit(options: SecurityApiOptions, workspace: string): Promise<WorkspaceLimit> {
  return (await options.store.listLimits()).find((limit) => limit.workspace === workspace) ?? { workspace };
}

/** `request` over `current`: given fields replace, `null` clears, absent ones stay; a rate alone gets a burst of 5 s worth. */
export function mergeLimit(current: WorkspaceLimit, request: WorkspaceLimitRequest): WorkspaceLimit {
  const pair = (rate: number | null | undefined, burst: number | null | undefined, old: [number?, number?]): [number?, number?] => {
    if (rate === null) return [];
    const newRate = rate ?? old[0];
    if (newRate === undefined) {
      if (typeof burst === "number") {
        throw new BerthError("invalid_input", "a burst needs a rate: give both", { details: { issues: [{ loc: ["burst"], message: "needs a rate" }] } });
      }
      return [];
    }
    // A new rate, or a burst cleared with null, gets 5 s worth; otherwise the burst given, or the one stored.
    const fiveSeconds = Math.max(1, Math.ceil(newRate * 5));
    return [newRate, typeof burst === "number" ? burst : burst === null || rate !== undefined ? fiveSeconds : old[1]];
  };
  const [rate, burst] = pair(request.rate, request.burst, [current.rate, current.burst]);
  const [clientRate, clientBurst] = pair(request.clientRate, request.clientBurst, [current.clientRate, current.clientBurst]);
  const containers = request.containers === null ? undefined : (request.containers ?? current.containers);
  return {
    workspace: current.workspace,
    ...(rate !== undefined && burst !== undefined ? { rate, burst } : {}),
    ...(clientRate !== undefined && clientBurst !== undefined ? { clientRate, clientBurst } : {}),
    ...(containers !== undefined ? { containers } : {}),
  };
}

async function limitView(options: SecurityApiOptions, workspace: string): Promise<WorkspaceLimitView> {
  const own = await storedLimit(options, workspace);
  return {
    workspace,
    ...options.limits.limitOf(workspace),
    custom: own.rate !== undefined,
    client: options.limits.clientLimitOf(workspace),
    clientCustom: own.clientRate !== undefined,
    containers: options.limits.containerLimitOf(workspace),
    serverContainers: options.limits.maxContainers,
  };
}
