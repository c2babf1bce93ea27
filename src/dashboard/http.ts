/**
 * What the dashboard's route modules share: the Hono environment (the Node
 * request, the session) and how a page is answered.
 */
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import type { Session } from "./sessions.js";

export type DashboardEnv = { Bindings: { incoming?: IncomingMessage }; Variables: { session: Session } };

/** Answers a page: HTML, never cached (it carries workspace data). */
export function page(c: Context, body: unknown, status: 200 | 401 | 403 | 404 | 429 = 200): Response | Promise<Response> {
  c.header("cache-control", "no-store");
  return c.html(`<!DOCTYPE html>${String(body)}`, status);
}
