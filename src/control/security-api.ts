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
 *   GET    /api/workspaces/:name/limit → { workspace, rate, burst, custom }
 *   PUT    /api/workspaces/:name/limit { rate, burst } (admin tokens only)
 *
 * A member token acts on its own workspace only (403 otherwise); an admin
 * token (the one a fresh server prints) acts on any, chosen with
 * `?workspace=`.
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { z } from "zod";
import { BerthError } from "../errors/codes.js";
import type { IssuedToken, RateLimit, SecretView, TokenView, WorkspaceLimitView } from "../wire/control-api.js";
import { parseBody as parse } from "./api-schema.js";
import { checkWorkspaceName, type Principal, type TokenService } from "./auth.js";
import type { SecretService } from "./secrets.js";
import type { SecurityStore } from "./store/types.js";

export type ApiEnv = { Variables: { principal: Principal } };

/**
 * The limits the gateway enforces right now, per workspace. The limit
 * routes read and change them, so a new limit applies to the very next
 * request; the composition root passes the gateway's rate limiter.
 */
export interface LiveRateLimits {
  limitOf(workspace: string): RateLimit;
  setLimit(workspace: string, limit: RateLimit): void;
}

export interface SecurityApiOptions {
  tokens: TokenService;
  secrets: SecretService;
  store: SecurityStore;
  rateLimits: LiveRateLimits;
  /** Demand an API token on every call but health. False only for `berth serve`'s embedded platform. */
  requireAuth: boolean;
  defaultWorkspace: string;
}

/** Resolves the caller; 401 without a valid token when tokens are required. */
export function authenticate(options: SecurityApiOptions): MiddlewareHandler<ApiEnv> {
  const local: Principal = { tokenId: "local", workspace: options.defaultWorkspace, admin: true };
  return async (c, next) => {
    if (c.req.path === "/api/health") return next();
    if (!options.requireAuth) {
      c.set("principal", local);
      return next();
    }
    const header = c.req.header("authorization");
    // RFC 9110 §11.1: the scheme is case-insensitive.
    const token = header !== undefined && /^bearer /i.test(header) ? header.slice(7).trim() : undefined;
    const principal = await options.tokens.authenticate(token);
    if (!principal) {
      c.header("www-authenticate", 'Bearer realm="berth"');
      // The body (maybe a 256 MiB bundle) is never read: close rather than drain it for a stranger.
      c.header("connection", "close");
      throw new BerthError(
        "unauthorized",
        token === undefined
          ? "this server requires an API token: pass --token, set BERTH_TOKEN, or run `berth login`"
          : "the API token is invalid or revoked",
      );
    }
    c.set("principal", principal);
    return next();
  };
}

/** The workspace a call acts on: the requested one if the caller may, else 403. */
export function workspaceFor(c: Context<ApiEnv>, requested?: string): string {
  const principal = c.get("principal");
  const workspace = requested ?? c.req.query("workspace") ?? principal.workspace;
  if (!principal.admin && workspace !== principal.workspace) {
    throw new BerthError("forbidden", `this token belongs to workspace "${principal.workspace}" and cannot act on "${workspace}"`);
  }
  return checkWorkspaceName(workspace);
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

const limitRequest = z.object({
  rate: z.number().positive().max(1_000_000),
  burst: z.number().int().min(1).max(10_000_000),
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
    if (!token || token.revokedAt !== null) throw new BerthError("not_found", `no valid token with id "${id}"`);
    workspaceFor(c, token.workspace);
    await tokens.revoke(id);
    return c.json({ revoked: id });
  });

  api.put("/api/secrets/:name", async (c) => {
    const body = await parse(c, secretRequest);
    const secret: SecretView = await secrets.create(workspaceFor(c), c.req.param("name"), body.values);
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
    const workspace = workspaceFor(c, c.req.param("name"));
    const custom = (await options.store.listLimits()).some((limit) => limit.workspace === workspace);
    const view: WorkspaceLimitView = { workspace, ...options.rateLimits.limitOf(workspace), custom };
    return c.json(view);
  });

  api.put("/api/workspaces/:name/limit", async (c) => {
    requireAdmin(c, "changing a workspace's rate limit");
    const workspace = checkWorkspaceName(c.req.param("name"));
    const limit = await parse(c, limitRequest);
    await options.store.setLimit({ workspace, ...limit });
    options.rateLimits.setLimit(workspace, limit);
    return c.json({ workspace, ...limit });
  });
}
