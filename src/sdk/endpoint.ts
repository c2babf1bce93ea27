/**
 * A simple web endpoint (`webEndpoint`) as a web-standard fetch handler: method
 * and CORS handling, query and JSON body validation with Standard Schemas,
 * FastAPI-like 422s, turning return values into responses, and the optional
 * `/docs` and `/openapi.json`. It is bundled into user bundles, so it depends
 * on nothing from the platform: the agent only sees `(Request) => Response`.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { ERRORS, errorBody, type ErrorCode } from "../errors/codes.js";
import { RETURN_HEADER, type FieldIssue } from "./contract.js";
import { buildOpenApiDocument, renderDocsPage } from "./openapi.js";
import { corsPolicy, type CorsOption } from "./cors.js";
import { PlainResponse } from "./plain-response.js";
import { requestHeader } from "./request-header.js";
import { isStandardSchema, validate } from "./schema.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export const HTTP_METHODS: readonly HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/** The handler's `query` when the endpoint has no query schema: a repeated key gives an array. */
export type RawQuery = Record<string, string | string[]>;

/**
 * Options of `webEndpoint`. `Q` and `B` are what the schemas produce (the
 * handler's `query` and `body`), `QI` and `BI` what they accept (what a typed
 * client may send).
 */
export interface EndpointOptions<Q = RawQuery, B = unknown, QI = unknown, BI = unknown> {
  /** HTTP method accepted. Default "GET". */
  method?: HttpMethod;
  /**
   * Standard Schema for the query string. Values are strings (a repeated key
   * gives an array of strings), so use coercing schemas like `z.coerce.number()`.
   */
  query?: StandardSchemaV1<QI, Q>;
  /** Standard Schema for a JSON body. Without one, any JSON value is accepted for non-GET methods. */
  body?: StandardSchemaV1<BI, B>;
  /** Serve `/docs` and `/openapi.json`. Default false. */
  docs?: boolean;
  /** URL label override. */
  label?: string;
  /** Demand proxy-auth headers (checked by the gateway). Default false. */
  requiresProxyAuth?: boolean;
  /**
   * CORS: `true` (default) answers preflights and adds
   * `Access-Control-Allow-Origin: *`; `false` adds nothing; `{ origins: [...] }`
   * allows only those origins.
   *
   * @example { cors: { origins: ["https://app.example.com"], credentials: true } }
   */
  cors?: CorsOption;
}

export interface EndpointContext<Q, B, S = unknown, P = Record<string, unknown>> {
  query: Q;
  body: B;
  params: P;
  request: Request;
  /** client address as the gateway saw it */
  clientIp: string;
  /** what `enter` returned */
  state: S;
}

/** A simple endpoint's handler; `R` is what it returns (see the README's table of return values). */
export type EndpointHandler<Q, B, S, P, R = unknown> = (ctx: EndpointContext<Q, B, S, P>) => R;

/**
 * A handler once `webEndpoint`'s overloads have checked its types: what runs
 * it passes validated values it knows only as `unknown`. Declared as a
 * method's type so that any `EndpointHandler<Q, B, S, P>` is one (method
 * parameters are compared both ways), without a cast.
 */
export type ErasedEndpointHandler = { handle(ctx: EndpointContext<unknown, unknown, unknown, unknown>): unknown }["handle"];

const JSON_HEADERS = { "content-type": "application/json" } as const;
const VALUE_HEADERS = { "content-type": "application/json", [RETURN_HEADER]: "json" } as const;
const BYTES_HEADERS = { "content-type": "application/octet-stream" } as const;
const DOCS_PATH = "/docs";
const OPENAPI_PATH = "/openapi.json";
const DOCS_ALLOW = "GET, HEAD, OPTIONS";

/**
 * Builds the fetch handler of one endpoint. Definition mistakes throw here, at
 * import/start time, so they surface in `berth serve` rather than per request.
 * `scope.state` is read on every request, so it may be filled in after this
 * call (once `enter` has run).
 */
