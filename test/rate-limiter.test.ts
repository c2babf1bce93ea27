// Token bucket, per-workspace and per-client limits and failed-auth limits, driven by a fake clock in ms.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rateKey } from "../src/gateway/client-ip.js";
import { FailedAuthLimiter, RateLimiter, TokenBucket, quarterOf, type RateDecision } from "../src/gateway/rate-limiter.js";

const DEFAULT = { rate: 200, burst: 1000 };

function takeN(take: () => RateDecision, n: number): number {
  let allowed = 0;
  for (let i = 0; i < n; i++) if (take().allowed) allowed++;
  return allowed;
}

test("a new bucket allows exactly its burst, then refuses", () => {
  const bucket = new TokenBucket(DEFAULT, 0);
  assert.equal(takeN(() => bucket.take(0), 1000), 1000);
  assert.deepEqual(bucket.take(0), { allowed: false, retryAfterSeconds: 1 });
  assert.deepEqual(bucket.take(0), { allowed: false, retryAfterSeconds: 1 });
});

test("refills at the rate: 200/s is one token every 5 ms", () => {
  const bucket = new TokenBucket(DEFAULT, 0);
  takeN(() => bucket.take(0), 1000);
  assert.equal(bucket.take(4).allowed, false);
  assert.equal(bucket.take(5).allowed, true);
  assert.equal(bucket.take(5).allowed, false);
  // Every 5 ms for a second: 200 more, none missed to rounding.
  let allowed = 0;
  for (let t = 10; t <= 1005; t += 5) if (bucket.take(t).allowed) allowed++;
  assert.equal(allowed, 200);
  // One second of silence refills 200, not the whole burst.
  assert.equal(takeN(() => bucket.take(2005), 250), 200);
  // Five seconds refill everything, and not more than the burst.
  assert.equal(takeN(() => bucket.take(60_000), 1500), 1000);
});

test("Retry-After is the whole seconds until one token, at least 1", () => {
  // 0.1/s: one token every 10 s.
  const slow = new TokenBucket({ rate: 0.1, burst: 1 }, 0);
  assert.deepEqual(slow.take(0), { allowed: true });
  assert.deepEqual(slow.take(0), { allowed: false, retryAfterSeconds: 10 });
  assert.deepEqual(slow.take(5_000), { allowed: false, retryAfterSeconds: 5 });
  assert.deepEqual(slow.take(5_001), { allowed: false, retryAfterSeconds: 5 });
  assert.deepEqual(slow.take(9_001), { allowed: false, retryAfterSeconds: 1 });
  assert.deepEqual(slow.take(9_999), { allowed: false, retryAfterSeconds: 1 });
  assert.deepEqual(slow.take(10_000), { allowed: true });
  // 0.5/s → 2 s.
  const half = new TokenBucket({ rate: 0.5, burst: 3 }, 0);
  takeN(() => half.take(0), 3);
  assert.deepEqual(half.take(0), { allowed: false, retryAfterSeconds: 2 });
});

test("a fractional rate is not cheated by floating point: 0.1/s is due at 10 000 ms", () => {
  // Refilling in 3 ms steps adds 0.3 milli-tokens ~3 333 times; the inexact
  // sum lands a hair under 1 000 at t=10 000, which must still count as due.
  const bucket = new TokenBucket({ rate: 0.1, burst: 1 }, 0);
  assert.equal(bucket.take(0).allowed, true);
  for (let t = 3; t < 10_000; t += 3) assert.equal(bucket.take(t).allowed, false, `t=${t}`);
  assert.equal(bucket.take(9_999).allowed, false);
  assert.equal(bucket.take(10_000).allowed, true);
});

test("a clock stepping backwards neither refills nor drains", () => {
  const bucket = new TokenBucket({ rate: 1, burst: 1 }, 10_000);
  assert.equal(bucket.take(10_000).allowed, true);
  assert.equal(bucket.take(5_000).allowed, false);
  assert.equal(bucket.take(10_999).allowed, false);
  assert.equal(bucket.take(11_000).allowed, true);
});

test("invalid limits are refused", () => {
  assert.throws(() => new TokenBucket({ rate: 0, burst: 10 }, 0), RangeError);
  assert.throws(() => new TokenBucket({ rate: 1, burst: 0 }, 0), RangeError);
  assert.throws(() => new RateLimiter({ rate: Number.NaN, burst: 1 }), RangeError);
  assert.throws(() => new RateLimiter(DEFAULT).setLimit("a", { rate: Infinity, burst: 1 }), RangeError);
});

