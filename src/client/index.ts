/**
 * berth's typed client (`berthjs/client`): calls a function's URL from
 * TypeScript with types taken from the function itself.
 *
 *   const square = endpoint<typeof import("./app.js").square>(url);
 *   const { square: n } = await square.get({ x: 42 });
 *
 * Web-standard `fetch` only (no Node modules), so it runs in Node, Deno,
 * Bun and browsers. It validates nothing: the endpoint does, and its 422
 * arrives as a `BerthError` naming each bad field. It follows result URLs
 * (the 303 a long call gets) until the answer, and sends proxy-auth
 * credentials only to the function's own origin.
 */
import { BerthError, isErrorCode, issuesOf } from "../errors/codes.js";
import { RETURN_HEADER } from "../sdk/contract.js";
import type { AppClient, CallOptions, ClientOf, ParamsOf, QueryValue } from "./types.js";

export { BerthError, issuesOf };
export type { FieldIssue, ErrorCode } from "../errors/codes.js";
export type { AppClient, CallOptions, ClientOf, EndpointClient, Jsonified, ParamsArg, QueryArg, QueryValue, ResultOf } from "./types.js";

/** A `fetch` to call with: the global one by default. */
export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>;

export interface ClientOptions<Params = Record<string, QueryValue | undefined>> {
  /** Proxy-auth credentials (`berth token create --proxy`), sent as `Berth-Key` and `Berth-Secret`. */
  proxyAuth?: { key: string; secret: string } | undefined;
  /** Headers sent with every call. */
  headers?: HeadersInit | undefined;
  /** A parametrized function's params, sent in the query string of every call. */
  params?: Params | undefined;
  /**
   * The `fetch` to use. In Node, undici's with a dispatcher reaches
   * `*.localhost` hosts, which Node's resolver does not know (see the README).
   */
  fetch?: FetchFunction | undefined;
}

/**
 * A client of the function at `url`. Give it the function's type to get
 * typed calls: a simple endpoint gets one method named after its own
 * (`get(query)`, `post(body, { query })`, ...); every client has
 * `fetch(path, init)` for plain requests.
 *
 * @example
 * const square = endpoint<typeof import("./app.js").square>("http://local--web-demo-square.localhost:8600/");
 * const { square: n } = await square.get({ x: 42 });
 */
export function endpoint<F = unknown>(url: string | URL, options?: ClientOptions<ParamsOf<F>>): ClientOf<F>;
// The object has every method; the signature above shows the one the endpoint accepts, with its types.
export function endpoint(url: string | URL, options: ClientOptions = {}): AppClient & Record<string, unknown> {
  const base = new URL(url);
  const send = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const callUrl = (path: string, query: Record<string, unknown> | undefined): URL => {
    const target = new URL(path, base);
    appendQuery(target, options.params);
    appendQuery(target, query);
    return target;
  };
  const headersFor = (extra: HeadersInit | undefined): Headers => {
    const headers = new Headers(options.headers);
    for (const [name, value] of new Headers(extra)) headers.set(name, value);
    if (options.proxyAuth) {
      headers.set("berth-key", options.proxyAuth.key);
      headers.set("berth-secret", options.proxyAuth.secret);
    }
    return headers;
  };
  const call = async (method: string, query: Record<string, unknown> | undefined, body: unknown, per: CallOptions = {}) => {
    const headers = headersFor(per.headers);
    const init: RequestInit = { method, headers, signal: per.signal ?? null };
    if (body !== undefined) {
      headers.set("content-type", "application/json");
      init.body = JSON.stringify(body);
    }
    const response = await followResults(send, callUrl(base.pathname, query), init, base.origin);
    if (response.status >= 400) throw await errorOf(response);
    return response.headers.get(RETURN_HEADER) === "json" ? response.json() : response;
  };
  const withBody = (method: string) => (body: unknown, per: CallOptions & { query?: Record<string, unknown> } = {}) =>
    call(method, per.query, body, per);
  return {
    url: base.href,
    fetch: (path = "/", init: RequestInit = {}) =>
      followResults(send, callUrl(path, undefined), { ...init, headers: headersFor(init.headers) }, base.origin),
    get: (query?: Record<string, unknown>, per?: CallOptions) => call("GET", query, undefined, per),
    post: withBody("POST"),
    put: withBody("PUT"),
    patch: withBody("PATCH"),
    delete: withBody("DELETE"),
  };
}

/** Adds `values` to the query string: arrays as repeated keys, `undefined` left out. */
function appendQuery(url: URL, values: Record<string, unknown> | undefined): void {
  if (!values) return;
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    url.searchParams.delete(key);
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(item));
  }
}

/** Plain redirects followed before giving up; a result URL's 303s do not count (each one waits for the call). */
const MAX_REDIRECTS = 20;
const RESULT_PATH = "/__berth/calls/";

/**
 * Sends the request and follows redirects: a 303 (a long call's result
 * URL, which answers 303 to itself until the call is done) with a GET, as
 * often as it takes. Browsers do not show a redirect's `Location` to
 * scripts, so there the browser follows them itself (at most 20).
 * Credentials go only to `origin`.
 */
async function followResults(send: FetchFunction, url: URL, init: RequestInit, origin: string): Promise<Response> {
  if (inBrowser()) return send(url.href, { ...init, redirect: "follow" });
  let current = url;
  let request: RequestInit = { ...init, redirect: "manual" };
  for (let plain = 0; ; ) {
    const response = await send(current.href, request);
    const location = response.headers.get("location");
    if (![301, 302, 303, 307, 308].includes(response.status) || location === null) return response;
    await response.body?.cancel().catch(() => {});
    const next = new URL(location, current);
    if (!next.pathname.startsWith(RESULT_PATH) && ++plain > MAX_REDIRECTS) {
      throw new BerthError("upstream_failed", `more than ${MAX_REDIRECTS} redirects from ${url.href}`, { details: { status: response.status } });
    }
    const method = request.method ?? "GET";
    const keepsBody = response.status === 307 || response.status === 308 || method === "GET" || method === "HEAD";
    const headers = new Headers(request.headers);
    if (!keepsBody) headers.delete("content-type");
    if (next.origin !== origin) {
      headers.delete("berth-key");
      headers.delete("berth-secret");
    }
    request = keepsBody ? { ...request, headers } : { ...request, method: "GET", body: null, headers };
    current = next;
  }
}

function inBrowser(): boolean {
  return "document" in globalThis || "WorkerGlobalScope" in globalThis;
}

/** The error an answer of 400 or more stands for: the platform's own code and issues when the body is berth's, else its status and text. */
async function errorOf(response: Response): Promise<BerthError> {
  const text = await response.text().catch(() => "");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {}
  const parsed = BerthError.fromResponse(response.status, body);
  const ours = typeof body === "object" && body !== null && "error" in body && typeof body.error === "object" && body.error !== null && "code" in body.error && isErrorCode(body.error.code);
  const excerpt = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  const message = ours ? parsed.message : `the endpoint answered HTTP ${response.status}${excerpt ? `: ${excerpt}` : ""}`;
  // The code's own status may differ (a handler's 418 has no code of its own): `details.status` is what was answered.
  return new BerthError(parsed.code, message, { details: { ...parsed.details, status: response.status } });
}