export function createEndpointFetch(
  name: string,
  options: EndpointOptions<unknown, unknown>,
  handler: ErasedEndpointHandler,
  scope: { state: unknown; params: Record<string, unknown> },
): (request: Request) => Response | Promise<Response> {
  const method = resolveMethod(name, options.method);
  if (options.query !== undefined && !isStandardSchema(options.query)) {
    throw new Error(`berth: endpoint "${name}": \`query\` must be a Standard Schema (zod, valibot, arktype, ...)`);
  }
  if (options.body !== undefined && !isStandardSchema(options.body)) {
    throw new Error(`berth: endpoint "${name}": \`body\` must be a Standard Schema (zod, valibot, arktype, ...)`);
  }
  if (method === "GET" && options.body !== undefined) {
    throw new Error(
      `berth: endpoint "${name}" accepts GET, which carries no body, but has a \`body\` schema; ` +
        `set \`method: "POST"\` (or PUT/PATCH/DELETE) or move the fields into \`query\``,
    );
  }
  if (typeof handler !== "function") {
    throw new Error(`berth: endpoint "${name}": the handler must be a function`);
  }

  const cors = corsPolicy(name, options.cors);
  const querySchema = options.query;
  const bodySchema = options.body;
  const takesBody = method !== "GET";
  const allow = method === "GET" ? DOCS_ALLOW : `${method}, OPTIONS`;
  const docs = options.docs === true;
  // Schemas never change, so the documents are built once, on first request.
  let docsCache: { json: string; html: string } | undefined;
  const docsDocuments = () => {
    if (docsCache === undefined) {
      const document = buildOpenApiDocument({ name, method, query: querySchema, body: bodySchema });
      docsCache = { json: JSON.stringify(document), html: renderDocsPage(document) };
    }
    return docsCache;
  };

  /**
   * The answer to a request for the endpoint itself. Synchronous when
   * nothing needs waiting for (no query schema, no body to read, a handler
   * that returns a value rather than a promise), which is most requests:
   * every promise on a request's way costs the agent's per-request output
   * context (agent/request-output.ts) its bookkeeping, ~6 µs per hello
   * request when every step was `async`.
   */
  function serveEndpoint(request: Request, search: string): Response | Promise<Response> {
    if (querySchema === undefined && !takesBody) return runHandler(request, parseQuery(search), undefined);
    return serveValidated(request, search);
  }

  async function serveValidated(request: Request, search: string): Promise<Response> {
    const issues: FieldIssue[] = [];
    let query: unknown = parseQuery(search);
    if (querySchema) {
      const result = await validate(querySchema, query, "query");
      if (result.ok) query = result.value;
      else issues.push(...result.issues);
    }

    let body: unknown = undefined;
    if (takesBody) {
      const read = await readJsonBody(request);
      if (read.kind === "unsupported") {
        const message =
          read.contentType === null
            ? 'The request body must be JSON: send it with "Content-Type: application/json"'
            : `Unsupported Content-Type "${read.contentType}": this endpoint takes a JSON body; send it with "Content-Type: application/json"`;
        return errorResponse("unsupported_media_type", message);
      }
      if (read.kind === "malformed") {
        issues.push({ loc: ["body"], message: read.message });
      } else if (bodySchema) {
        const result = await validate(bodySchema, read.value, "body");
        if (result.ok) body = result.value;
        // The schema's own complaint about `undefined` ("expected object,
        // received undefined") says less than this.
        else if (read.value === undefined) issues.push({ loc: ["body"], message: "body is required" });
        else issues.push(...result.issues);
      } else {
        body = read.value;
      }
    }

    if (issues.length > 0) {
      return errorResponse("invalid_input", undefined, { issues });
    }
    return runHandler(request, query, body);
  }

  function runHandler(request: Request, query: unknown, body: unknown): Response | Promise<Response> {
    const result = handler({ query, body, params: scope.params, request, clientIp: clientIpOf(request), state: scope.state });
    return isThenable(result) ? Promise.resolve(result).then(toResponse) : toResponse(result);
  }

  /** Routes a request: the endpoint, its docs, a preflight, or 405. */
  function route(request: Request): Response | Promise<Response> {
    const requestMethod = request.method;
    const { path, search } = splitUrl(request.url);
    const isDocs = docs && (path === DOCS_PATH || path === OPENAPI_PATH);
    if (requestMethod === "OPTIONS") return cors.preflight(request, isDocs ? DOCS_ALLOW : allow);
    if (isDocs) {
      if (requestMethod !== "GET" && requestMethod !== "HEAD") return methodNotAllowed(requestMethod, DOCS_ALLOW);
      const documents = docsDocuments();
      return path === OPENAPI_PATH
        ? new Response(documents.json, { headers: JSON_HEADERS })
        : new Response(documents.html, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (requestMethod === method || (requestMethod === "HEAD" && method === "GET")) return serveEndpoint(request, search);
    return methodNotAllowed(requestMethod, allow);
  }

  /** What the client gets for `response`: no body for HEAD, and the CORS headers. */
  function finish(request: Request, response: Response): Response | Promise<Response> {
    // `Response.error()` (status 0) cannot be rebuilt, so it is left as it is.
    if (request.method === "HEAD" && response.body !== null && response.status >= 200) {
      const bodiless = new Response(null, { status: response.status, statusText: response.statusText, headers: response.headers });
      return response.body.cancel().then(
        () => cors.decorate(request, bodiless),
        () => cors.decorate(request, bodiless),
      );
    }
    return cors.decorate(request, response);
  }

  return function endpointFetch(request: Request): Response | Promise<Response> {
    let response: Response | Promise<Response>;
    try {
      response = route(request);
    } catch (error) {
      response = failed(error);
    }
    if (response instanceof Promise) {
      return response.then(
        (answer) => finish(request, answer),
        (error: unknown) => finish(request, failed(error)),
      );
    }
    return finish(request, response);
  };
}

/** A handler that threw or rejected: logged, and answered 500. */
function failed(error: unknown): Response {
  // The platform tags each log line with the function and the request: the message needs neither.
  console.error("request failed:", error);
  return errorResponse("internal_error");
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function resolveMethod(name: string, method: unknown): HttpMethod {
  if (method === undefined) return "GET";
  const known = HTTP_METHODS.find((candidate) => candidate === method);
  if (known) return known;
  const upper = typeof method === "string" ? method.toUpperCase() : "";
  const hint = HTTP_METHODS.some((candidate) => candidate === upper) ? ` (did you mean "${upper}"?)` : "";
  throw new Error(
    `berth: endpoint "${name}": unsupported method ${JSON.stringify(method)}${hint}; use one of ${HTTP_METHODS.map((m) => `"${m}"`).join(", ")}`,
  );
}

/** Path and query of an absolute URL without a full parse: this runs on every request. */
function splitUrl(url: string): { path: string; search: string } {
  const authority = url.indexOf("://");
  let start = url.indexOf("/", authority === -1 ? 0 : authority + 3);
  if (start === -1) start = url.length;
  let end = url.indexOf("#", start);
  if (end === -1) end = url.length;
  const question = url.indexOf("?", start);
  if (question === -1 || question > end) return { path: url.slice(start, end) || "/", search: "" };
  return { path: url.slice(start, question) || "/", search: url.slice(question + 1, end) };
}

function parseQuery(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  if (search === "") return query;
  for (const [key, value] of new URLSearchParams(search)) {
    const previous = Object.hasOwn(query, key) ? query[key] : undefined;
    const next = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
    // A plain assignment to "__proto__" would replace the object's prototype.
    if (key === "__proto__") Object.defineProperty(query, key, { value: next, enumerable: true, writable: true, configurable: true });
    else query[key] = next;
  }
  return query;
}

function clientIpOf(request: Request): string {
  const forwarded = requestHeader(request, "x-forwarded-for");
  if (forwarded === null) return "";
  const comma = forwarded.indexOf(",");
  return (comma === -1 ? forwarded : forwarded.slice(0, comma)).trim();
}

function isJsonMediaType(contentType: string): boolean {
  const semicolon = contentType.indexOf(";");
  const type = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

type BodyRead =
  | { kind: "value"; value: unknown }
  | { kind: "unsupported"; contentType: string | null }
  | { kind: "malformed"; message: string };

async function readJsonBody(request: Request): Promise<BodyRead> {
  if (request.body === null || requestHeader(request, "content-length") === "0") return { kind: "value", value: undefined };
  const contentType = requestHeader(request, "content-type");
  // Refuse before reading: the body may be large and is useless to us.
  if (contentType !== null && !isJsonMediaType(contentType)) return { kind: "unsupported", contentType };
  const text = await request.text();
  // A chunked body may turn out empty; only then is a missing type harmless.
  if (text === "") return { kind: "value", value: undefined };
  if (contentType === null) return { kind: "unsupported", contentType };
  try {
    return { kind: "value", value: JSON.parse(text) };
  } catch (error) {
    return { kind: "malformed", message: `Invalid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
}

function methodNotAllowed(requestMethod: string, allow: string): Response {
  const expected = allow === DOCS_ALLOW ? "GET" : allow.slice(0, allow.indexOf(","));
  const response = errorResponse("method_not_allowed", `Method ${requestMethod} is not allowed here; send a ${expected} request`);
  response.headers.set("allow", allow);
  return response;
}

function jsonResponse(status: number, value: unknown): Response {
  return new PlainResponse(JSON.stringify(value), { status, headers: JSON_HEADERS });
}

/** An answer from the platform's error table, the same shape the gateway answers with. */
function errorResponse(code: ErrorCode, message?: string, details?: Record<string, unknown>): Response {
  return jsonResponse(ERRORS[code].status, errorBody(code, message, details));
}

interface ResponseLike {
  status: number;
  statusText: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
}

/** A Response from another fetch implementation (e.g. the `undici` package). */
function isResponseLike(value: object): value is ResponseLike {
  const v = value as Partial<Record<keyof ResponseLike | "arrayBuffer", unknown>>;
  return (
    typeof v.status === "number" &&
    typeof v.arrayBuffer === "function" &&
    "body" in v &&
    typeof v.headers === "object" &&
    v.headers !== null &&
    typeof (v.headers as { get?: unknown }).get === "function"
  );
}

function toResponse(value: unknown): Response {
  if (value instanceof Response) return value;
  if (value === undefined || value === null) return new PlainResponse("null", { headers: VALUE_HEADERS });
  if (typeof value === "object") {
    if (value instanceof ReadableStream) return new Response(value, { headers: BYTES_HEADERS });
    // Bytes as JSON would be an object of numbered keys: nobody wants that.
    if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
      return new Response(value as Uint8Array<ArrayBuffer> | ArrayBuffer, { headers: BYTES_HEADERS });
    }
    if (value instanceof Blob) return new Response(value);
    if (isResponseLike(value)) {
      return new Response(value.body, { status: value.status, statusText: value.statusText, headers: value.headers });
    }
    if (Symbol.asyncIterator in value) {
      return new Response(iterableStream(value as AsyncIterable<unknown>), { headers: BYTES_HEADERS });
    }
  }
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`the handler returned a ${typeof value}, which cannot be sent as JSON`);
  return new PlainResponse(json, { headers: VALUE_HEADERS });
}

function iterableStream(iterable: AsyncIterable<unknown>): ReadableStream<Uint8Array> {
  const iterator = iterable[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await iterator.next();
        if (done) return controller.close();
        if (typeof value === "string") controller.enqueue(encoder.encode(value));
        else if (value instanceof Uint8Array) controller.enqueue(value);
        else throw new TypeError(`a streamed chunk must be a string or a Uint8Array, got ${value === null ? "null" : typeof value}`);
      } catch (error) {
        // The status line is already sent: all we can do is cut the stream and log why.
        console.error("response stream failed:", error);
        controller.error(error);
        await closeIterator(iterator);
      }
    },
    async cancel() {
      // The client went away: let the generator run its `finally` blocks.
      await closeIterator(iterator);
    },
  });
}

async function closeIterator(iterator: AsyncIterator<unknown>): Promise<void> {
  try {
    await iterator.return?.();
  } catch {}
}
