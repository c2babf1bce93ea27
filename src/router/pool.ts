/**
 * A container pool: the containers of one function version (and parameter
 * set), the queue of inputs waiting for a slot, and the loop that asks the
 * autoscaler how many containers to run. Every input goes to the least-loaded
 * ready container below `maxInputs`; when none has a free slot it waits in a
 * bounded queue. A request never goes to a starting, draining or dead
 * container. The pool knows nothing of HTTP: the gateway attaches its
 * upstream connection to each container through `attach`.
 */
import type { Cancel, Clock } from "../clock/clock.js";
import { BerthError } from "../errors/codes.js";
import type { Logger } from "../logging/logger.js";
import {
  isStartupInterrupted,
  type Container,
  type ContainerEndpoint,
  type ContainerExit,
  type ContainerSpec,
  type LogSink,
  type RuntimeDriver,
} from "../runtime/types.js";
import type { ContainerView, PoolStats } from "../wire/control-api.js";
import { decide, nextWakeup, type AutoscalerSpec, type ContainerObservation, type ContainerPhase, type PoolObservation } from "./autoscaler.js";
import type { IdleContainers, WorkspaceCapacity } from "./capacity.js";

export interface PoolOptions<U> {
  /** Shown in logs: `<app>.<function>` and the parameter set, if any. */
  name: string;
  scaling: AutoscalerSpec;
  /** Inputs allowed to wait for a slot; beyond it `acquire` fails with `queue_full`. */
  queueLimit: number;
  /** Milliseconds a retired container gets for its `exit` hook (it has no inputs left by then). Default 30 000. */
  exitGraceMs?: number;
  /**
   * Milliseconds a container gets to end a call the gateway gave up on
   * (`release("abandoned")`) before it is replaced; it takes no new inputs
   * meanwhile. Default 2 000.
   */
  abandonGraceMs?: number;
  driver: RuntimeDriver;
  /** Builds the spec of a new container. */
  containerSpec(id: string): ContainerSpec;
  /** Receives the pool's own events about a container (ready, crashed, scaled down). */
  log(containerId: string, line: string, stream: "system"): void;
  /** Where a new container's own output goes. */
  output(containerId: string): LogSink;
  /** Opens the gateway's connection to a ready container; `log` writes a system line to that container's log. */
  attach(endpoint: ContainerEndpoint, log: (line: string) => void): U;
  /** Closes it when the container leaves the pool. */
  detach(upstream: U): void;
  /** Times containers and runs the autoscaler's wake-ups. */
  clock: Clock;
  /** The server's log, for what went wrong inside the platform (a runtime that failed unexpectedly). */
  logger: Logger;
  /** Told of each container's start, failure and crash (metrics count them). */
  onEvent?(event: PoolEvent): void;
  /** Slots for containers under the server's and the workspace's caps (capacity.ts); without it, only `maxContainers` bounds the pool. */
  capacity?: WorkspaceCapacity;
  /** The workspace the pool's containers count against. */
  workspace?: string;
  /** Milliseconds an input may wait while the pool cannot start a container for lack of capacity; then 503 `at_capacity`. Default 30 000. */
  capacityWaitMs?: number;
}

/** A pool's lower and upper bound on live containers. */
export type ContainerBounds = Pick<AutoscalerSpec, "minContainers" | "maxContainers">;

export type PoolEvent =
  | { type: "starting"; containerId: string }
  | { type: "ready"; containerId: string; /** ms from the start request to ready */ startMs: number }
  | { type: "start_failed"; containerId: string; message: string }
  | { type: "crashed"; containerId: string; message: string }
  /** A ready container whose connection broke under a request: taken out of service (it may have died; its exit is then not reported again). */
  | { type: "unreachable"; containerId: string; message: string };

