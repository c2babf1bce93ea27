// Timeline tests for the pure autoscaler step: each test walks a fake clock
// from t=0 and asserts the decision at every step (Knative style).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decide,
  desiredContainers,
  effectiveTarget,
  nextWakeup,
  type AutoscalerSpec,
  type ContainerObservation,
  type PoolObservation,
} from "../src/router/autoscaler.js";

const WINDOW = 60_000;

function spec(overrides: Partial<AutoscalerSpec> = {}): AutoscalerSpec {
  return {
    minContainers: 0,
    maxContainers: 100,
    bufferContainers: 0,
    scaledownWindowMs: WINDOW,
    maxInputs: 1,
    targetInputs: 0,
    ...overrides,
  };
}

function starting(id: string, startedAt: number): ContainerObservation {
  return { id, phase: "starting", inFlight: 0, idleSince: null, startedAt };
}
function busy(id: string, inFlight: number, startedAt = 0): ContainerObservation {
  return { id, phase: "ready", inFlight, idleSince: null, startedAt };
}
function idle(id: string, idleSince: number, startedAt = 0): ContainerObservation {
  return { id, phase: "ready", inFlight: 0, idleSince, startedAt };
}
function draining(id: string, inFlight: number): ContainerObservation {
  return { id, phase: "draining", inFlight, idleSince: null, startedAt: 0 };
}
function pool(queued: number, ...containers: ContainerObservation[]): PoolObservation {
  return { queued, containers };
}
function ids(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

test("burst from zero starts up to max at once, and not again while they boot", () => {
  const s = spec({ maxInputs: 1, maxContainers: 10 });
  // t=0: 100 queued, nothing live → ceil(100/1) = 100, capped to 10.
  assert.deepEqual(decide(s, pool(100), 0), { desired: 10, start: 10, retire: [] });
  // t=200: the 10 are booting, the queue is unchanged → nothing more to start.
  const booting = ids("c", 10).map((id) => starting(id, 0));
  assert.deepEqual(decide(s, pool(100, ...booting), 200), { desired: 10, start: 0, retire: [] });
  // t=900: all ready and busy, 90 still queued → still 10, still nothing to do.
  const serving = ids("c", 10).map((id) => busy(id, 1));
  assert.deepEqual(decide(s, pool(90, ...serving), 900), { desired: 10, start: 0, retire: [] });
});

test("starting containers count as live: one queued input, one booting container", () => {
  const s = spec();
  assert.deepEqual(decide(s, pool(1), 0), { desired: 1, start: 1, retire: [] });
  assert.deepEqual(decide(s, pool(1, starting("a", 0)), 50), { desired: 1, start: 0, retire: [] });
  // A second input arrives while "a" boots: one more, not two.
  assert.deepEqual(decide(s, pool(2, starting("a", 0)), 60), { desired: 2, start: 1, retire: [] });
});

test("steady load holds the pool still", () => {
  const s = spec({ maxInputs: 1 });
  const obs = pool(0, busy("a", 1), busy("b", 1), busy("c", 1));
  for (let t = 0; t <= 600_000; t += 30_000) {
    assert.deepEqual(decide(s, obs, t), { desired: 3, start: 0, retire: [] }, `t=${t}`);
    assert.equal(nextWakeup(s, obs, t), null, `t=${t}`);
  }
});

test("decay to zero happens at the window, not a millisecond before", () => {
  const s = spec();
  // t=0..10 000: three busy containers. At t=10 000 all finish.
  assert.deepEqual(decide(s, pool(0, busy("a", 1), busy("b", 1), busy("c", 1)), 0).desired, 3);
  const quiet = pool(0, idle("a", 10_000), idle("b", 10_000), idle("c", 10_000));
  // Demand is 0 so desired is 0 at once, but nobody has been idle for the window.
  assert.deepEqual(decide(s, quiet, 10_000), { desired: 0, start: 0, retire: [] });
  assert.equal(nextWakeup(s, quiet, 10_000), 70_000);
  // window-1: 69 999 - 10 000 = 59 999 < 60 000 → kept.
  assert.deepEqual(decide(s, quiet, 69_999).retire, []);
  // window: 70 000 - 10 000 = 60 000 → all three go.
  assert.deepEqual(decide(s, quiet, 70_000), { desired: 0, start: 0, retire: ["a", "b", "c"] });
  assert.equal(nextWakeup(s, quiet, 70_000), null);
  // Afterwards the pool is empty and stays empty.
  assert.deepEqual(decide(s, pool(0), 70_001), { desired: 0, start: 0, retire: [] });
});

test("scale-down retires longest-idle first and only the excess", () => {
  const s = spec();
  // Demand 1 (one busy) → desired 1; live 4 → excess 3, but only the due ones go.
  const obs = pool(0, idle("late", 30_000), busy("x", 1), idle("early", 1_000), idle("mid", 5_000));
  assert.deepEqual(decide(s, obs, 61_000).retire, ["early"]);
  assert.equal(nextWakeup(s, obs, 61_000), 65_000);
  assert.deepEqual(decide(s, obs, 65_000).retire, ["early", "mid"]);
  assert.equal(nextWakeup(s, obs, 65_000), 90_000);
  assert.deepEqual(decide(s, obs, 90_000).retire, ["early", "mid", "late"]);

  // With demand 3 (busy x with 3 inputs, maxInputs 5, target 1 → 3 desired),
  // live 4 → only one may go, the longest idle.
  const s2 = spec({ maxInputs: 5, targetInputs: 1 });
  const obs2 = pool(0, idle("late", 30_000), busy("x", 3), idle("early", 1_000), idle("mid", 5_000));
  assert.deepEqual(decide(s2, obs2, 1_000_000), { desired: 3, start: 0, retire: ["early"] });
  assert.equal(nextWakeup(s2, obs2, 1_000_000), null);
});

test("equal idle times retire in id order so a replay is deterministic", () => {
  const obs = pool(0, idle("b", 0), idle("a", 0), idle("c", 0));
  assert.deepEqual(decide(spec({ minContainers: 1 }), obs, WINDOW).retire, ["a", "b"]);
});

test("busy, starting and draining containers are never retired", () => {
  const s = spec();
  // Stale idleSince on a busy container must not make it retirable.
  const weird: ContainerObservation = { id: "busy", phase: "ready", inFlight: 1, idleSince: 0, startedAt: 0 };
  const stuck: ContainerObservation = { id: "boot", phase: "starting", inFlight: 0, idleSince: 0, startedAt: 0 };
  const obs = pool(0, weird, stuck, draining("d", 0));
  const d = decide(s, obs, 10 * WINDOW);
  assert.deepEqual(d.retire, []);
  assert.equal(nextWakeup(s, obs, 10 * WINDOW), null);
});

test("minContainers: started from nothing, kept when idle", () => {
  const s = spec({ minContainers: 2 });
  assert.deepEqual(decide(s, pool(0), 0), { desired: 2, start: 2, retire: [] });
  const obs = pool(0, idle("a", 0), idle("b", 100), idle("c", 200));
  // Long after the window only the excess above min goes.
  assert.deepEqual(decide(s, obs, 10 * WINDOW), { desired: 2, start: 0, retire: ["a"] });
  assert.deepEqual(decide(s, pool(0, idle("b", 100), idle("c", 200)), 10 * WINDOW).retire, []);
  assert.equal(nextWakeup(s, pool(0, idle("b", 100), idle("c", 200)), 0), null);
});

test("maxContainers caps scale-up; min wins if a spec crosses them", () => {
  assert.deepEqual(decide(spec({ maxContainers: 5 }), pool(1000), 0), { desired: 5, start: 5, retire: [] });
  const capped = ids("c", 5).map((id) => busy(id, 1));
  assert.deepEqual(decide(spec({ maxContainers: 5 }), pool(995, ...capped), 10).start, 0);
  assert.equal(desiredContainers(spec({ minContainers: 3, maxContainers: 2 }), 0), 3);
  assert.equal(desiredContainers(spec({ maxContainers: 0 }), 50), 0);
});

test("bufferContainers adds headroom under load only, within max", () => {
  const s = spec({ bufferContainers: 2 });
  // demand 1 → 1 + 2 = 3.
  assert.deepEqual(decide(s, pool(1), 0), { desired: 3, start: 3, retire: [] });
  // Serving: one busy, two idle buffers → desired 3, nothing retired.
  const obs = pool(0, busy("a", 1), idle("b", 100), idle("c", 100));
  assert.deepEqual(decide(s, obs, 10 * WINDOW), { desired: 3, start: 0, retire: [] });
  // Demand gone → no buffer, the pool can still reach zero.
  const quiet = pool(0, idle("a", 1_000), idle("b", 100), idle("c", 100));
  assert.deepEqual(decide(s, quiet, 1_000 + WINDOW), { desired: 0, start: 0, retire: ["b", "c", "a"] });
  // demand 9, max 10: 9 + 2 = 11 → 10.
  assert.equal(desiredContainers(spec({ bufferContainers: 2, maxContainers: 10 }), 9), 10);
  // Buffer on top of min: min 1, demand 0 → 1 (no buffer at zero demand).
  assert.equal(desiredContainers(spec({ bufferContainers: 2, minContainers: 1 }), 0), 1);
});

test("targetInputs below maxInputs packs fewer inputs per container", () => {
  // maxInputs 10, target 4: demand 10 → ceil(10/4) = 3.
  const s = spec({ maxInputs: 10, targetInputs: 4 });
  assert.deepEqual(decide(s, pool(10), 0), { desired: 3, start: 3, retire: [] });
  // Three booted and share the ten inputs 4/4/2: still 3.
  assert.deepEqual(decide(s, pool(0, busy("a", 4), busy("b", 4), busy("c", 2)), 500).desired, 3);
  // Demand 13 → ceil(13/4) = 4: one more.
  assert.deepEqual(decide(s, pool(3, busy("a", 4), busy("b", 4), busy("c", 2)), 600), { desired: 4, start: 1, retire: [] });
});

test("targetInputs falls back to maxInputs and is capped by it", () => {
  assert.equal(effectiveTarget(spec({ maxInputs: 10, targetInputs: 0 })), 10);
  assert.equal(effectiveTarget(spec({ maxInputs: 10, targetInputs: Number.NaN })), 10);
  assert.equal(effectiveTarget(spec({ maxInputs: 10, targetInputs: 50 })), 10);
  assert.equal(effectiveTarget(spec({ maxInputs: 0, targetInputs: 0 })), 1);
  // maxInputs 10, no target: demand 25 → ceil(25/10) = 3.
  assert.equal(desiredContainers(spec({ maxInputs: 10 }), 25), 3);
});

test("draining containers neither count as capacity nor add demand", () => {
  const s = spec();
  // Two draining containers finishing 5 inputs each: no demand for new ones.
  assert.deepEqual(decide(s, pool(0, draining("d1", 5), draining("d2", 5)), 0), { desired: 0, start: 0, retire: [] });
  // A queued input needs a fresh container even though draining ones exist.
  assert.deepEqual(decide(s, pool(1, draining("d1", 5), draining("d2", 5)), 10), { desired: 1, start: 1, retire: [] });
  // Draining does not hide an idle ready container from scale-down.
  assert.deepEqual(decide(s, pool(0, draining("d1", 1), idle("a", 0)), WINDOW).retire, ["a"]);
});

test("a full timeline: idle, burst, steady, decay", () => {
  const s = spec({ maxInputs: 2, maxContainers: 4 });
  // t=0 empty pool, nothing to do.
  assert.deepEqual(decide(s, pool(0), 0), { desired: 0, start: 0, retire: [] });
  // t=1 000: 6 requests arrive → ceil(6/2) = 3.
  assert.deepEqual(decide(s, pool(6), 1_000), { desired: 3, start: 3, retire: [] });
  // t=1 100: booting.
  const boot = [starting("a", 1_000), starting("b", 1_000), starting("c", 1_000)];
  assert.deepEqual(decide(s, pool(6, ...boot), 1_100).start, 0);
  // t=2 000: ready, 2 inputs each; 4 more arrive → demand 10 → 5 → capped at 4.
  assert.deepEqual(decide(s, pool(4, busy("a", 2), busy("b", 2), busy("c", 2)), 2_000), { desired: 4, start: 1, retire: [] });
  // t=5 000: load falls to 3 inputs on a and b; c and d idle since 4 000.
  const falling = pool(0, busy("a", 2), busy("b", 1), idle("c", 4_000), idle("d", 4_500));
  assert.deepEqual(decide(s, falling, 5_000), { desired: 2, start: 0, retire: [] });
  assert.equal(nextWakeup(s, falling, 5_000), 64_000);
  assert.deepEqual(decide(s, falling, 63_999).retire, []);
  assert.deepEqual(decide(s, falling, 64_000).retire, ["c"]);
  assert.deepEqual(decide(s, pool(0, busy("a", 2), busy("b", 1), idle("d", 4_500)), 64_000).retire, []);
  assert.deepEqual(decide(s, pool(0, busy("a", 2), busy("b", 1), idle("d", 4_500)), 64_500).retire, ["d"]);
  // t=100 000: all done since 90 000 → everything goes at 150 000.
  const done = pool(0, idle("a", 90_000), idle("b", 90_000));
  assert.deepEqual(decide(s, done, 149_999).retire, []);
  assert.deepEqual(decide(s, done, 150_000).retire, ["a", "b"]);
});
