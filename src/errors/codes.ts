/**
 * The one table of errors a client or user can see, and the one error type
 * that carries them. Each entry is a named code, the HTTP status it is
 * answered with and a message safe to show anyone. The SDK, the gateway,
 * the control plane and the CLI all throw and answer `BerthError`s with
 * these codes; the README's error table lists the same codes and statuses
 * (test/errors.test.ts checks that they agree).
 *
 * This module is a leaf: it imports nothing, so the SDK can carry it into
 * user bundles.
 */
export const ERRORS = {
  bad_request: { status: 400, message: "The request is malformed." },
  unauthorized: { status: 401, message: "Missing or invalid credentials." },
  forbidden: { status: 403, message: "These credentials do not allow this action." },
  not_found: { status: 404, message: "Not found." },
  unknown_host: { status: 404, message: "No berth function answers at this host." },
  method_not_allowed: { status: 405, message: "This endpoint does not accept that method." },
  request_timeout: { status: 408, message: "The request was not received in time." },
  result_busy: { status: 409, message: "Another client is already waiting for this call's result." },
  payload_too_large: { status: 413, message: "The request body is larger than the limit." },
  unsupported_media_type: { status: 415, message: "The request body must be JSON (Content-Type: application/json)." },
  invalid_input: { status: 422, message: "Invalid request input." },
  build_failed: { status: 422, message: "The app could not be built." },
  rate_limited: { status: 429, message: "Too many requests for this workspace; retry later." },
  headers_too_large: { status: 431, message: "The request headers are too large." },
  client_closed: { status: 499, message: "The client closed the connection before the answer." },
  internal_error: { status: 500, message: "Internal Server Error" },
  storage_full: { status: 507, message: "The server's disk is full: it could not store what this request needs." },
  upstream_failed: {
    status: 502,
    message: "The function's container closed the connection before answering (it may have crashed; see `berth app logs`).",
  },
  queue_full: { status: 503, message: "The function is at capacity and its queue is full; retry later." },
  at_capacity: { status: 503, message: "The server is at its container limit; retry later." },
  startup_failed: { status: 503, message: "The function's container could not start." },
  stopped: { status: 503, message: "The function is shutting down." },
  unreachable: { status: 503, message: "No berth server answers at this address." },
  connection_lost: { status: 503, message: "The connection to the berth server broke before its answer arrived; the outcome is unknown." },
  database_unavailable: {
    status: 503,
    message: "The state database is unreachable: running apps keep serving, but changes are refused until it is back.",
  },
  timeout: { status: 504, message: "The function did not finish within its timeout." },
  incompatible_state: { status: 500, message: "This server cannot use this state database." },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** The JSON body of every error the platform answers itself. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; [detail: string]: unknown };
}

/** The JSON body for `code`, with an optional more specific message and details (`issues`). */
export function errorBody(code: ErrorCode, message?: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { code, message: message ?? ERRORS[code].message, ...details } };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERRORS, value);
}

export interface BerthErrorOptions {
  /** Extra fields of the JSON body, e.g. `issues` naming each bad field. */
  details?: Record<string, unknown>;
  /** Response headers that belong to the answer: `Retry-After`, `WWW-Authenticate`. */
  headers?: Record<string, string>;
  /** The underlying error, for the logs; never shown to a client. */
  cause?: unknown;
}

/**
 * An error that carries its code, so whoever catches it knows the status,
 * body and headers to answer with. `message` must be safe to show the
 * client (no secrets, no internals); anything else goes in `cause`.
 *
 * @example throw new BerthError("not_found", `no deployed app named "${name}"`)
 */
export class BerthError extends Error {
  override readonly name: string = "BerthError";
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    options: BerthErrorOptions = {},
  ) {
    super(message ?? ERRORS[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.details = options.details ?? {};
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  toJSON(): ErrorBody {
    return errorBody(this.code, this.message, this.details);
  }

  /**
   * The error a JSON answer of the platform describes (the CLI reading the
   * control API): its code and message, or one made from the status when
   * the body is not ours.
   */
  static fromResponse(status: number, body: unknown): BerthError {
    const error = typeof body === "object" && body !== null && "error" in body ? body.error : undefined;
    if (typeof error === "object" && error !== null && "code" in error && isErrorCode(error.code)) {
      const message = "message" in error && typeof error.message === "string" ? error.message : undefined;
      const details = Object.fromEntries(Object.entries(error).filter(([key]) => key !== "code" && key !== "message"));
      return new BerthError(error.code, message, { details });
    }
    return new BerthError(codeForStatus(status), `the server answered HTTP ${status}`);
  }
}

/** The code of an answer that carried none: the first code with that status, else the class's generic one. */
function codeForStatus(status: number): ErrorCode {
  for (const [code, entry] of Object.entries(ERRORS)) if (entry.status === status && isErrorCode(code)) return code;
  return status >= 500 ? "internal_error" : "bad_request";
}

/** One reason an input was refused; a 422 body lists them as `issues`. */
export interface FieldIssue {
  /** Where the field is: `["query", "x"]`, `["body", "items", 0, "name"]`. */
  loc: (string | number)[];
  message: string;
}

/** The issues a `BerthError` carries in its details, if any (validation failures). */
export function issuesOf(error: BerthError): FieldIssue[] {
  const issues = error.details.issues;
  if (!Array.isArray(issues)) return [];
  return issues.filter(
    (issue): issue is FieldIssue =>
      typeof issue === "object" && issue !== null && Array.isArray(issue.loc) && typeof issue.message === "string",
  );
}

/** The `code` of a Node system error (`EADDRINUSE`, `ENOENT`), read from anything thrown. */
export function systemCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
