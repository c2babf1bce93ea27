/**
 * The dashboard's defences that do not depend on what a page shows: the
 * session cookie (how it is set and read), the headers every answer
 * carries, and the check that refuses a state-changing request made by
 * another site.
 *
 * Cross-site requests are refused three ways, each enough on its own
 * against a browser: the cookie is SameSite=Strict (another site's form or
 * script does not carry it); a POST must come from this origin
 * (`Sec-Fetch-Site: same-origin` when the browser sends it, and an `Origin`
 * equal to this host when it sends that); and it must carry the session's
 * CSRF token, which only pages of this origin can read. The first is not
 * enough alone because every function host (`<workspace>--<label>.<domain>`)
 * is the same *site* as the dashboard under a real domain, and runs code
 * written by any workspace's members.
 */
import type { Context } from "hono";

export const COOKIE = "berth_session";
/** On HTTPS the cookie takes the `__Host-` prefix: no function host can then set one that shadows it. */
export const SECURE_COOKIE = "__Host-berth_session";

/**
 * Content-Security-Policy of every page: scripts and styles only from this
 * origin, nothing inline that executes (JSON data blocks are not scripts),
 * no framing (clickjacking), forms only to this origin.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

/** Headers of every dashboard answer. Pages carry workspace data: never cached, never framed, never read by another origin. */
export function securityHeaders(c: Context): void {
  c.header("content-security-policy", CSP);
  c.header("x-frame-options", "DENY");
  c.header("x-content-type-options", "nosniff");
  // Not no-referrer: with it, browsers send `Origin: null` on form posts, and the origin check below needs the real one.
  c.header("referrer-policy", "same-origin");
  c.header("cross-origin-opener-policy", "same-origin");
  c.header("cross-origin-resource-policy", "same-origin");
}

/**
 * Whether the browser reached us over TLS (then the cookie is `Secure` and
 * `__Host-`): this server speaks TLS itself, or the request is for
 * `httpsHost`, the public host a proxy that ends TLS serves
 * (`--public-url https://…`; that proxy passes `Host` on unchanged).
 */
export function isSecure(c: Context, httpsHost: string | undefined): boolean {
  if (new URL(c.req.url).protocol === "https:") return true;
  return httpsHost !== undefined && c.req.header("host")?.toLowerCase() === httpsHost;
}

/**
 * The session id from the Cookie header, or undefined. A cookie of that
 * name sent twice (one set by a function host for the whole domain, say)
 * is ambiguous and counts as none.
 */
export function sessionCookie(c: Context, secure: boolean): string | undefined {
  const name = secure ? SECURE_COOKIE : COOKIE;
  let found: string | undefined;
  for (const header of c.req.raw.headers.get("cookie")?.split(";") ?? []) {
    const eq = header.indexOf("=");
    if (eq === -1 || header.slice(0, eq).trim() !== name) continue;
    if (found !== undefined) return undefined;
    found = header.slice(eq + 1).trim();
  }
  return found;
}

/** `Set-Cookie` for a new session: HttpOnly, SameSite=Strict, the whole dashboard; Secure on HTTPS. No Max-Age: it ends with the browser, or earlier on the server. */
export function setSessionCookie(c: Context, secure: boolean, id: string): void {
  c.header("set-cookie", `${secure ? SECURE_COOKIE : COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`);
}

export function clearSessionCookie(c: Context, secure: boolean): void {
  c.header("set-cookie", `${secure ? SECURE_COOKIE : COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? "; Secure" : ""}`);
}

/**
 * Why a state-changing request must be refused as cross-site, or null when
 * it comes from a page of this origin as far as the browser says.
 * `Sec-Fetch-Site` is set by the browser and cannot be forged by a page;
 * `Origin` likewise. A client that sends neither is not a browser acting
 * for someone else (and still needs the session's CSRF token).
 */
export function crossSiteProblem(c: Context): string | null {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin") return `a ${site} request cannot change anything here`;
  const origin = c.req.header("origin");
  // The host, not the whole origin: behind a proxy that ends TLS the page is https:// while this server sees http://.
  if (origin !== undefined && hostOf(origin) !== c.req.header("host")?.toLowerCase()) return `a request from ${origin} cannot change anything here`;
  return null;
}

function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    // `Origin: null` (a sandboxed frame, a file: page) is no origin of ours.
    return null;
  }
}