/**
 * Why `acquire` gave no slot: `queue_full`, `startup_failed`, `stopped`,
 * `at_capacity` (all 503, with `Retry-After`: the seconds after which a
 * retry can succeed, the remaining backoff after failed starts, else 1), or
 * `client_closed` when the wait was aborted. HTTP and WebSocket requests answer it as it is.
 */
export function poolRefusal(code: "queue_full" | "startup_failed" | "stopped" | "at_capacity", message: string, retryAfterSeconds = 1): BerthError {
  return new BerthError(code, message, { headers: { "retry-after": String(retryAfterSeconds) } });
}

/**
 * How an input left its container:
 * - `done`: answered, or ended by its client;
 * - `unreachable`: the container could not be reached, so it takes no more
 *   inputs and is stopped;
 * - `abandoned`: the gateway gave up on it (its `timeout` passed), so the
 *   container takes no more inputs until it shows it ended the call, and is
 *   replaced if it does not (see `probe`).
 */
export type ReleaseOutcome = "done" | "unreachable" | "abandoned";

export interface Lease<U> {
  readonly containerId: string;
  readonly upstream: U;
  /**
   * Milliseconds of this input's wait that it spent on its container's
   * start: the overlap of its time in the queue with the container's start
   * (start request → ready). 0 when it got a container that was already running.
   */
  readonly coldStartMs: number;
  /** Gives the slot back; call exactly once. */
  release(outcome?: ReleaseOutcome): void;
}

interface Member<U> {
  id: string;
  phase: ContainerPhase;
  inFlight: number;
  idleSince: number | null;
  startedAt: number;
  /** When it became ready; 0 before. */
  readyAt: number;
  container?: Container;
  upstream?: U;
  /** A probe after an abandoned input is under way: no new inputs until it says the container is fine. */
  probing: boolean;
  /** Another input was abandoned while probing: probe again before trusting the container. */
  probeAgain: boolean;
}

/** What can cancel a wait for a slot: an `AbortSignal`, or the gateway's lighter `AbortFlag`. */
export interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

interface Waiter<U> {
  /** When it was queued: capacity waits time out from here, and its cold start share is counted from here. */
  since: number;
  resolve(lease: Lease<U>): void;
  reject(error: BerthError): void;
  signal?: AbortLike;
  onAbort?: () => void;
}

const DEFAULT_ABANDON_GRACE_MS = 2000;

/** Start-up failures back off: 1 s, 2 s, 4 s ... up to 30 s, so a broken function never spins. */
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
/**
 * Starts killed from outside in a row that are retried at once. Something
 * that kills every start (a memory limit the function exceeds as it loads,
 * killed as the OOM killer does) is the function's problem after all, and
 * then backs off like any failure.
 */
const MAX_INTERRUPTED_RETRIES = 3;

let nextContainerNumber = 0;

export class Pool<U> implements IdleContainers {
  private readonly members = new Map<string, Member<U>>();
  /** The members as an array, rebuilt only when one joins or leaves: the autoscaler reads it on every release. */
  private memberList: Member<U>[] = [];
  private readonly queue: Waiter<U>[] = [];
  private stopping = false;
  private cancelWakeup: Cancel | undefined;
  private coldStarts = 0;
  private startFailures = 0;
  private consecutiveFailures = 0;
  /** Starts in a row killed from outside, retried at once; beyond MAX_INTERRUPTED_RETRIES they count as failures. */
  private consecutiveInterruptions = 0;
  private backoffUntil = 0;
  private lastError: string | undefined;
  private drained: Promise<void> | undefined;
  private resolveDrained: (() => void) | undefined;
  /** Milliseconds retiring containers get to run `exit` (their inputs are done by then). */
  private graceMs: number;
  /** Set while the pool wants a container that no capacity slot is free for. */
  private blocked = false;
  private cancelCapacityWait: Cancel | undefined;
  /** Containers of other pools retired to make room for this one that have not yet given their slot back. */
  private reclaiming = 0;

  constructor(private readonly options: PoolOptions<U>) {
    this.graceMs = options.exitGraceMs ?? 30_000;
  }

