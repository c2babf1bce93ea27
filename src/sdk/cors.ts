/**
 * CORS for simple endpoints. By default they answer any origin, as the
 * source platform does, so a browser page anywhere can call them; `cors:
 * false` turns that off (browsers then refuse cross-origin calls), and a
 * list of origins narrows it, echoing only those origins back.
 */
import { requestHeader } from "./request-header.js";

/** The `cors` option of `webEndpoint`. Default `true`: any origin, any requested header. */
export type CorsOption = boolean | CorsOptions;

export interface CorsOptions {
  /** Allowed origins, exactly as browsers send them (`https://app.example.com`), or "*" for any. Default "*". */
  origins?: readonly string[] | "*";
  /** Request headers a preflight may allow. Default: whichever the browser asks for. */
  allowHeaders?: readonly string[];
  /** Response headers scripts may read beyond the CORS-safelisted ones. Default none. */
  exposeHeaders?: readonly string[];
  /** Send `Access-Control-Allow-Credentials: true` (cookies, HTTP auth). Needs a list of origins. Default false. */
  credentials?: boolean;
  /** Seconds a browser may cache a preflight answer. Default 600. */
  maxAge?: number;
}

export interface CorsPolicy {
  /** The answer to an `OPTIONS` request with the methods in `allow`. */
  preflight(request: Request, allow: string): Response;
  /** Adds the CORS headers an actual response needs. */
  decorate(request: Request, response: Response): Response;
}

/** Builds the policy once per endpoint; definition mistakes throw at import time. */
export function corsPolicy(name: string, option: CorsOption | undefined): CorsPolicy {
  if (option === false) return NO_CORS;
  const options: CorsOptions = option === true || option === undefined ? {} : option;
  if (typeof options !== "object" || options === null) {
    throw new Error(`berth: endpoint "${name}": \`cors\` must be true, false or { origins, ... }`);
  }
  const origins = options.origins ?? "*";
  if (origins !== "*") {
    for (const origin of origins) {
      let parsed: string | undefined;
      try {
        parsed = new URL(origin).origin;
      } catch {}
      if (parsed !== origin) {
        throw new Error(`berth: endpoint "${name}": CORS origin "${origin}" must be a bare origin like "https://app.example.com" (no path, no trailing slash)`);
      }
    }
  }
  if (options.credentials && origins === "*") {
    throw new Error(`berth: endpoint "${name}": CORS \`credentials: true\` needs an explicit list of origins (browsers refuse it with "*")`);
  }
  const allowed = origins === "*" ? null : new Set(origins);
  const maxAge = String(options.maxAge ?? 600);
  const allowHeaders = options.allowHeaders?.join(", ");
  const exposeHeaders = options.exposeHeaders?.join(", ");

  /** The Access-Control-Allow-Origin value for this request's origin, or null when it is not allowed. */
  const allowOrigin = (origin: string | null): string | null => {
    if (origin === null) return null;
    if (allowed === null) return "*";
    return allowed.has(origin) ? origin : null;
  };
  const common = (headers: Headers, origin: string) => {
    headers.set("access-control-allow-origin", origin);
    if (allowed !== null) headers.append("vary", "Origin");
    if (options.credentials) headers.set("access-control-allow-credentials", "true");
  };

  return {
    preflight(request, allow) {
      const origin = allowOrigin(requestHeader(request, "origin"));
      if (requestHeader(request, "access-control-request-method") === null || origin === null) {
        return new Response(null, { status: 204, headers: { allow, ...(allowed !== null ? { vary: "Origin" } : {}) } });
      }
      const headers = new Headers({ "access-control-allow-methods": allow, "access-control-max-age": maxAge });
      common(headers, origin);
      const requested = requestHeader(request, "access-control-request-headers");
      const permitted = allowHeaders ?? requested;
      if (permitted) headers.set("access-control-allow-headers", permitted);
      return new Response(null, { status: 204, headers });
    },
    decorate(request, response) {
      const origin = allowOrigin(requestHeader(request, "origin"));
      if (origin === null || response.headers.has("access-control-allow-origin")) return response;
      return withHeaders(response, (headers) => {
        common(headers, origin);
        if (exposeHeaders) headers.set("access-control-expose-headers", exposeHeaders);
      });
    },
  };
}

const NO_CORS: CorsPolicy = {
  preflight: (_request, allow) => new Response(null, { status: 204, headers: { allow } }),
  decorate: (_request, response) => response,
};

function withHeaders(response: Response, edit: (headers: Headers) => void): Response {
  try {
    edit(response.headers);
    return response;
  } catch {
    // Headers of fetched or `Response.redirect` responses are immutable.
    if (response.status < 200) return response;
    const copy = new Response(response.body, response);
    edit(copy.headers);
    return copy;
  }
}
