/**
 * Request rate limits: a token bucket per key, and maps of buckets that
 * forget keys whose bucket has refilled and never hold more than a fixed
 * number of keys. Three limits are built from them: each workspace's budget,
 * each client address's share of a workspace's public endpoints, and each
 * client address's failed authentications. It owns the counting only; the
 * gateway picks the keys, passes the time in and turns a refusal into 429
 * with `Retry-After`. Pure: test/rate-limiter.test.ts walks it on a fake
 * clock.
 */

/** A token bucket's shape. Default per workspace: 200/s with a burst of 1000 (5 s worth). */
export interface RateLimit {
  /** tokens per second: requests per second sustained. Default 200. Must be > 0. */
  rate: number;
  /** bucket size: requests allowed at once from a full bucket. Default 1000. Must be ≥ 1. */
  burst: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** A refusal of `RateLimiter.take`: `client` when the client's own share ran out, not the workspace's budget. */
export type LimitDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number; client?: true };

const ALLOWED: RateDecision = { allowed: true };

/**
 * Tokens are kept in thousandths ("milli-tokens") so that refilling by
 * `elapsedMs * rate` is integer arithmetic for integer rates: at 100/s each
 * 1 ms adds exactly 100 milli-tokens, and ten 1 ms steps make exactly one
 * token, where summing 0.1 token ten times in floating point gives
 * 0.9999999999999999 and would refuse a request that is due.
 */
const MILLI = 1000;
/**
 * Slack for non-integer rates, in milli-tokens: at 0.1/s, refilled in 3 ms
 * steps (0.3 milli-tokens each, not exact in binary), the token due at
 * t=10 000 ms comes out 6e-11 short. A millionth of a milli-token is far below
 * anything a client could exploit.
 */
const EPSILON = 1e-6;

/**
 * A bucket that starts full, holds `burst` tokens and refills at `rate` per
 * second; each request takes one. With the default 200/s, burst 1000: 1000
 * requests at t=0 pass, the 1001st is refused, and at t=5 ms one more passes
 * (see test/rate-limiter.test.ts).
 */
export class TokenBucket {
  #rate: number;
  #capacity: number;
  #level: number;
  #updatedAt: number;

  constructor(limit: RateLimit, now: number) {
    checkLimit(limit);
    this.#rate = limit.rate;
    this.#capacity = limit.burst * MILLI;
    this.#level = this.#capacity;
    this.#updatedAt = now;
  }

  take(now: number): RateDecision {
    const decision = this.peek(now);
    if (decision.allowed) this.#level -= MILLI;
    return decision;
  }