  get workspace(): string {
    return this.options.workspace ?? "";
  }

  /** Starts the `minContainers` right away rather than on the first request. */
  warmUp(): void {
    this.reconcile();
  }

  /**
   * Changes the pool's container bounds (this node's share of a function's
   * `minContainers` and `maxContainers` when several nodes serve it): the
   * autoscaler starts what a higher minimum needs at once; containers above
   * a lower bound are retired as they fall idle, never cut mid-request.
   */
  resize(bounds: ContainerBounds): void {
    const { scaling } = this.options;
    if (scaling.minContainers === bounds.minContainers && scaling.maxContainers === bounds.maxContainers) return;
    this.options.scaling = { ...scaling, ...bounds };
    if (!this.stopping) this.reconcile();
  }

  /**
   * A slot on a ready container now, or undefined when there is none (then
   * `acquire` waits, or says why not). The gateway's usual case, without the
   * promise and the turn of the event loop `acquire` costs.
   */
  tryAcquire(): Lease<U> | undefined {
    if (this.stopping) return undefined;
    const member = this.pickReady();
    return member ? this.lease(member) : undefined;
  }

  /** Waits for a slot on a ready container. Rejects with a `BerthError` (see `poolRefusal`) when it cannot get one. */
  acquire(signal?: AbortLike): Promise<Lease<U>> {
    if (this.stopping) return Promise.reject(poolRefusal("stopped", "this version of the function is shutting down"));
    const ready = this.tryAcquire();
    if (ready) return Promise.resolve(ready);
    if (this.queue.length >= this.options.queueLimit) {
      return Promise.reject(poolRefusal("queue_full", `the function's queue is full (${this.options.queueLimit} waiting)`));
    }
    const now = this.options.clock.now();
    if (now < this.backoffUntil && this.liveCount() === 0) {
      const wait = Math.ceil((this.backoffUntil - now) / 1000);
      return Promise.reject(poolRefusal("startup_failed", this.lastError ?? "the function failed to start", wait));
    }
    return new Promise<Lease<U>>((resolve, reject) => {
      const waiter: Waiter<U> = { since: now, resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          this.removeWaiter(waiter);
          reject(new BerthError("client_closed", "the client went away"));
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
      this.reconcile();
    });
  }

  /** Stops taking new inputs; serves what is queued and in flight, then stops every container. */
  drain(graceMs: number): Promise<void> {
    if (!this.drained) {
      this.stopping = true;
      this.drained = new Promise((resolve) => (this.resolveDrained = resolve));
      this.graceMs = graceMs;
      this.reconcile();
    }
    return this.drained;
  }

  stats(): PoolStats {
    const stats: PoolStats = {
      starting: 0,
      ready: 0,
      draining: 0,
      inFlight: 0,
      queued: this.queue.length,
      coldStarts: this.coldStarts,
      startFailures: this.startFailures,
      backoffMs: Math.max(0, this.backoffUntil - this.options.clock.now()),
    };
    for (const member of this.members.values()) {
      stats[member.phase] += 1;
      stats.inFlight += member.inFlight;
    }
    if (this.lastError) stats.lastError = this.lastError;
    return stats;
  }

  /** Each container now, oldest first (the dashboard's list; the hot path never calls it). */
  containers(): ContainerView[] {
    const now = this.options.clock.now();
    return [...this.members.values()].map((member) => ({
      id: member.id,
      state: member.phase === "ready" && member.inFlight > 0 ? "busy" : member.phase,
      inFlight: member.inFlight,
      maxInputs: this.options.scaling.maxInputs,
      ageMs: Math.round(now - member.startedAt),
      idleMs: member.phase === "ready" && member.idleSince !== null && member.inFlight === 0 ? Math.round(now - member.idleSince) : null,
    }));
  }

  /** The least-loaded ready container below `maxInputs` (the first of equals, so the oldest). */
  private pickReady(): (Member<U> & { upstream: U }) | undefined {
    let best: (Member<U> & { upstream: U }) | undefined;
    for (const member of this.members.values()) {
      if (member.phase !== "ready" || member.probing || member.inFlight >= this.options.scaling.maxInputs || !hasUpstream(member)) continue;
      if (!best || member.inFlight < best.inFlight) best = member;
    }
    return best;
  }

  private lease(member: Member<U> & { upstream: U }, coldStartMs = 0): Lease<U> {
    member.inFlight += 1;
    member.idleSince = null;
    return new PoolLease(this, member, member.upstream, coldStartMs);
  }

  /** @internal An input left `member` (PoolLease.release, once per lease). */
  released(member: Member<U>, outcome: ReleaseOutcome): void {
    member.inFlight -= 1;
    if (outcome === "unreachable" && member.phase === "ready") {
      this.lastError = `container ${member.id} was unreachable; it was taken out of service and is replaced as demand needs`;
      this.options.log(member.id, this.lastError, "system");
      this.options.onEvent?.({ type: "unreachable", containerId: member.id, message: this.lastError });
      this.retire(member, this.graceMs);
    } else if (outcome === "abandoned" && member.phase === "ready") {
      this.probe(member);
    }
    if (member.inFlight === 0) member.idleSince = this.options.clock.now();
    this.dispatch();
    this.reconcile();
    // Still idle after this pool's own queue had its turn: another pool waiting for capacity may have it.
    if (member.inFlight === 0 && member.phase === "ready") this.options.capacity?.offer();
  }

  /**
   * After the gateway gave up on an input: the container takes nothing new
   * until its agent shows, within the grace, that it ended the call. A
   * container that does not answer at all has a blocked event loop (a
   * CPU-bound handler past its timeout) and would hold every input sent to
   * it until that input's timeout too, so it is killed at once (what it still
   * serves is lost anyway); one that answers but still runs the call (a
   * handler that ignores `request.signal`) finishes its other inputs and
   * goes. Either way the autoscaler starts a replacement for the demand.
   */
  private probe(member: Member<U>): void {
    if (!member.container) return;
    if (member.probing) {
      member.probeAgain = true;
      return;
    }
    member.probing = true;
    member.probeAgain = false;
    const graceMs = this.options.abandonGraceMs ?? DEFAULT_ABANDON_GRACE_MS;
    void member.container.probe(member.inFlight, graceMs).then((result) => {
      member.probing = false;
      // Retired meanwhile (a drain): a blocked container would only sit out its exit grace.
      if (member.phase === "draining" && result === "unresponsive") void member.container?.stop(0);
      if (member.phase !== "ready") return;
      if (result === "ended") {
        if (member.probeAgain) return this.probe(member);
      } else if (result === "lingering") {
        this.lastError = `container ${member.id} did not end a timed-out call within ${graceMs / 1000} s (its handler ignores request.signal); it takes no more requests and is replaced`;
        this.options.log(member.id, this.lastError, "system");
        this.retire(member, this.graceMs);
      } else {
        this.lastError = `container ${member.id} did not answer within ${graceMs / 1000} s after a call timed out: its event loop is blocked (a CPU-bound handler?); it was killed and is replaced`;
        this.options.log(member.id, this.lastError, "system");
        this.retire(member, 0);
      }
      this.dispatch();
      this.reconcile();
    });
  }

  /** Hands free slots to waiting inputs, oldest first. */
  private dispatch(): void {
    for (let member = this.pickReady(); member; member = this.pickReady()) {
      const waiter = this.queue.shift();
      if (!waiter) return;
      if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener("abort", waiter.onAbort);
      // Dispatched only once the container is ready, so the wait covered its start from max(queued, started) to ready.
      const coldStartMs = Math.max(0, member.readyAt - Math.max(waiter.since, member.startedAt));
      waiter.resolve(this.lease(member, coldStartMs));
    }
  }

  private removeWaiter(waiter: Waiter<U>): void {
    const index = this.queue.indexOf(waiter);
    if (index >= 0) this.queue.splice(index, 1);
  }

  private liveCount(): number {
    let live = 0;
    for (const member of this.members.values()) if (member.phase !== "draining") live += 1;
    return live;
  }

  private reconcile(): void {
    this.cancelWakeup?.();
    this.cancelWakeup = undefined;
    const now = this.options.clock.now();
    if (this.stopping) return this.reconcileStopping();
    // The members themselves are the observation (a release runs this: no copy per request) until something is
    // started or retired below; `nextWakeup` must then see the pool as `decide` did, so it gets a copy made before.
    const observation: PoolObservation = { queued: this.queue.length, containers: this.memberList };
    const decision = decide(this.options.scaling, observation, now);
    if (decision.start > 0 || decision.retire.length > 0) observation.containers = observation.containers.map(observe);
    const backingOff = now < this.backoffUntil;
    this.blocked = false;
    let started = 0;
    if (!backingOff) while (started < decision.start && this.startContainer()) started += 1;
    if (this.blocked) this.reclaimFor(decision.start - started);
    for (const id of decision.retire) {
      const member = this.members.get(id);
      if (!member) continue;
      this.options.log(id, `scaling down: idle for ${Math.round((now - (member.idleSince ?? now)) / 1000)} s`, "system");
      this.retire(member, this.graceMs);
    }
    const wakeAt = nextWakeup(this.options.scaling, observation, now);
    // Demand or minContainers still want a start the backoff held back: try again when it ends.
    const backoffWake = backingOff && decision.start > 0 ? this.backoffUntil : null;
    const capacityWake = this.expireCapacityWaits(now);
    if (wakeAt === null && backoffWake === null && capacityWake === null) return;
    const next = Math.min(wakeAt ?? Infinity, backoffWake ?? Infinity, capacityWake ?? Infinity);
    this.cancelWakeup = this.options.clock.after(Math.max(0, next - now), () => this.reconcile());
  }

  /** While draining: only the queue may still start containers; idle ones go at once. */
  private reconcileStopping(): void {
    this.blocked = false;
    if (this.queue.length > 0 && this.liveCount() === 0 && this.options.clock.now() >= this.backoffUntil && !this.startContainer()) this.reclaimFor(1);
    const now = this.options.clock.now();
    const expiry = this.expireCapacityWaits(now);
    if (expiry !== null) this.cancelWakeup = this.options.clock.after(Math.max(0, expiry - now), () => this.reconcile());
    for (const member of this.members.values()) {
      if (member.phase === "ready" && member.inFlight === 0 && this.queue.length === 0) this.retire(member, this.graceMs);
    }
    if (this.members.size === 0 && this.queue.length === 0) this.resolveDrained?.();
  }

  /**
   * Starts a container if a capacity slot is free; false when none is (the
   * pool then waits for one, and asks for an idle container elsewhere to be
   * retired to make room).
   */
  private startContainer(): boolean {
    const capacity = this.options.capacity;
    if (capacity && !capacity.tryReserve()) {
      this.blocked = true;
      this.cancelCapacityWait ??= capacity.wait(
        () => {
          this.cancelCapacityWait = undefined;
          // A slot freed, most likely by one of the containers retired for us.
          this.reclaiming = Math.max(0, this.reclaiming - 1);
          this.reconcile();
        },
        () => this.reconcile(),
      );
      return false;
    }
    nextContainerNumber += 1;
    const id = `c${nextContainerNumber.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const member: Member<U> = {
      id,
      phase: "starting",
      inFlight: 0,
      idleSince: null,
      startedAt: this.options.clock.now(),
      readyAt: 0,
      probing: false,
      probeAgain: false,
    };
    this.members.set(id, member);
    this.memberList = [...this.members.values()];
    this.coldStarts += 1;
    this.options.onEvent?.({ type: "starting", containerId: id });
    this.options.driver.start(this.options.containerSpec(id), this.options.output(id)).then(
      (container) => this.onReady(member, container),
      (error: unknown) => this.onStartFailed(member, error),
    );
    return true;
  }

  /**
   * Asks capacity to retire idle containers of other pools for the
   * `missing` containers this pool could not start, counting those already
   * retired for it and still exiting, so that a pool reconciled many times
   * while it waits does not empty the server of idle containers.
   */
  private reclaimFor(missing: number): void {
    const capacity = this.options.capacity;
    while (capacity && this.reclaiming < missing && capacity.reclaim()) this.reclaiming += 1;
  }

  /**
   * While the pool is blocked on capacity: fails the inputs that have
   * waited `capacityWaitMs` (503 `at_capacity`) and returns when the next
   * one will have, or null when nothing is waiting on capacity.
   */
  private expireCapacityWaits(now: number): number | null {
    if (!this.blocked) {
      this.cancelCapacityWait?.();
      this.cancelCapacityWait = undefined;
      this.reclaiming = 0;
      return null;
    }
    const waitMs = this.options.capacityWaitMs ?? 30_000;
    while (this.queue.length > 0 && now - this.queue[0]!.since >= waitMs) {
      const waiter = this.queue.shift()!;
      if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener("abort", waiter.onAbort);
      waiter.reject(
        poolRefusal("at_capacity", `the server is at its container limit and no container could start within ${waitMs / 1000} s; retry later`, 5),
      );
    }
    return this.queue.length > 0 ? this.queue[0]!.since + waitMs : null;
  }

  /** The longest-idle ready container beyond `minContainers` with nothing in flight (capacity may take it), or null. */
  oldestSpareIdleSince(): number | null {
    return this.spareIdle()?.idleSince ?? null;
  }

  retireSpare(): void {
    const member = this.spareIdle();
    if (!member) return;
    this.options.log(member.id, "retired early: another function needs its slot (the server or workspace is at its container limit)", "system");
    this.retire(member, this.graceMs);
  }

  private spareIdle(): (Member<U> & { idleSince: number }) | undefined {
    if (this.liveCount() <= this.options.scaling.minContainers) return undefined;
    let oldest: (Member<U> & { idleSince: number }) | undefined;
    for (const member of this.members.values()) {
      if (member.phase !== "ready" || member.inFlight > 0 || member.idleSince === null) continue;
      if (!oldest || member.idleSince < oldest.idleSince) oldest = member as Member<U> & { idleSince: number };
    }
    return oldest;
  }

  /** Removes a member that is gone (exited, or never started) and gives its capacity slot back. */
  private forget(member: Member<U>): boolean {
    if (!this.members.delete(member.id)) return false;
    this.memberList = [...this.members.values()];
    this.options.capacity?.release();
    return true;
  }

  private onReady(member: Member<U>, container: Container): void {
    member.container = container;
    member.upstream = this.options.attach(container.endpoint, (line) => this.options.log(member.id, line, "system"));
    member.phase = "ready";
    member.idleSince = this.options.clock.now();
    member.readyAt = member.idleSince;
    this.consecutiveFailures = 0;
    this.consecutiveInterruptions = 0;
    const startMs = Math.round(this.options.clock.now() - member.startedAt);
    this.options.log(member.id, `container ready (cold start ${startMs} ms)`, "system");
    this.options.onEvent?.({ type: "ready", containerId: member.id, startMs });
    void container.exited.then((exit) => this.onExit(member, exit));
    this.dispatch();
    this.reconcile();
  }

  /**
   * A `startup_failed` error's message names the cause in words safe for
   * clients (the driver redacts secrets from it); anything else is the
   * runtime failing, logged for the operator and shown as a generic cause.
   */
  private onStartFailed(member: Member<U>, error: unknown): void {
    this.forget(member);
    this.startFailures += 1;
    if (isStartupInterrupted(error) && this.consecutiveInterruptions < MAX_INTERRUPTED_RETRIES) {
      // Killed from outside: nothing the function did, so its waiting inputs keep waiting for a replacement, started now.
      this.consecutiveInterruptions += 1;
      this.lastError = error instanceof BerthError ? error.message : String(error);
      this.options.log(member.id, `${this.lastError}; starting a replacement at once`, "system");
      this.options.onEvent?.({ type: "start_failed", containerId: member.id, message: this.lastError });
      this.reconcile();
      return;
    }
    this.consecutiveInterruptions = 0;
    this.consecutiveFailures += 1;
    let message: string;
    if (error instanceof BerthError && error.code === "startup_failed") {
      message = error.message;
    } else {
      message = "the runtime could not start a container (see the server's log)";
      this.options.logger.error({ err: error, pool: this.options.name, container: member.id }, "the runtime failed to start a container");
    }
    this.lastError = message;
    const backoff = Math.min(BACKOFF_BASE_MS * 2 ** (this.consecutiveFailures - 1), BACKOFF_MAX_MS);
    this.backoffUntil = this.options.clock.now() + backoff;
    this.options.log(member.id, `${message} (retrying no sooner than ${backoff / 1000} s)`, "system");
    this.options.onEvent?.({ type: "start_failed", containerId: member.id, message });
    // Inputs waiting for this start have no container coming: fail them with the cause rather than let them hang.
    if (this.liveCount() === 0) this.failQueue(poolRefusal("startup_failed", message, Math.ceil(backoff / 1000)));
    this.reconcile();
  }

  private onExit(member: Member<U>, exit: ContainerExit): void {
    if (!this.forget(member)) return;
    if (member.upstream) this.options.detach(member.upstream);
    if (member.phase !== "draining") {
      const how = exit.reason ? `was killed: ${exit.reason}` : `exited unexpectedly (${exit.signal ?? `code ${exit.code}`})`;
      this.lastError = `container ${member.id} ${how}; its in-flight requests got 502, and it is replaced as demand needs`;
      this.options.log(member.id, this.lastError, "system");
      this.options.onEvent?.({ type: "crashed", containerId: member.id, message: this.lastError });
    }
    this.reconcile();
  }

  /**
   * Called with no inputs in flight (or for a container that refuses
   * connections, whose inputs are lost anyway), so the gateway's keep-alive
   * connections are closed first: the container's server would otherwise wait
   * on them for the whole grace period before running `exit`.
   */
  private retire(member: Member<U>, graceMs: number): void {
    if (member.phase === "draining") return;
    member.phase = "draining";
    if (member.upstream) this.options.detach(member.upstream);
    member.upstream = undefined;
    void member.container?.stop(graceMs).then(() => {
      this.forget(member);
      this.reconcile();
    });
  }

  private failQueue(error: BerthError): void {
    for (const waiter of this.queue.splice(0)) {
      if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener("abort", waiter.onAbort);
      waiter.reject(error);
    }
  }
}

/** One input's slot: a class, not an object with a closure, since every request takes one. */
class PoolLease<U> implements Lease<U> {
  private released = false;

  constructor(
    private readonly pool: Pool<U>,
    private readonly member: Member<U>,
    readonly upstream: U,
    readonly coldStartMs: number,
  ) {}

  get containerId(): string {
    return this.member.id;
  }

  release(outcome: ReleaseOutcome = "done"): void {
    if (this.released) return;
    this.released = true;
    this.pool.released(this.member, outcome);
  }
}

/** What the autoscaler sees of a member, copied. */
function observe({ id, phase, inFlight, idleSince, startedAt }: ContainerObservation): ContainerObservation {
  return { id, phase, inFlight, idleSince, startedAt };
}

function hasUpstream<U>(member: Member<U>): member is Member<U> & { upstream: U } {
  return member.upstream !== undefined;
}
