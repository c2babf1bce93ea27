/**
 * The one table of errors a client or user can see: a named code, its HTTP
 * status and the message. The gateway, the control API and the CLI answer
 * with these; the README's error table is generated from the same list (a
 * test checks they agree).
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
  image_build_failed: { status: 422, message: "A step of the function's image failed to build." },
  rate_limited: { status: 429, message: "Too many requests for this workspace; retry later." },
  headers_too_large: { status: 431, message: "The request headers are too large." },
  internal_error: { status: 500, message: "Internal Server Error" },
  upstream_failed: {
    status: 502,
    message: "The function's container closed the connection before answering (it may have crashed; see `berth app logs`).",
  },
  queue_full: { status: 503, message: "The function is at capacity and its queue is full; retry later." },
  startup_failed: { status: 503, message: "The function's container could not start." },
  stopped: { status: 503, message: "The function is shutting down." },
  timeout: { status: 504, message: "The function did not finish within its timeout." },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; [detail: string]: unknown };
}

/** The JSON body for `code`, with an optional more specific message and details. */
export function errorBody(code: ErrorCode, message?: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { code, message: message ?? ERRORS[code].message, ...details } };
}

/** An error that carries its code, so whoever catches it knows the status to answer with. */
export class BerthError extends Error {
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message ?? ERRORS[code].message);
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  toJSON(): ErrorBody {
    return errorBody(this.code, this.message, this.details);
  }
}
