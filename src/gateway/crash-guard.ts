/**
 * Keeps a fault of the gateway's own code from ending every tenant's
 * traffic. An exception thrown inside a socket listener (a `data` handler
 * that reads a container's answer, a request body's `data`, a WebSocket
 * frame) does not reach the request's promise chain: it unwinds into
 * Node's stream machinery and from there to the process's
 * `uncaughtException`, whose default is to exit.
 *
 * So the gateway registers, for every socket it reads on behalf of a
 * request, the `CrashScope` that answers for it (the call, the upstream
 * connection, the WebSocket relay). When an exception escapes, the guard
 * asks Node which socket's callback was running (`executionAsyncResource`,
 * no cost until something fails), and that scope alone ends its request:
 * logged with the stack, 500 if nothing was sent yet, otherwise a cut
 * connection, its container slot released. Nothing is swallowed blindly:
 * an exception that no request owns is left to the process's other
 * handlers, or, with none, ends the process as Node's default would.
 *
 * The hot path pays one `WeakMap.set` per request; an AsyncLocalStorage
 * context per request would cost ~10% of a hello request's throughput on
 * Node 20 (promise hooks on every await), measured with wrk on this machine.
 */
import { executionAsyncResource } from "node:async_hooks";
import type { Logger } from "../logging/logger.js";

/** Whatever can end one request (or one connection) cleanly after an unexpected exception. */
export interface CrashScope {
  /** Logs `error` and ends the request it belongs to: 500 if nothing was sent, else a cut connection; releases what it holds. */
  crashed(error: unknown): void;
}

const scopes = new WeakMap<object, CrashScope>();

/** From now on, an exception thrown while `socket`'s events are handled is `scope`'s. */
export function guardSocket(socket: object, scope: CrashScope): void {
  scopes.set(socket, scope);
}

/** The servers running in this process: the guard is installed while there is one; the first one's log is used. */
const loggers: Logger[] = [];

/** Starts the guard for this process (once however many servers run in it); returns its uninstaller. */
export function installCrashGuard(logger: Logger): () => void {
  if (loggers.length === 0) process.on("uncaughtException", onUncaught);
  loggers.push(logger);
  let installed = true;
  return () => {
    if (!installed) return;
    installed = false;
    loggers.splice(loggers.indexOf(logger), 1);
    if (loggers.length === 0) process.off("uncaughtException", onUncaught);
  };
}

function onUncaught(error: unknown): void {
  const logger = loggers[0]!;
  const scope = scopeOf(executionAsyncResource());
  if (scope) {
    try {
      scope.crashed(error);
    } catch (secondary) {
      logger.error({ err: secondary }, "the crash guard could not end the failed request");
    }
    return;
  }
  // Not a request's: other handlers (a test runner, an embedding application) decide; alone, behave as Node would.
  if (process.listenerCount("uncaughtException") === 1) {
    logger.fatal({ err: error }, "uncaught exception outside any request; exiting");
    // The log line is out before the exit: pino writes straight to its stream, and process.stdout writes synchronously on Linux.
    process.exit(1);
  }
}

/** The scope of the socket whose callback was running: the resource is the socket or its libuv handle. */
function scopeOf(resource: object): CrashScope | undefined {
  const direct = scopes.get(resource);
  if (direct) return direct;
  const owner = ownerOf(resource);
  return owner ? scopes.get(owner) : undefined;
}

/**
 * Node runs socket callbacks with the libuv handle (TCPWrap, PipeWrap) as
 * the resource; the `net.Socket` that owns it is kept under Node's
 * `owner_symbol`, which is not exported, so it is found by its description.
 */
let ownerSymbol: symbol | undefined;

function ownerOf(resource: object): object | undefined {
  if (!ownerSymbol) ownerSymbol = Object.getOwnPropertySymbols(resource).find((symbol) => symbol.description === "owner_symbol");
  if (!ownerSymbol) return undefined;
  const owner = (resource as Record<symbol, unknown>)[ownerSymbol];
  return typeof owner === "object" && owner !== null ? owner : undefined;
}
