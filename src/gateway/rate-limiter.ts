/**
 * Per-workspace request rate limits: a token bucket per key, and a map of
 * buckets that forgets keys whose bucket has refilled. It owns the counting
 * only; the gateway picks the key (the workspace), passes the time in and turns
 * a refusal into 429 with `Retry-After`.
 */

/** A token bucket's shape. Default per workspace: 200/s with a burst of 1000 (5 s worth). */
export interface RateLimit {
  /** tokens per second: requests per second sustained. Default 200. Must be > 0. */
  rate: number;
  /** bucket size: requests allowed at once from a full bucket. Default 1000. Must be ≥ 1. */
  burst: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

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
    this.#refill(now);
    if (this.#level >= MILLI - EPSILON) {
      this.#level -= MILLI;
      return ALLOWED;
    }
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
 * Token buckets by key (the workspace), created on first use with the key's
 * limit. A bucket that has refilled completely is identical to a new one, so
 * the map drops such buckets, lazily, inside `take`:
 * - when a new key would make the map twice as big as after the last sweep
 *   (and at least 64): that sweep's O(size) is paid for by the size/2 inserts
 *   before it, so `take` stays amortised O(1), and the map holds at most about
 *   2 × (keys whose bucket is still refilling), or 64, whichever is larger;
 * - and at least every 10 s of `now`, so that after a spike of keys the
 *   memory comes back (default limit: a drained bucket is full again after
 *   1000 / 200 = 5 s, so a spike is gone by the second sweep after it).
 */
export class RateLimiter {
  readonly #defaultLimit: RateLimit;
  readonly #limits = new Map<string, RateLimit>();
  readonly #buckets = new Map<string, TokenBucket>();
  /** This node's part of every limit: 1 alone, 1/n among n live nodes (`setShare`). */
  #share = 1;
  #sweepAtSize = MIN_SWEEP_SIZE;
  #sweepAtTime = Number.NEGATIVE_INFINITY;

  constructor(defaultLimit: RateLimit) {
    checkLimit(defaultLimit);
    this.#defaultLimit = defaultLimit;
  }

  /** Sets the limit of one key; its current bucket keeps its tokens up to the new burst. */
  setLimit(key: string, limit: RateLimit): void {
    checkLimit(limit);
    this.#limits.set(key, limit);
    // setLimit has no `now`, so the time since the bucket's last take will be
    // refilled at the new rate: at most one idle gap priced differently, on a
    // change an operator makes by hand.
    this.#buckets.get(key)?.setLimit(this.#scaled(limit));
  }

  /**
   * Enforces `share` (0 < share ≤ 1) of every limit from now on: with n
   * nodes behind a load balancer each enforces 1/n, so the platform as a
   * whole admits the workspace's limit when the load balancer spreads a
   * workspace's requests evenly (README, "Several nodes"). At 200/s and
   * burst 1000 over 3 nodes, each node's bucket is 66.7/s with a burst of
   * 333.3; the burst never drops below one request.
   */
  setShare(share: number): void {
    if (!(share > 0 && share <= 1)) throw new RangeError(`a rate limit share is in (0, 1], got ${share}`);
    if (share === this.#share) return;
    this.#share = share;
    for (const [key, bucket] of this.#buckets) bucket.setLimit(this.#scaled(this.limitOf(key)));
  }

  #scaled(limit: RateLimit): RateLimit {
    if (this.#share === 1) return limit;
    return { rate: limit.rate * this.#share, burst: Math.max(1, limit.burst * this.#share) };
  }

  /** The limit that applies to `key` platform-wide: its own, or the default. */
  limitOf(key: string): RateLimit {
    return this.#limits.get(key) ?? this.#defaultLimit;
  }

  take(key: string, now: number): RateDecision {
    if (now >= this.#sweepAtTime) this.#sweep(now);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#sweepAtSize) this.#sweep(now);
      bucket = new TokenBucket(this.#scaled(this.#limits.get(key) ?? this.#defaultLimit), now);
      this.#buckets.set(key, bucket);
    }
    return bucket.take(now);
  }

  /** Buckets held now (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.isFull(now)) this.#buckets.delete(key);
    }
    this.#sweepAtSize = Math.max(MIN_SWEEP_SIZE, this.#buckets.size * 2);
    this.#sweepAtTime = now + SWEEP_INTERVAL_MS;
  }
}
