/**
 * The parts of Node's HTTP objects that the SDK's public types mention,
 * declared structurally: the published types then need no @types/node, so
 * a project that only writes simple endpoints (or only uses the client)
 * type-checks without it. Node's own `http.Server`, `IncomingMessage` and
 * `ServerResponse` (and Express's request and response) are all of these.
 * Methods, not function-typed properties, so that their parameters are
 * compared both ways and Node's more precise overloads still fit.
 */

/** An `http.Server` that is not listening yet: berth re-emits the container's requests and upgrades on it. */
export interface HttpServerLike {
  emit(event: string, ...args: unknown[]): boolean;
  listenerCount(event: string): number;
  listen(...args: never[]): unknown;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

/** The request a Node listener receives (Node's `IncomingMessage`). */
export interface IncomingMessageLike extends AsyncIterable<unknown> {
  method?: string | undefined;
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

/** The response a Node listener writes (Node's `ServerResponse`). */
export interface ServerResponseLike {
  statusCode: number;
  setHeader(name: string, value: number | string | readonly string[]): unknown;
  getHeader(name: string): number | string | string[] | undefined;
  writeHead(statusCode: number, headers?: Record<string, number | string | string[]>): unknown;
  write(chunk: string | Uint8Array): boolean;
  end(chunk?: string | Uint8Array): unknown;
  on(event: string, listener: (...args: never[]) => void): unknown;
}
