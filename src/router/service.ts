/**
 * A function service: one deployed version of one function, reachable at one
 * host label, with one container pool per parameter set (functions without
 * parameters have exactly one). Creating pools lazily and draining them all
 * together is all it does; the routing of each input happens in `Pool`.
 */
import type { FunctionManifest } from "../sdk/contract.js";
import { Pool, type PoolOptions, type PoolStats } from "./pool.js";

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

  constructor(
    readonly identity: ServiceIdentity,
    readonly manifest: FunctionManifest,
    private readonly makePool: (params: Record<string, unknown>, key: string) => PoolOptions<U>,
  ) {}

  /** Milliseconds a call may run. */
  get timeoutMs(): number {
    return this.manifest.timeout * 1000;
  }

  /** The pool of a parameter set; `key` is its canonical form (empty without parameters). */
  pool(params: Record<string, unknown> = {}, key = ""): Pool<U> {
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(this.makePool(params, key));
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Starts `minContainers` of the default pool. */
  warmUp(): void {
    if (this.manifest.scaling.minContainers > 0) this.pool().warmUp();
  }

  async drain(graceMs: number): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.drain(graceMs)));
  }

  stats(): Array<PoolStats & { params: string }> {
    return [...this.pools].map(([params, pool]) => ({ params, ...pool.stats() }));
  }
}
