/** The benchmarks' shared rules (bench/support): alternating order, medians, and ratios withheld when requests failed. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { failureText, ratioText, withheldNote } from "../bench/support/report.js";
import { alternate, median, percentile } from "../bench/support/rounds.js";

test("sides alternate their order every round: A B, B A, A B ... and A B C, C B A", async () => {
  const order: string[] = [];
  const results = await alternate(["a", "b"], 4, async (side, round) => {
    order.push(side);
    return `${side}${round}`;
  });
  assert.deepEqual(order, ["a", "b", "b", "a", "a", "b", "b", "a"]);
  assert.deepEqual(results, { a: ["a0", "a1", "a2", "a3"], b: ["b0", "b1", "b2", "b3"] });
  const three: string[] = [];
  await alternate(["a", "b", "c"], 2, async (side) => void three.push(side));
  assert.deepEqual(three, ["a", "b", "c", "c", "b", "a"]);
});

test("medians and nearest-rank percentiles", () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  const sorted = Array.from({ length: 1000 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 50), 500);
  assert.equal(percentile(sorted, 99), 990);
  assert.equal(percentile(sorted, 99.9), 999);
});

test("a ratio is printed only when no request failed on either side", () => {
  assert.equal(ratioText(30, 60, {}, {}), "0.50×");
  assert.equal(ratioText(30, 60, { "429": 1 }, {}), "withheld");
  assert.equal(ratioText(30, 60, {}, { "socket read": 2 }), "withheld");
  assert.equal(failureText({}), "0");
  assert.equal(failureText({ "429": 136489, "502": 3 }), "429×136489, 502×3");
  assert.equal(withheldNote([["bare", {}], ["gateway", {}]]), "");
  assert.equal(withheldNote([["bare", {}], ["gateway", { "429": 7 }]]), "Ratios withheld: requests failed (gateway: 429×7).");
});