test("keys are isolated", () => {
  const limiter = new RateLimiter({ rate: 1, burst: 2 });
  assert.equal(takeN(() => limiter.take("alice", 0), 5), 2);
  assert.deepEqual(limiter.take("alice", 0), { allowed: false, retryAfterSeconds: 1 });
  assert.equal(takeN(() => limiter.take("bob", 0), 5), 2);
  assert.equal(limiter.take("alice", 1_000).allowed, true);
});

test("the default limit: 1000 at once, then 200 per second", () => {
  const limiter = new RateLimiter(DEFAULT);
  assert.equal(takeN(() => limiter.take("ws", 0), 1001), 1000);
  assert.equal(takeN(() => limiter.take("ws", 1_000), 300), 200);
});

test("setLimit before first use sets the new bucket's size", () => {
  const limiter = new RateLimiter(DEFAULT);
  limiter.setLimit("small", { rate: 1, burst: 3 });
  assert.equal(takeN(() => limiter.take("small", 0), 10), 3);
  assert.equal(takeN(() => limiter.take("other", 0), 1001), 1000);
});

test("setLimit on a live bucket: lowering bites at once, raising gives no free burst", () => {
  const limiter = new RateLimiter(DEFAULT);
  assert.equal(takeN(() => limiter.take("ws", 0), 100), 100); // 900 left
  limiter.setLimit("ws", { rate: 10, burst: 20 });
  assert.equal(takeN(() => limiter.take("ws", 0), 50), 20);
  // Refills at the new rate: 10/s → 10 in one second.
  assert.equal(takeN(() => limiter.take("ws", 1_000), 50), 10);
  limiter.setLimit("ws", { rate: 100, burst: 5000 });
  assert.equal(limiter.take("ws", 1_000).allowed, false);
  assert.equal(takeN(() => limiter.take("ws", 2_000), 500), 100);
});

test("buckets that refilled are dropped, so the map stays small", () => {
  // 1000/s, burst 1: a used bucket is full again 1 ms later.
  const limiter = new RateLimiter({ rate: 1000, burst: 1 });
  for (let i = 0; i < 10_000; i++) assert.equal(limiter.take(`k${i}`, i).allowed, true);
  assert.ok(limiter.size <= 64, `size ${limiter.size}`);
});

test("a spike of keys is released by the timed sweep", () => {
  const limiter = new RateLimiter({ rate: 1, burst: 1 });
  // 10 000 keys drained at t=0: none is full, so all are kept (they must be).
  for (let i = 0; i < 10_000; i++) limiter.take(`k${i}`, 0);
  assert.equal(limiter.size, 10_000);
  assert.equal(limiter.take("k0", 0).allowed, false);
  // They are full after 1 s; the next sweep is due 10 s after the last one.
  limiter.take("late", 10_000);
  assert.equal(limiter.size, 1);
  // A dropped key starts again with a full bucket, as if it were never seen.
  assert.equal(limiter.take("k0", 10_000).allowed, true);
});

test("a client's share defaults to a quarter of its workspace's; what it is refused costs the workspace nothing", () => {
  const limiter = new RateLimiter({ rate: 8, burst: 40 });
  assert.deepEqual(limiter.clientLimitOf("ws"), { rate: 2, burst: 10 });
  assert.deepEqual(quarterOf({ rate: 1, burst: 2 }), { rate: 0.25, burst: 1 }, "a burst of at least 1");
  assert.equal(takeN(() => limiter.take("ws", 0, "6.6.6.6"), 1000), 10);
  assert.deepEqual(limiter.take("ws", 0, "6.6.6.6"), { allowed: false, retryAfterSeconds: 1, client: true });
  // 40 - 10 = 30 tokens left for everyone else.
  assert.equal(takeN(() => limiter.take("ws", 0), 100), 30);
  assert.deepEqual(limiter.take("ws", 0, "10.0.0.1"), { allowed: false, retryAfterSeconds: 1 }, "the workspace's own refusal");
});

test("client limits: the server's default, a workspace's own, and back to the default", () => {
  const limiter = new RateLimiter({ rate: 100, burst: 500 }, { clientLimit: { rate: 10, burst: 3 } });
  assert.deepEqual(limiter.clientLimitOf("ws"), { rate: 10, burst: 3 });
  assert.equal(takeN(() => limiter.take("ws", 0, "a"), 10), 3);
  limiter.setLimit("ws", undefined, { rate: 1, burst: 1 });
  assert.equal(limiter.hasClientLimit("ws"), true);
  assert.equal(takeN(() => limiter.take("ws", 0, "b"), 10), 1, "a new client gets the workspace's own share");
  assert.equal(takeN(() => limiter.take("ws", 1_000, "a"), 10), 1, "a live bucket is cut to the new burst");
  limiter.setLimit("ws", undefined);
  assert.deepEqual(limiter.clientLimitOf("ws"), { rate: 10, burst: 3 });
});

