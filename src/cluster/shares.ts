/**
 * How the live nodes split what the platform promises as a whole: a
 * function's `minContainers` and `maxContainers` (a workspace's rate limit
 * is simply divided: gateway/rate-limiter.ts). Pure arithmetic on the sorted list of live node ids, so every
 * node computes the same split without talking to the others.
 */

/**
 * Node `self`'s share of `total` items over `nodes` (every live node id,
 * sorted): ⌊total / n⌋ each, and the remainder one apiece to the nodes
 * starting at a position picked by hashing `salt` (the function's host),
 * so that many one-container functions spread over the nodes instead of
 * all landing on the first. The shares always add up to `total`: 5 over 3
 * nodes is 2 + 2 + 1, and when one of them leaves, 3 + 2
 * (test/shares.test.ts).
 */
export function shareOf(total: number, nodes: readonly string[], self: string, salt: string): number {
  const count = nodes.length;
  const index = nodes.indexOf(self);
  if (count <= 1 || index < 0) return total;
  const base = Math.floor(total / count);
  const remainder = total % count;
  const first = fnv1a(salt) % count;
  return base + ((index - first + count) % count < remainder ? 1 : 0);
}

/** 32-bit FNV-1a: a small, stable string hash (the same on every node and every run). */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
