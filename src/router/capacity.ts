/**
 * How many containers may be alive at once: a server-wide cap
 * (`berth server --max-containers`, default 64) and an optional cap per
 * workspace (`berth workspace limit NAME --containers N`). Every container
 * of every pool (every parameter set of every function) holds one slot from
 * the moment it is asked to start until it has exited, draining included,
 * because that is when its memory is given back.
 *
 * A pool that wants a container and finds no slot keeps its inputs queued
 * and waits here; when a slot frees, the waiting pools are woken oldest
 * first. To make room, the longest-idle ready container of another pool (in
 * the same workspace when the workspace's cap is what binds, anywhere when
 * the server's is) is retired early: an idle container is worth less than
 * a request that waits. Containers a pool keeps for `minContainers` are
 * never taken. It knows nothing of time or HTTP; the pools time out their
 * waiting inputs (503 `at_capacity`).
 */
import type { Cancel } from "../clock/clock.js";

/** The server-wide cap when none is configured: ~64 × 50 MB of Node processes stays within a few GB. */
export const DEFAULT_MAX_CONTAINERS = 64;

/** A pool as capacity sees it when it looks for an idle container to retire. */
export interface IdleContainers {
  readonly workspace: string;
  /** When the longest-idle container this pool could give up became idle, or null when it has none to spare. */
  oldestSpareIdleSince(): number | null;
  /** Retires that container (its slot is released once it has exited). */
  retireSpare(): void;
}

export interface CapacityOptions {
  /** Live containers allowed on the whole server. Default 64. */
  maxContainers?: number;
  /** Every pool that may have idle containers to give up (read only when a slot is missing). */
  pools?: () => Iterable<IdleContainers>;
}

interface Waiter {
  workspace: string;
  wake: () => void;
  nudge?: () => void;
}

/** One workspace's view: what a pool of that workspace uses. */
export interface WorkspaceCapacity {
  /** Takes a slot for a new container; false at a cap. */
  tryReserve(): boolean;
  /** Gives a slot back (the container has exited, or never started). */
  release(): void;
  /**
   * Calls `wake` once, when a slot may have freed for this workspace; the
   * pool then tries again. `nudge` is called (and the wait kept) when a
   * container somewhere went idle: the pool may ask for it to be retired.
   */
  wait(wake: () => void, nudge?: () => void): Cancel;
  /** Asks for an idle container elsewhere to be retired to make room; false when there is none. */
  reclaim(): boolean;
  /** Says one of this workspace's containers just went idle: if a pool is waiting for a slot, an idle one is retired for it. */
  offer(): void;
}

export class Capacity {
  readonly maxContainers: number;
  #total = 0;
  readonly #byWorkspace = new Map<string, number>();
  readonly #limits = new Map<string, number>();
  readonly #waiting: Waiter[] = [];
  readonly #pools: () => Iterable<IdleContainers>;
  #waking = false;

  constructor(options: CapacityOptions = {}) {
    const max = options.maxContainers ?? DEFAULT_MAX_CONTAINERS;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxContainers must be a whole number ≥ 1, got ${max}`);
    this.maxContainers = max;
    this.#pools = options.pools ?? (() => []);
  }

  /** Sets (or with null, removes) a workspace's own cap; raising it wakes that workspace's waiting pools. */
  setWorkspaceLimit(workspace: string, containers: number | null): void {
    if (containers === null) this.#limits.delete(workspace);
    else this.#limits.set(workspace, containers);
    this.#wake();
  }

  /** The workspace's own cap, or null when only the server's applies. */
  workspaceLimit(workspace: string): number | null {
    return this.#limits.get(workspace) ?? null;
  }

  /** Live containers now: all, or of one workspace. */
  used(workspace?: string): number {
    return workspace === undefined ? this.#total : (this.#byWorkspace.get(workspace) ?? 0);
  }

  forWorkspace(workspace: string): WorkspaceCapacity {
    return {
      tryReserve: () => this.tryReserve(workspace),
      release: () => this.release(workspace),
      wait: (wake, nudge) => this.wait(workspace, wake, nudge),
      reclaim: () => this.reclaim(workspace),
      offer: () => this.offer(),
    };
  }

  tryReserve(workspace: string): boolean {
    if (!this.#fits(workspace)) return false;
    this.#total += 1;
    this.#byWorkspace.set(workspace, this.used(workspace) + 1);
    return true;
  }

  release(workspace: string): void {
    const used = this.used(workspace);
    if (used <= 0) return;
    this.#total -= 1;
    if (used === 1) this.#byWorkspace.delete(workspace);
    else this.#byWorkspace.set(workspace, used - 1);
    this.#wake();
  }

  wait(workspace: string, wake: () => void, nudge?: () => void): Cancel {
    const waiter: Waiter = { workspace, wake, nudge };
    this.#waiting.push(waiter);
    return () => {
      const index = this.#waiting.indexOf(waiter);
      if (index >= 0) this.#waiting.splice(index, 1);
    };
  }

  /**
   * Retires the longest-idle spare container among the pools that share
   * the binding cap with `workspace`; its slot comes back when it exits.
   */
  reclaim(workspace: string): boolean {
    const own = this.#limits.get(workspace);
    const workspaceBound = own !== undefined && this.used(workspace) >= own;
    let best: IdleContainers | undefined;
    let bestSince = Number.POSITIVE_INFINITY;
    for (const pool of this.#pools()) {
      if (workspaceBound && pool.workspace !== workspace) continue;
      const since = pool.oldestSpareIdleSince();
      if (since !== null && since < bestSince) {
        best = pool;
        bestSince = since;
      }
    }
    best?.retireSpare();
    return best !== undefined;
  }

  /**
   * A container somewhere went idle. Nothing to do unless a pool waits for
   * a slot (one array length check); then the oldest waiter is nudged, and
   * asks for the longest-idle spare container in its reach to be retired if
   * it still lacks one (it counts what was already retired for it), so it
   * need not wait for a scale-down window.
   */
  offer(): void {
    const first = this.#waiting[0];
    if (first === undefined) return;
    if (first.nudge) first.nudge();
    else this.reclaim(first.workspace);
  }

  #fits(workspace: string): boolean {
    const own = this.#limits.get(workspace);
    return this.#total < this.maxContainers && (own === undefined || this.used(workspace) < own);
  }

  /**
   * Wakes waiting pools, oldest first, while a slot could be theirs; each
   * tries again and waits again if it must. A pool that releases a slot
   * while being woken does not start a second pass inside this one.
   */
  #wake(): void {
    if (this.#waking) return;
    this.#waking = true;
    try {
      for (let i = 0; i < this.#waiting.length && this.#total < this.maxContainers; ) {
        const waiter = this.#waiting[i]!;
        if (!this.#fits(waiter.workspace)) {
          i += 1;
          continue;
        }
        this.#waiting.splice(i, 1);
        waiter.wake();
      }
    } finally {
      this.#waking = false;
    }
  }
}
