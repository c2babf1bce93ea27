/** How live nodes split a function's containers (src/cluster/shares.ts): pure arithmetic, every node computing the same split. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { shareOf } from "../src/cluster/shares.js";

const split = (total: number, nodes: string[], salt: string) => nodes.map((node) => shareOf(total, nodes, node, salt));

test("the shares add up to the total, differing by at most one", () => {
  for (const nodes of [["a"], ["a", "b"], ["a", "b", "c"], ["a", "b", "c", "d", "e"]]) {
    for (let total = 0; total <= 23; total += 1) {
      for (const salt of ["local--shop-f", "local--shop-g", "x"]) {
        const shares = split(total, nodes, salt);
        assert.equal(shares.reduce((a, b) => a + b, 0), total, `${total} over ${nodes.length} (${salt})`);
        assert.ok(Math.max(...shares) - Math.min(...shares) <= 1);
      }
    }
  }
});

test("5 over 3 nodes is 2 + 2 + 1; when one leaves, the two left take all 5", () => {
  assert.deepEqual([...split(5, ["a", "b", "c"], "s")].sort(), [1, 2, 2]);
  assert.deepEqual([...split(5, ["a", "c"], "s")].sort(), [2, 3]);
  assert.deepEqual(split(5, ["a"], "s"), [5]);
});

test("one-container functions spread over the nodes instead of all landing on one", () => {
  const nodes = ["n1", "n2", "n3"];
  const holders = new Map<string, number>();
  for (let i = 0; i < 60; i += 1) {
    const shares = split(1, nodes, `local--app-fn${i}`);
    const holder = nodes[shares.indexOf(1)]!;
    holders.set(holder, (holders.get(holder) ?? 0) + 1);
  }
  assert.equal(holders.size, 3);
  for (const count of holders.values()) assert.ok(count >= 10, JSON.stringify([...holders]));
});

test("a node not in the list (not yet live) takes everything it is asked for", () => {
  assert.equal(shareOf(4, ["a", "b"], "z", "s"), 4);
});
