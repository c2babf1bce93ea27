/**
 * A function service: one deployed version of one function, reachable at one
 * host label, with one container pool per parameter set (functions without
 * parameters have exactly one). Creating pools lazily and draining them all
 * together is all it does; the routing of each input happens in `Pool`.
 */
import type { FunctionManifest } from "../sdk/contract.js";
import type { ContainerView, PoolStatsView } from "../wire/control-api.js";
import { Pool, poolRefusal, type ContainerBounds, type PoolOptions } from "./pool.js";

/**
 * Parameter sets with containers or queued inputs that one function may have
 * at once. Every distinct `?param=` value a client invents would otherwise
 * start its own containers without bound; pools with nothing left in them
 * are forgotten to make room.
 */
export const MAX_ACTIVE_PARAM_SETS = 100;

export interface ServiceIdentity {
  workspace: string;
  appName: string;
  functionName: string;
  versionId: string;
  hostLabel: string;
  /** Run by `serve` (`-dev` URLs) rather than deployed. */
  ephemeral: boolean;
}

export class FunctionService<U> {
  private readonly pools = new Map<string, Pool<U>>();
  private readonly draining = new AbortController();
  /** Every pool's container bounds: the function's own, or this node's share of them (`resize`). */
  private bounds: ContainerBounds;

  constructor(
    readonly identity: ServiceIdentity,
    readonly manifest: FunctionManifest,
    private readonly makePool: (params: Record<string, unknown>, key: string) => PoolOptions<U>,
  ) {
    this.bounds = { minContainers: manifest.scaling.minContainers, maxContainers: manifest.scaling.maxContainers };
  }

  /** Sets the container bounds of every pool, present and future; `warmUp` then starts a new minimum's containers. */
  resize(bounds: ContainerBounds): void {
    this.bounds = bounds;
    for (const pool of this.pools.values()) pool.resize(bounds);
  }

  /** Milliseconds a call may run. */
  get timeoutMs(): number {
    return this.manifest.timeout * 1000;
  }

  /**
   * The pool of a parameter set; `key` is its canonical form (empty without
   * parameters). Throws a `queue_full` error when `MAX_ACTIVE_PARAM_SETS`
   * sets are busy.
   */
  pool(params: Record<string, unknown> = {}, key = ""): Pool<U> {
    let pool = this.pools.get(key);
    if (!pool) {
      if (this.pools.size >= MAX_ACTIVE_PARAM_SETS) this.forgetIdlePools();
      if (this.pools.size >= MAX_ACTIVE_PARAM_SETS) {
        throw poolRefusal("queue_full", `${MAX_ACTIVE_PARAM_SETS} parameter sets of this function are already active; retry later`);
      }
      const options = this.makePool(params, key);
      pool = new Pool({ ...options, scaling: { ...options.scaling, ...this.bounds } });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Starts `minContainers` of the default pool; a parametrized function's pools exist only once a request names their set. */
  warmUp(): void {
    if (this.bounds.minContainers > 0 && this.manifest.params.length === 0) this.pool().warmUp();
  }

  /**
   * Aborted when the service starts draining (redeploy, app stop, shutdown):
   * long-lived connections (WebSockets) close themselves on it, since their
   * inputs would otherwise hold the drain open until the grace period ends.
   */
  get drainSignal(): AbortSignal {
    return this.draining.signal;
  }

  async drain(graceMs: number): Promise<void> {
    this.draining.abort();
    await Promise.all([...this.pools.values()].map((pool) => pool.drain(graceMs)));
  }

  private forgetIdlePools(): void {
    for (const [key, pool] of this.pools) {
      const { starting, ready, draining, queued, inFlight } = pool.stats();
      if (starting + ready + draining + queued + inFlight === 0) this.pools.delete(key);
    }
  }

  /** Every pool of the service (one per active parameter set). */
  allPools(): Iterable<Pool<U>> {
    return this.pools.values();
  }

  stats(): PoolStatsView[] {
    return [...this.pools].map(([params, pool]) => ({ params, ...pool.stats() }));
  }

  /** Every container of every pool, with its pool's parameter set. */
  containers(): (ContainerView & { params: string })[] {
    return [...this.pools].flatMap(([params, pool]) => pool.containers().map((container) => ({ ...container, params })));
  }
}
