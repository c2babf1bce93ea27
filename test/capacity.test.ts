/**
 * Container capacity, unit-tested: the counting and waking of capacity.ts
 * alone, then real pools sharing one capacity with a fake runtime driver
 * and a fake clock: at the server's or a workspace's cap no container
 * starts, inputs wait and time out with 503 `at_capacity`, an idle
 * container of another pool is retired to make room, and a slot that
 * frees starts the waiting pool's container.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BerthError } from "../src/errors/codes.js";
import { silentLogger } from "../src/logging/logger.js";
import { Capacity, type IdleContainers } from "../src/router/capacity.js";
import { Pool, type Lease } from "../src/router/pool.js";
import { FakeClock } from "./support/fake-clock.js";
import { FakeDriver, settle, watch, type FakeUpstream } from "./support/fake-runtime.js";

test("counting: the server's cap and a workspace's own; a release wakes the oldest waiter that fits", () => {
  const capacity = new Capacity({ maxContainers: 3 });
  capacity.setWorkspaceLimit("a", 1);
  assert.equal(capacity.tryReserve("a"), true);
  assert.equal(capacity.tryReserve("a"), false, "a's own cap");
  assert.equal(capacity.tryReserve("b"), true);
  assert.equal(capacity.tryReserve("b"), true);
  assert.equal(capacity.tryReserve("b"), false, "the server's cap");
  assert.deepEqual([capacity.used(), capacity.used("a"), capacity.used("b")], [3, 1, 2]);

  const woken: string[] = [];
  capacity.wait("a", () => woken.push("a"));
  capacity.wait("b", () => woken.push("b1"));
  const cancel = capacity.wait("b", () => woken.push("b2"));
  cancel();
  capacity.release("b");
  assert.deepEqual(woken, ["b1"], "a is still at its own cap, so the slot is b's; a cancelled wait is never called");
  capacity.release("b");
  capacity.release("a");
  assert.deepEqual(woken, ["b1", "a"]);
  capacity.release("a");
  assert.equal(capacity.used(), 0, "a release with nothing reserved changes nothing");
});

test("raising a workspace's cap wakes its waiting pools; the server cap must be at least 1", () => {
  const capacity = new Capacity({ maxContainers: 10 });
  capacity.setWorkspaceLimit("a", 0);
  assert.equal(capacity.tryReserve("a"), false, "0: the workspace starts nothing");
  let woken = 0;
  capacity.wait("a", () => (woken += 1));
  capacity.setWorkspaceLimit("a", null);
  assert.equal(woken, 1);
  assert.equal(capacity.workspaceLimit("a"), null);
  assert.throws(() => new Capacity({ maxContainers: 0 }), RangeError);
});

test("reclaim picks the longest-idle spare container, within the workspace when the workspace's cap binds", () => {
  const retired: string[] = [];
  const pool = (workspace: string, name: string, since: number | null): IdleContainers => ({
    workspace,
    oldestSpareIdleSince: () => since,
    retireSpare: () => retired.push(name),
  });
  const pools = [pool("a", "a-new", 500), pool("b", "b-old", 100), pool("b", "b-busy", null)];
  const capacity = new Capacity({ maxContainers: 2, pools: () => pools });
  capacity.tryReserve("a");
  capacity.tryReserve("b");
  assert.equal(capacity.reclaim("a"), true);
  assert.deepEqual(retired, ["b-old"], "the server's cap binds: any workspace's idle container");
  capacity.setWorkspaceLimit("a", 1);
  assert.equal(capacity.reclaim("a"), true);
  assert.deepEqual(retired, ["b-old", "a-new"], "a's own cap binds: only a's");
  const none = new Capacity({ maxContainers: 1, pools: () => [pool("b", "busy", null)] });
  assert.equal(none.reclaim("a"), false);
});

/** Pools of two workspaces over one capacity, one fake driver and one fake clock. */
function cluster(maxContainers: number, capacityWaitMs = 30_000) {
  const clock = new FakeClock();
  const driver = new FakeDriver();
  const pools: Pool<FakeUpstream>[] = [];
  const capacity = new Capacity({ maxContainers, pools: () => pools });
  const lines: string[] = [];
  const make = (workspace: string, name: string, minContainers = 0) => {
    const pool = new Pool<FakeUpstream>({
      name,
      scaling: { minContainers, maxContainers: 10, bufferContainers: 0, scaledownWindowMs: 60_000, maxInputs: 1, targetInputs: 1 },
      queueLimit: 100,
      exitGraceMs: 5_000,
      driver,
      containerSpec: (id) => ({
        id,
        functionName: name,
        bundlePath: "/fake/app.mjs",
        image: { id: "fake" },
        cwd: "/fake",
        env: {},
        params: {},
        startupTimeoutMs: 60_000,
        limits: { memoryMiB: 1024, cpu: null },
        network: true,
      }),
      log: (containerId, line) => lines.push(`${name} ${containerId}: ${line}`),
      output: () => ({ write: () => {}, end: () => {} }),
      attach: (endpoint) => ({ containerId: "socketPath" in endpoint ? endpoint.socketPath : "", closed: false }),
      detach: (upstream) => (upstream.closed = true),
      clock,
      logger: silentLogger(),
      capacity: capacity.forWorkspace(workspace),
      workspace,
      capacityWaitMs,
    });
    pools.push(pool);
    return pool;
  };
  return { clock, driver, capacity, make, lines };
}

