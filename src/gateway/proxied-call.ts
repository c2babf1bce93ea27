/**
 * One proxied request after the gateway's checks (server.ts): it waits for a
 * container slot, sends the request to that container, and answers the call;
 * a try that certainly never reached a container goes to another one.
 *
 * It is a small state machine driven by callbacks (`start` → `leased` →
 * `forwarded` → `end`, or `notLeased`), not an async function, because it
 * runs for every request: as two async functions awaiting the upstream's
 * promise, each request made three promises and ran three jobs of the
 * microtask queue. A free slot is leased synchronously; only a request that
 * must wait in the pool's queue meets a promise. Every step called back from
 * elsewhere (the pool's queue, the upstream) ends this call with 500 on an
 * unexpected exception, never lets it escape, and `end` runs exactly once.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "../clock/clock.js";
import { BerthError } from "../errors/codes.js";
import type { Logger } from "../logging/logger.js";
import type { Lease } from "../router/pool.js";
import type { FunctionService } from "../router/service.js";
import type { Call } from "./calls.js";
import type { BodyWatch, Guards } from "./guards.js";
import { UpstreamError, type Upstream } from "./upstream.js";

/** On every response, and on the request the container gets (so its output during the request carries the id). */
export const REQUEST_ID_HEADER = "berth-request-id";
export const SERVER_TIMING_HEADER = "server-timing";

/** Tries per request when containers turn out to be unreachable before answering. */
const MAX_ATTEMPTS = 3;

/** What a proxied call uses of the gateway. */
export interface ProxyContext {
  guards: Guards;
  clock: Clock;
  logger: Logger;
}

/** The container pool a request goes to (a parametrized function has one per set of parameters, params.ts). */
export interface PoolChoice {
  params: Record<string, unknown>;
  key: string;
}

export class ProxiedCall {
  private attempt = 0;
  private queuedAt = 0;
  /** The lease whose forward is under way: a second report of its end (after a fault) is ignored. */
  private forwarding: Lease<Upstream> | undefined;
  private body: BodyWatch | undefined;
  private ended = false;

  /** `headers`: what the container receives (upstreamHeaders in server.ts); `onEnd` hears once that the call is over. */
  constructor(
    private readonly context: ProxyContext,
    private readonly service: FunctionService<Upstream>,
    private readonly choice: PoolChoice,
    private readonly call: Call,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly requestId: string,
    private readonly headers: string[],
    private readonly onEnd: () => void,
  ) {}

  /** Asks for a container slot: a free one at once, else a place in the pool's queue. Never throws. */
  start(): void {
    try {
      this.attempt += 1;
      this.queuedAt = this.context.clock.now();
      const pool = this.service.pool(this.choice.params, this.choice.key);
      const lease = pool.tryAcquire();
      if (lease !== undefined) return this.leased(lease);
      pool.acquire(this.call.signal).then(
        (queued) => this.leased(queued),
        (error: unknown) => this.notLeased(error),
      );
    } catch (error) {
      this.notLeased(error);
    }
  }

  private leased(lease: Lease<Upstream>): void {
    const { call } = this;
    // From here a fault ends the lease's try as a failed forward would: the slot is given back either way.
    this.forwarding = lease;
    try {
      call.queueMs += this.context.clock.now() - this.queuedAt;
      call.container = lease.containerId;
      call.coldStartMs += lease.coldStartMs;
      // `timeout` bounds the call from its first slot, not its time in the queue; `settle` ends it.
      call.limit(this.service.timeoutMs);
      // Attached in the same tick as the upstream's reader, so neither misses a chunk.
      this.body ??= this.context.guards.watchBody(this.req, () => call.abort());
      const extra = [REQUEST_ID_HEADER, this.requestId, SERVER_TIMING_HEADER, serverTiming(call.queueMs, call.coldStartMs)];
      lease.upstream.forward(this.req, call, this.headers, extra, call.signal, (error) => this.forwarded(lease, error));
    } catch (error) {
      this.forwarded(lease, error);
    }
  }

  /** The pool refused a slot: its refusals carry their answer, `Retry-After` included (the WebSocket path answers the same). */
  private notLeased(error: unknown): void {
    try {
      this.call.queueMs += this.context.clock.now() - this.queuedAt;
      if (!(error instanceof BerthError)) return this.fault(error);
      if (error.code !== "client_closed") {
        const denial = { code: error.code, message: error.message, headers: error.headers };
        this.context.guards.refuseThrough(this.req, this.res, denial, {}, (code, message, headers) => this.call.fail(code, message, headers));
      }
      this.end();
    } catch (fault) {
      this.fault(fault);
    }
  }

  /** The exchange with the container ended: with the response complete, or with `error`. */
  private forwarded(lease: Lease<Upstream>, error: unknown): void {
    if (this.forwarding !== lease) return;
    this.forwarding = undefined;
    const { call } = this;
    try {
      if (error === undefined) {
        lease.release();
        return this.end();
      }
      // A container that died an instant ago may still be picked; a request it never received goes to another.
      const resend = error instanceof UpstreamError && error.retryable && !call.signal.aborted;
      // A timed-out call may still be running in its container (or blocking it): the pool checks before trusting it again.
      lease.release(resend ? "unreachable" : call.timedOut ? "abandoned" : "done");
      if (resend && this.attempt < MAX_ATTEMPTS) return this.start();
      const stopped = this.body?.stopped();
      if (stopped) this.context.guards.refuseBody(this.req, this.res, stopped, (code, message, extra) => call.fail(code, message, extra));
      else if (call.timedOut) call.fail("timeout", `The function did not finish within its timeout of ${this.service.manifest.timeout} s.`);
      else if (call.signal.aborted) call.cut();
      else if (error instanceof UpstreamError) call.fail(error.code, error.message);
      else return this.fault(error);
      this.end();
    } catch (fault) {
      this.fault(fault);
    }
  }

  /** A fault of the gateway's own: logged with its stack; the client gets 500 (or a cut response). */
  private fault(error: unknown): void {
    this.context.logger.error({ err: error, requestId: this.requestId }, "unexpected error in a request; it got 500");
    try {
      this.call.fail("internal_error");
    } finally {
      this.end();
    }
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
  }
}

const NO_WAIT = "queue;dur=0.0";

/**
 * The `server-timing` of a proxied response (W3C Server Timing): how long
 * the request waited for a container slot, in milliseconds, split into
 * `cold-start` (the part spent on the start of the container that served
 * it, present only then) and `queue` (the rest). The two add up to the wait
 * that `berth_queue_wait_seconds` counts. E.g. `queue;dur=0.2, cold-start;dur=14.8`.
 */
export function serverTiming(waitMs: number, coldStartMs: number): string {
  // The usual answer (a warm container free at once), without formatting numbers.
  if (coldStartMs === 0 && waitMs < 0.04) return NO_WAIT;
  const queue = `queue;dur=${Math.max(0, waitMs - coldStartMs).toFixed(1)}`;
  return coldStartMs > 0 ? `${queue}, cold-start;dur=${coldStartMs.toFixed(1)}` : queue;
}