  /** What `take` would answer, without taking a token. */
  peek(now: number): RateDecision {
    this.#refill(now);
    if (this.#level >= MILLI - EPSILON) return ALLOWED;
    // Whole seconds until one token, at least 1: Retry-After has no fractions,
    // and 0 would invite an immediate retry that is refused again. At 200/s a
    // token is ≤ 5 ms away, so the answer is 1; at 0.1/s with the bucket
    // empty it is ceil(1 000 / (0.1 × 1 000)) = 10.
    const retryAfterSeconds = Math.max(1, Math.ceil((MILLI - this.#level) / (this.#rate * MILLI)));
    return { allowed: false, retryAfterSeconds };
  }

  /** True when the bucket is as it would be if freshly created, so dropping it loses nothing. */
  isFull(now: number): boolean {
    this.#refill(now);
    return this.#level >= this.#capacity - EPSILON;
  }

  /**
   * Changes the limit in place: the tokens already earned carry over, cut to
   * the new burst, so lowering a limit takes effect at once and raising it
   * does not hand out a free burst. With `now`, tokens earned until then are
   * counted at the old rate first.
   */
  setLimit(limit: RateLimit, now?: number): void {
    checkLimit(limit);
    if (now !== undefined) this.#refill(now);
    this.#rate = limit.rate;
    this.#capacity = limit.burst * MILLI;
    this.#level = Math.min(this.#level, this.#capacity);
  }

  #refill(now: number): void {
    // A clock that steps backwards must not drain the bucket.
    if (now <= this.#updatedAt) return;
    this.#level = Math.min(this.#capacity, this.#level + (now - this.#updatedAt) * this.#rate);
    this.#updatedAt = now;
  }
}

function checkLimit(limit: RateLimit): void {
  if (!(limit.rate > 0) || !Number.isFinite(limit.rate)) {
    throw new RangeError(`Rate limit rate must be a positive number of requests per second, got ${limit.rate}.`);
  }
  if (!(limit.burst >= 1) || !Number.isFinite(limit.burst)) {
    throw new RangeError(`Rate limit burst must be at least 1 request, got ${limit.burst}.`);
  }
}

/** Below this many buckets a new key does not trigger a sweep: scanning a handful is not worth it. */
const MIN_SWEEP_SIZE = 64;
/** Milliseconds between sweeps that happen whatever the size, so a past spike's buckets are released. */
const SWEEP_INTERVAL_MS = 10_000;
/**
 * Client buckets kept at most, all workspaces together: ~200 bytes each, so
 * ~10 MB. Addresses cost an attacker a TCP handshake each (and an IPv6 /64
 * counts as one address), so reaching this takes a large botnet; beyond it
 * new addresses are not tracked (their requests still count against the
 * workspace's budget) until a sweep makes room.
 */
export const MAX_CLIENT_BUCKETS = 50_000;

/** A count of keys shared by several maps, with its ceiling. */
interface KeyBudget {
  used: number;
  readonly max: number;
}

/**
 * Token buckets by key, created on first use with `limitOf(key)`. A bucket
 * that has refilled completely is identical to a new one, so the map drops
 * such buckets, lazily, inside `take`:
 * - when a new key would make the map twice as big as after the last sweep
 *   (and at least 64): that sweep's O(size) is paid for by the size/2 inserts
 *   before it, so `take` stays amortised O(1), and the map holds at most about
 *   2 × (keys whose bucket is still refilling), or 64, whichever is larger;
 * - and at least every 10 s of `now`, so that after a spike of keys the
 *   memory comes back (default limit: a drained bucket is full again after
 *   1000 / 200 = 5 s, so a spike is gone by the second sweep after it);
 * - and, with a `budget`, when the keys of all maps sharing it reach its
 *   ceiling: then a key that finds no room is answered as allowed without
 *   a bucket (`untracked`), which bounds memory whatever the number of keys.
 */
export class BucketMap {
  readonly #buckets = new Map<string, TokenBucket>();
  #sweepAtSize = MIN_SWEEP_SIZE;
  #sweepAtTime = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly limitOf: (key: string) => RateLimit,
    private readonly budget: KeyBudget = { used: 0, max: Number.POSITIVE_INFINITY },
  ) {}

  take(key: string, now: number): RateDecision {
    if (now >= this.#sweepAtTime) this.sweep(now);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#sweepAtSize) this.sweep(now);
      if (this.budget.used >= this.budget.max) return ALLOWED;
      bucket = new TokenBucket(this.limitOf(key), now);
      this.#buckets.set(key, bucket);
      this.budget.used += 1;
    }
    return bucket.take(now);
  }

  /** What `take` would answer, without taking: a key with no bucket has a full one. */
  peek(key: string, now: number): RateDecision {
    return this.#buckets.get(key)?.peek(now) ?? ALLOWED;
  }

  /** Applies a changed limit to the buckets that exist; new ones read `limitOf`. */
  relimit(limit: RateLimit): void {
    for (const bucket of this.#buckets.values()) bucket.setLimit(limit);
  }

  setLimit(key: string, limit: RateLimit): void {
    this.#buckets.get(key)?.setLimit(limit);
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Drops the buckets that are full (as good as new); true when the map is empty afterwards. */
  sweep(now: number): boolean {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.isFull(now)) {
        this.#buckets.delete(key);
        this.budget.used -= 1;
      }
    }
    this.#sweepAtSize = Math.max(MIN_SWEEP_SIZE, this.#buckets.size * 2);
    this.#sweepAtTime = now + SWEEP_INTERVAL_MS;
    return this.#buckets.size === 0;
  }
}

/** A workspace's bucket with its clients' buckets (on public endpoints). */
interface WorkspaceState {
  bucket: TokenBucket;
  clients: BucketMap;
}

/**
 * A workspace's limit and its clients' share. Default client share: a
 * quarter of the workspace's rate and burst, so one address flooding a
 * public endpoint leaves three quarters of the budget to everyone else.
 */
export interface WorkspaceRates {
  workspace: RateLimit;
  /** One client address's limit on the workspace's public endpoints. */
  client: RateLimit;
}

/** A quarter of `limit` (the burst at least 1): the default share of one client address. */
export function quarterOf(limit: RateLimit): RateLimit {
  return { rate: limit.rate / 4, burst: Math.max(1, Math.floor(limit.burst / 4)) };
}

/**
 * Per-workspace budgets, and within each, per-client-address shares. A
 * request to a public endpoint takes a token from its client's bucket first
 * and then from the workspace's, so what a client is refused costs the
 * workspace nothing; a request that proved its credentials (proxy auth)
 * takes only the workspace's. Workspace buckets are dropped once full,
 * like client buckets, so neither map outgrows the traffic.
 */
export class RateLimiter {
  readonly #defaultLimit: RateLimit;
  readonly #defaultClientLimit: RateLimit | undefined;
  readonly #limits = new Map<string, RateLimit>();
  readonly #clientLimits = new Map<string, RateLimit>();
  readonly #workspaces = new Map<string, WorkspaceState>();
  readonly #clientBudget: KeyBudget;
  #sweepAtTime = Number.NEGATIVE_INFINITY;
  #sweepAtSize = MIN_SWEEP_SIZE;
  /** This node's part of every limit: 1 alone, 1/n among n live nodes (`setShare`). */
  #share = 1;

  /**
   * `defaultLimit`: of workspaces without their own (200/s, burst 1000).
   * `clientLimit`: one client's share of workspaces without their own
   * (default: a quarter of the workspace's limit).
   */
  constructor(defaultLimit: RateLimit, options: { clientLimit?: RateLimit; maxClients?: number } = {}) {
    checkLimit(defaultLimit);
    if (options.clientLimit) checkLimit(options.clientLimit);
    this.#defaultLimit = defaultLimit;
    this.#defaultClientLimit = options.clientLimit;
    this.#clientBudget = { used: 0, max: options.maxClients ?? MAX_CLIENT_BUCKETS };
  }

  /**
   * Sets the limit of one workspace and its clients' share (undefined: back
   * to the defaults); its live buckets keep their tokens up to the new bursts.
   */
  setLimit(key: string, limit: RateLimit | undefined, clientLimit?: RateLimit): void {
    if (limit) checkLimit(limit);
    if (clientLimit) checkLimit(clientLimit);
    if (limit) this.#limits.set(key, limit);
    else this.#limits.delete(key);
    if (clientLimit) this.#clientLimits.set(key, clientLimit);
    else this.#clientLimits.delete(key);
    // setLimit has no `now`, so the time since the bucket's last take will be
    // refilled at the new rate: at most one idle gap priced differently, on a
    // change an operator makes by hand.
    const state = this.#workspaces.get(key);
    state?.bucket.setLimit(this.#scaled(this.limitOf(key)));
    state?.clients.relimit(this.#scaled(this.clientLimitOf(key)));
  }

  /**
   * Enforces `share` (0 < share ≤ 1) of every limit from now on, the
   * workspaces' and their clients': with n nodes behind a load balancer each
   * enforces 1/n, so the platform as a whole admits the workspace's limit
   * when the load balancer spreads a workspace's requests evenly (README,
   * "Several nodes"). At 200/s and burst 1000 over 3 nodes, each node's
   * bucket is 66.7/s with a burst of 333.3; a burst never drops below one
   * request.
   */
  setShare(share: number): void {
    if (!(share > 0 && share <= 1)) throw new RangeError(`a rate limit share is in (0, 1], got ${share}`);
    if (share === this.#share) return;
    this.#share = share;
    for (const [key, state] of this.#workspaces) {
      state.bucket.setLimit(this.#scaled(this.limitOf(key)));
      state.clients.relimit(this.#scaled(this.clientLimitOf(key)));
    }
  }

  #scaled(limit: RateLimit): RateLimit {
    if (this.#share === 1) return limit;
    return { rate: limit.rate * this.#share, burst: Math.max(1, limit.burst * this.#share) };
  }

  /** The limit that applies to `key` platform-wide: its own, or the default. */
  limitOf(key: string): RateLimit {
    return this.#limits.get(key) ?? this.#defaultLimit;
  }

  /** One client address's limit on `key`'s public endpoints. */
  clientLimitOf(key: string): RateLimit {
    return this.#clientLimits.get(key) ?? this.#defaultClientLimit ?? quarterOf(this.limitOf(key));
  }

  /** Whether `key` has a client limit of its own (else the server's default or the quarter). */
  hasClientLimit(key: string): boolean {
    return this.#clientLimits.has(key);
  }

  /**
   * Takes a token for a request to `key`'s endpoints; with `client`, from
   * that client address's share first (public endpoints).
   */
  take(key: string, now: number, client?: string): LimitDecision {
    if (now >= this.#sweepAtTime) this.#sweep(now);
    let state = this.#workspaces.get(key);
    if (state === undefined) {
      if (this.#workspaces.size >= this.#sweepAtSize) this.#sweep(now);
      state = {
        bucket: new TokenBucket(this.#scaled(this.limitOf(key)), now),
        clients: new BucketMap(() => this.#scaled(this.clientLimitOf(key)), this.#clientBudget),
      };
      this.#workspaces.set(key, state);
    }
    if (client !== undefined) {
      const mine = state.clients.take(client, now);
      if (!mine.allowed) return { ...mine, client: true };
    }
    return state.bucket.take(now);
  }

  /** Workspace buckets held now (for tests and metrics). */
  get size(): number {
    return this.#workspaces.size;
  }

  /** Client buckets held now, all workspaces together. */
  get clientBuckets(): number {
    return this.#clientBudget.used;
  }

  #sweep(now: number): void {
    for (const [key, state] of this.#workspaces) {
      if (state.clients.sweep(now) && state.bucket.isFull(now)) this.#workspaces.delete(key);
    }
    this.#sweepAtSize = Math.max(MIN_SWEEP_SIZE, this.#workspaces.size * 2);
    this.#sweepAtTime = now + SWEEP_INTERVAL_MS;
  }
}

/** Default limit of failed authentications per client address: a burst of 100, then 10 per second. */
export const DEFAULT_FAILED_AUTH_LIMIT: RateLimit = { rate: 10, burst: 100 };

/**
 * Failed authentications per client address (proxy auth and API tokens):
 * each failure takes a token, and an address with none left is refused
 * (429) before its credentials are looked at, so a flood of wrong keys
 * costs one map lookup each. An address that never failed has no bucket:
 * checking it is one lookup that finds nothing.
 */
export class FailedAuthLimiter {
  readonly #buckets: BucketMap;

  constructor(limit: RateLimit = DEFAULT_FAILED_AUTH_LIMIT, maxKeys = MAX_CLIENT_BUCKETS) {
    checkLimit(limit);
    this.#buckets = new BucketMap(() => limit, { used: 0, max: maxKeys });
  }

  /** Whether `client` may try to authenticate now (does not count as a try). */
  check(client: string, now: number): RateDecision {
    return this.#buckets.peek(client, now);
  }

  /** Counts one failed authentication of `client`. */
  failed(client: string, now: number): void {
    this.#buckets.take(client, now);
  }

  get size(): number {
    return this.#buckets.size;
  }
}