test("a flood of distinct client addresses cannot grow the client buckets past their ceiling", () => {
  const limiter = new RateLimiter({ rate: 1, burst: 4 }, { maxClients: 100 });
  // Every address takes one token of a bucket that refills in 4 s: none can be dropped while the flood lasts.
  for (let i = 0; i < 10_000; i++) limiter.take("ws", i / 10, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
  assert.equal(limiter.clientBuckets, 100);
  // Once they refilled, the timed sweep gives the memory back.
  limiter.take("ws", 20_000, "10.9.9.9");
  assert.ok(limiter.clientBuckets <= 2, `${limiter.clientBuckets} buckets`);
});

test("failed auth: checking takes nothing; failures past the burst refuse the address until it refills", () => {
  const failures = new FailedAuthLimiter({ rate: 1, burst: 3 }, 10);
  assert.deepEqual(failures.check("6.6.6.6", 0), { allowed: true });
  assert.equal(failures.size, 0, "an address that never failed has no bucket");
  for (let i = 0; i < 3; i++) failures.failed("6.6.6.6", 0);
  assert.deepEqual(failures.check("6.6.6.6", 0), { allowed: false, retryAfterSeconds: 1 });
  assert.deepEqual(failures.check("10.0.0.1", 0), { allowed: true });
  assert.deepEqual(failures.check("6.6.6.6", 1_000), { allowed: true });
  for (let i = 0; i < 1_000; i++) failures.failed(`10.0.${i >> 8}.${i & 255}`, 2_000);
  assert.ok(failures.size <= 10, "bounded like the client buckets");
});

test("rate keys: IPv4 as it is, IPv4-mapped as IPv4, IPv6 by its /64", () => {
  assert.equal(rateKey("192.0.2.7"), "192.0.2.7");
  assert.equal(rateKey("::ffff:192.0.2.7"), "192.0.2.7");
  assert.equal(rateKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(rateKey("2001:db8:1:2::ffff"), "2001:db8:1:2::/64", "one subscriber's /64 is one client");
  assert.equal(rateKey("2001:DB8:0001:0002:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(rateKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(rateKey("::1"), "0:0:0:0::/64");
  assert.equal(rateKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(rateKey("64:ff9b::192.0.2.7"), "64:ff9b:0:0::/64");
});

test("setShare: among 3 nodes each enforces a third of the burst and the rate; the limit shown stays the workspace's", () => {
  const limiter = new RateLimiter({ rate: 30, burst: 90 });
  limiter.setShare(1 / 3);
  let allowed = 0;
  for (let i = 0; i < 100; i += 1) if (limiter.take("ws", 0).allowed) allowed += 1;
  assert.equal(allowed, 30, "a third of the burst of 90");
  // 10/s here: one token every 100 ms.
  assert.equal(limiter.take("ws", 99).allowed, false);
  assert.equal(limiter.take("ws", 100).allowed, true);
  assert.deepEqual(limiter.limitOf("ws"), { rate: 30, burst: 90 });
});

test("setShare on live buckets: a node leaving raises the others' share for what comes next, with no free burst", () => {
  const limiter = new RateLimiter({ rate: 30, burst: 90 });
  limiter.setShare(1 / 3);
  while (limiter.take("ws", 0).allowed);
  limiter.setShare(1 / 2);
  assert.equal(limiter.take("ws", 0).allowed, false, "the empty bucket stays empty");
  // 15/s now: 1 s refills 15 tokens.
  let allowed = 0;
  for (let i = 0; i < 100; i += 1) if (limiter.take("ws", 1000).allowed) allowed += 1;
  assert.equal(allowed, 15);
  limiter.setShare(1);
  assert.throws(() => limiter.setShare(0), RangeError);
  assert.throws(() => limiter.setShare(1.5), RangeError);
});

test("setShare never leaves a burst below one request", () => {
  const limiter = new RateLimiter({ rate: 1, burst: 2 });
  limiter.setShare(1 / 5);
  assert.equal(limiter.take("ws", 0).allowed, true);
  assert.equal(limiter.take("ws", 0).allowed, false);
  // 0.2/s: the next token after 5 s.
  assert.equal(limiter.take("ws", 4999).allowed, false);
  assert.equal(limiter.take("ws", 5000).allowed, true);
});
