/**
 * The deadline queue (src/clock/deadlines.ts) on a fake clock: each deadline
 * fires at its own due time, in order, on one timer; cancelled ones never
 * fire; nothing is left armed once every deadline is gone.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DeadlineQueue, type Deadline } from "../src/clock/deadlines.js";
import { FakeClock } from "./support/fake-clock.js";

function queue(delayMs = 100) {
  const clock = new FakeClock(0);
  const fired: [string, number][] = [];
  const deadlines = new DeadlineQueue<string>(clock, delayMs, (name) => fired.push([name, clock.now()]));
  return { clock, fired, deadlines };
}

test("each deadline fires at exactly its due time, in order, with one timer armed for all of them", () => {
  const { clock, fired, deadlines } = queue();
  deadlines.add("a");
  clock.advance(10);
  deadlines.add("b");
  deadlines.add("c");
  assert.equal(clock.pending, 1, "one timer");
  clock.advance(89);
  assert.deepEqual(fired, []);
  clock.advance(1);
  assert.deepEqual(fired, [["a", 100]]);
  clock.advance(9);
  assert.equal(fired.length, 1, "b is not due before 110");
  clock.advance(1);
  assert.deepEqual(fired, [["a", 100], ["b", 110], ["c", 110]]);
  assert.equal(deadlines.size, 0);
  assert.equal(clock.pending, 0, "nothing armed once every deadline fired");
});

test("a cancelled deadline never fires; cancelling again or after it fired does nothing; the last cancel disarms the timer", () => {
  const { clock, fired, deadlines } = queue();
  const a = deadlines.add("a");
  clock.advance(5);
  const b = deadlines.add("b");
  a.cancel();
  a.cancel();
  assert.equal(deadlines.size, 1);
  clock.advance(100);
  assert.deepEqual(fired, [["b", 105]], "the timer armed for a re-armed for b");
  b.cancel();
  assert.equal(deadlines.size, 0);
  const c = deadlines.add("c");
  c.cancel();
  assert.equal(clock.pending, 0, "no timer left behind");
  clock.advance(1000);
  assert.deepEqual(fired, [["b", 105]]);
});

test("thousands cancelled among a few live ones: the live ones fire on time, the array is swept as it goes", () => {
  const { clock, fired, deadlines } = queue(1000);
  const kept: string[] = [];
  for (let n = 0; n < 10_000; n += 1) {
    const deadline: Deadline = deadlines.add(`d${n}`);
    if (n % 1000 === 999) kept.push(`d${n}`);
    else deadline.cancel();
    clock.advance(0.01);
  }
  assert.equal(deadlines.size, 10);
  assert.equal(clock.pending, 1);
  clock.advance(1000);
  assert.deepEqual(
    fired.map(([name]) => name),
    kept,
  );
  for (const [name, at] of fired) assert.ok(Math.abs(at - (Number(name.slice(1)) * 0.01 + 1000)) < 1e-6, `${name} fired at ${at}`);
  assert.equal(clock.pending, 0);
});

test("a deadline that expires may add another or cancel a later one", () => {
  const clock = new FakeClock(0);
  const fired: string[] = [];
  const later: { deadline?: Deadline } = {};
  const deadlines: DeadlineQueue<string> = new DeadlineQueue<string>(clock, 50, (name) => {
    fired.push(name);
    if (name === "first") deadlines.add("again");
    if (name === "second") later.deadline?.cancel();
  });
  deadlines.add("first");
  clock.advance(10);
  deadlines.add("second");
  clock.advance(10);
  later.deadline = deadlines.add("third");
  clock.advance(200);
  assert.deepEqual(fired, ["first", "second", "again"]);
  assert.equal(clock.pending, 0);
});