test("at the server's cap no container starts: inputs wait, then get 503 at_capacity with Retry-After", { timeout: 10_000 }, async () => {
  const { clock, driver, capacity, make } = cluster(2, 30_000);
  const pool = make("a", "a.fn");
  const waits = [0, 1, 2, 3].map(() => watch(pool.acquire()));
  assert.equal(driver.starts.length, 2, "4 inputs want 4 containers; the cap allows 2");
  assert.equal(capacity.used(), 2);
  driver.nth(0).ready();
  driver.nth(1).ready();
  await settle();
  assert.equal(waits[0]!.settled(), "resolved");
  assert.equal(waits[1]!.settled(), "resolved");
  clock.advance(29_999);
  await settle();
  assert.equal(waits[2]!.settled(), "pending", "still within the wait");
  clock.advance(1);
  await settle();
  for (const w of [waits[2]!, waits[3]!]) {
    const error = w.error();
    assert.ok(error instanceof BerthError);
    assert.equal(error.code, "at_capacity");
    assert.equal(error.status, 503);
    assert.equal(error.headers["retry-after"], "5");
  }
  assert.equal(driver.starts.length, 2, "and no third container ever started");
});

test("a slot that frees starts the waiting pool's container; the waiting input is served", { timeout: 10_000 }, async () => {
  const { driver, capacity, make } = cluster(1);
  const a = make("a", "a.fn");
  const b = make("b", "b.fn");
  const first = watch(a.acquire());
  const container = driver.nth(0).ready();
  await settle();
  const lease = first.value() as Lease<FakeUpstream>;
  const waiting = watch(b.acquire());
  assert.equal(driver.starts.length, 1, "b waits: a's only container is busy");
  // a's input finishes: its container is idle, and b is waiting, so it is retired at once for b.
  lease.release();
  assert.ok(container.stoppedWithGraceMs !== undefined, "a's idle container was asked to stop");
  await settle();
  assert.equal(capacity.used("a"), 0);
  assert.equal(driver.starts.length, 2, "b's container started once a's had exited");
  driver.nth(1).ready();
  await settle();
  assert.equal(waiting.settled(), "resolved");
});

test("an idle container of another pool is retired to make room; minContainers are kept", { timeout: 10_000 }, async () => {
  const { driver, make, lines } = cluster(2);
  const kept = make("a", "a.kept", 1);
  kept.warmUp();
  const spare = make("a", "a.spare");
  const warm = watch(spare.acquire());
  driver.nth(0).ready();
  const idle = driver.nth(1).ready();
  await settle();
  (warm.value() as Lease<FakeUpstream>).release();
  // Both containers are idle, the server is full, and b needs one.
  const b = make("b", "b.fn");
  const waiting = watch(b.acquire());
  assert.ok(idle.stoppedWithGraceMs !== undefined, "a.spare's idle container went");
  assert.ok(lines.some((line) => /a\.spare .*retired early/.test(line)), lines.join("\n"));
  await settle();
  assert.equal(driver.starts.length, 3);
  driver.nth(2).ready();
  await settle();
  assert.equal(waiting.settled(), "resolved");
  assert.equal(kept.stats().ready, 1, "a.kept keeps its minContainers");
});

test("a waiting pool takes one idle container per container it lacks, however often it is nudged", { timeout: 10_000 }, async () => {
  const { driver, make } = cluster(3);
  driver.slowStops = true;
  const a = make("a", "a.busy");
  const first = [0, 1, 2].map(() => watch(a.acquire()));
  const containers = [0, 1, 2].map((i) => driver.nth(i).ready());
  await settle();
  const leases = first.map((w) => w.value() as Lease<FakeUpstream>);
  const b = make("b", "b.fn");
  const waiting = watch(b.acquire());
  assert.equal(driver.starts.length, 3, "b waits: every container is busy");
  // a's containers go idle one after the other, each a chance for b; b lacks one container, so one goes.
  for (const lease of leases) lease.release();
  const asked = containers.filter((c) => c.stoppedWithGraceMs !== undefined);
  assert.equal(asked.length, 1, "one of a's idle containers was retired for b, not all three");
  asked[0]!.exit(0);
  await settle();
  assert.equal(driver.starts.length, 4, "its slot went to b");
  driver.nth(3).ready();
  await settle();
  assert.equal(waiting.settled(), "resolved");
  assert.equal(a.stats().ready, 2);
});

test("a workspace's cap holds its own pools and leaves other workspaces alone", { timeout: 10_000 }, async () => {
  const { driver, capacity, make } = cluster(10);
  capacity.setWorkspaceLimit("a", 2);
  const a1 = make("a", "a.one");
  const a2 = make("a", "a.two");
  for (let i = 0; i < 3; i++) watch(a1.acquire());
  for (let i = 0; i < 3; i++) watch(a2.acquire());
  assert.equal(capacity.used("a"), 2, "six inputs, two containers: the workspace's cap");
  const b = make("b", "b.fn");
  for (let i = 0; i < 3; i++) watch(b.acquire());
  assert.equal(capacity.used("b"), 3);
  assert.equal(driver.starts.length, 5);
  // Raising a's cap lets its waiting pools start what they wanted.
  capacity.setWorkspaceLimit("a", 6);
  assert.equal(capacity.used("a"), 6);
});

test("a draining pool's queued input still needs a slot, and gives it back when its container exits", { timeout: 10_000 }, async () => {
  const { driver, capacity, make } = cluster(1);
  const a = make("a", "a.fn");
  const first = watch(a.acquire());
  const container = driver.nth(0).ready();
  await settle();
  const drained = a.drain(1_000);
  (first.value() as Lease<FakeUpstream>).release();
  await drained;
  assert.ok(container.stoppedWithGraceMs !== undefined);
  assert.equal(capacity.used(), 0, "an exited container's slot is free again");
});
