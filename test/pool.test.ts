/**
 * Pool, unit-tested with a fake runtime driver and a fake clock: the test
 * decides when each container becomes ready, fails to start, crashes or
 * stops, and when time passes. Routing to the least-loaded container, the
 * queue bound, draining, a crash while busy, start-up failures and their
 * backoff, and scale-down at the window.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BerthError } from "../src/errors/codes.js";
import { silentLogger } from "../src/logging/logger.js";
import { Pool, type Lease, type PoolEvent, type PoolOptions } from "../src/router/pool.js";
import { startupFailure, startupInterrupted } from "../src/runtime/types.js";
import { FakeClock } from "./support/fake-clock.js";
import { FakeDriver, settle, watch, type FakeUpstream } from "./support/fake-runtime.js";

function makePool(overrides: Partial<PoolOptions<FakeUpstream>["scaling"]> = {}, options: Partial<PoolOptions<FakeUpstream>> = {}) {
  const clock = new FakeClock();
  const driver = new FakeDriver();
  const events: PoolEvent[] = [];
  const lines: string[] = [];
  const pool = new Pool<FakeUpstream>({
    name: "app.fn",
    scaling: {
      minContainers: 0,
      maxContainers: 10,
      bufferContainers: 0,
      scaledownWindowMs: 60_000,
      maxInputs: 1,
      targetInputs: 1,
      ...overrides,
    },
    queueLimit: 100,
    exitGraceMs: 5_000,
    driver,
    containerSpec: (id) => ({
      id,
      functionName: "fn",
      bundlePath: "/fake/app.mjs",
      image: { id: "fake" },
      cwd: "/fake",
      env: {},
      params: {},
      startupTimeoutMs: 60_000,
      limits: { memoryMiB: 1024, cpu: null },
      network: true,
    }),
    log: (containerId, line, stream) => lines.push(`${stream} ${containerId}: ${line}`),
    output: () => ({ write: () => {}, end: () => {} }),
    attach: (endpoint) => ({ containerId: "socketPath" in endpoint ? endpoint.socketPath : "", closed: false }),
    detach: (upstream) => (upstream.closed = true),
    clock,
    logger: silentLogger(),
    onEvent: (event) => events.push(event),
    ...options,
  });
  return { pool, clock, driver, events, lines };
}

function assertRefusal(error: unknown, code: string, retryAfter: string): BerthError {
  assert.ok(error instanceof BerthError, `a BerthError, got ${String(error)}`);
  assert.equal(error.code, code);
  assert.equal(error.status, 503);
  assert.equal(error.headers["retry-after"], retryAfter);
  return error;
}

test("routing: each input goes to the least-loaded ready container below maxInputs; the rest wait for a slot", { timeout: 10_000 }, async () => {
  const { pool, driver } = makePool({ minContainers: 2, maxContainers: 2, maxInputs: 2, targetInputs: 2 });
  pool.warmUp();
  assert.equal(driver.starts.length, 2, "minContainers start at once");
  const a = driver.nth(0).ready();
  const b = driver.nth(1).ready();
  await settle();

  const leases: Lease<FakeUpstream>[] = [];
  for (let i = 0; i < 4; i += 1) leases.push(await pool.acquire());
  // Ties go to the first ready container, so the load alternates: a, b, a, b.
  assert.deepEqual(leases.map((lease) => lease.containerId), [a.id, b.id, a.id, b.id]);
  assert.equal(leases[0]?.upstream.containerId, a.endpoint.socketPath, "the lease carries the container's upstream");

  leases[1]?.release();
  assert.equal((await pool.acquire()).containerId, b.id, "b has a free slot, a has none");

  // Both full (2 inputs each): the next input waits, and gets the first slot given back.
  const waiting = watch(pool.acquire());
  await settle();
  assert.equal(waiting.settled(), "pending");
  assert.equal(pool.stats().queued, 1);
  assert.equal(driver.starts.length, 2, "maxContainers 2: no third container");
  leases[2]?.release();
  await settle();
  assert.equal(waiting.value().containerId, a.id);
  assert.deepEqual({ ...pool.stats(), lastError: undefined }, {
    starting: 0,
    ready: 2,
    draining: 0,
    inFlight: 4,
    queued: 0,
    coldStarts: 2,
    startFailures: 0,
    backoffMs: 0,
    lastError: undefined,
  });
});

test("the queue is bounded: beyond queueLimit an input is refused at once with queue_full and Retry-After", { timeout: 10_000 }, async () => {
  const { pool, driver } = makePool({ maxContainers: 1 }, { queueLimit: 2 });
  const first = watch(pool.acquire());
  const second = watch(pool.acquire());
  await assert.rejects(pool.acquire(), (error: unknown) => {
    assertRefusal(error, "queue_full", "1");
    assert.match(String(error), /queue is full \(2 waiting\)/);
    return true;
  });
  assert.equal(driver.starts.length, 1, "one container for maxContainers 1");
  driver.nth(0).ready();
  await settle();
  const lease = first.value();
  assert.equal(second.settled(), "pending", "one input at a time");
  lease.release();
  await settle();
  assert.equal(second.value().containerId, lease.containerId);
});

test("draining: new inputs get `stopped`; queued and in-flight ones finish; then every container stops and drain resolves", { timeout: 10_000 }, async () => {
  const { pool, driver } = makePool({ maxContainers: 1 });
  const inFlight = watch(pool.acquire());
  const queued = watch(pool.acquire());
  driver.nth(0).ready();
  await settle();
  const container = driver.nth(0);
  const first = inFlight.value();

  const drained = watch(pool.drain(7_000));
  await assert.rejects(pool.acquire(), (error: unknown) => (assertRefusal(error, "stopped", "1"), true));
  await settle();
  assert.equal(drained.settled(), "pending", "work is in flight");
  assert.equal(queued.settled(), "pending");

  first.release();
  await settle();
  const second = queued.value();
  assert.equal(second.containerId, container.spec.id, "the queued input is served by the draining pool");
  assert.equal(drained.settled(), "pending");

  second.release();
  await settle();
  assert.equal(drained.settled(), "resolved");
  assert.deepEqual(pool.stats(), { starting: 0, ready: 0, draining: 0, inFlight: 0, queued: 0, coldStarts: 1, startFailures: 0, backoffMs: 0 });
});

test("draining stops idle containers with the drain's grace period and detaches their upstreams", { timeout: 10_000 }, async () => {
  const { pool, driver } = makePool({ minContainers: 1 });
  pool.warmUp();
  const container = driver.nth(0).ready();
  await settle();
  const lease = await pool.acquire();
  const upstream = lease.upstream;
  lease.release();
  await pool.drain(7_000);
  assert.equal(container.stoppedWithGraceMs, 7_000);
  assert.equal(upstream.closed, true);
});

test("a container that crashes while busy: the crash is logged and counted, and waiting inputs get a new container", { timeout: 10_000 }, async () => {
  const { pool, driver, events, lines } = makePool({ maxContainers: 1 });
  const busy = watch(pool.acquire());
  const waiting = watch(pool.acquire());
  const crashed = driver.nth(0).ready();
  await settle();
  const lease = busy.value();

  crashed.exit(137);
  await settle();
  assert.equal(lease.upstream.closed, true, "the gateway's connection to it is closed");
  assert.match(pool.stats().lastError ?? "", /exited unexpectedly \(code 137\)/);
  assert.ok(events.some((event) => event.type === "crashed" && event.containerId === crashed.id));
  assert.ok(lines.some((line) => line.startsWith(`system ${crashed.id}: container ${crashed.id} exited unexpectedly`)), lines.join("\n"));
  // The input that was on it ends (the gateway answers 502) and gives its slot back: a no-op on a gone container.
  lease.release("unreachable");

  assert.equal(driver.starts.length, 2, "the queued input asked for a replacement");
  const replacement = driver.nth(1).ready();
  await settle();
  assert.equal(waiting.value().containerId, replacement.id);
  assert.equal(pool.stats().ready, 1);
});

test("a container found unreachable is taken out of service at once, and said so to the pool's listener", { timeout: 10_000 }, async () => {
  const { pool, driver, events } = makePool({ maxContainers: 2 });
  const lease = watch(pool.acquire());
  const container = driver.nth(0).ready();
  await settle();
  lease.value().release("unreachable");
  await settle();
  assert.equal(container.stoppedWithGraceMs, 5_000, "stopped with the pool's exit grace period");
  assert.match(pool.stats().lastError ?? "", /unreachable/);
  assert.deepEqual(
    events.filter((event) => event.type === "unreachable"),
    [{ type: "unreachable", containerId: container.id, message: pool.stats().lastError }],
  );
});

test("start-up failure: waiting inputs get startup_failed with the cause; new ones are refused until the backoff ends, then a start is retried", { timeout: 10_000 }, async () => {
  const { pool, clock, driver, events } = makePool();
  const waiting = watch(pool.acquire());
  driver.nth(0).fail(startupFailure("container failed to start: enter threw: database unreachable"));
  await settle();
  assertRefusal(waiting.error(), "startup_failed", "1");
  assert.match(String(waiting.error()), /enter threw: database unreachable/);
  assert.equal(pool.stats().startFailures, 1);
  assert.ok(events.some((event) => event.type === "start_failed"));

  // Within the 1 s backoff: refused at once, nothing started.
  clock.advance(400);
  await assert.rejects(pool.acquire(), (error: unknown) => (assertRefusal(error, "startup_failed", "1"), true));
  assert.equal(driver.starts.length, 1);
  assert.equal(pool.stats().backoffMs, 600);

  // After it: the next input starts a container again; a second failure doubles the backoff.
  clock.advance(600);
  const retry = watch(pool.acquire());
  assert.equal(driver.starts.length, 2);
  driver.nth(1).fail(startupFailure("container failed to start: enter threw again"));
  await settle();
  assertRefusal(retry.error(), "startup_failed", "2");
  await assert.rejects(pool.acquire(), (error: unknown) => (assertRefusal(error, "startup_failed", "2"), true));

  // A start that succeeds resets the backoff.
  clock.advance(2_000);
  const third = watch(pool.acquire());
  driver.nth(2).ready();
  await settle();
  assert.equal(third.settled(), "resolved");
  assert.equal(pool.stats().backoffMs, 0);
});

test("a runtime that fails for its own reasons is reported to the client without its internals", { timeout: 10_000 }, async () => {
  const { pool, driver } = makePool();
  const waiting = watch(pool.acquire());
  driver.nth(0).fail(new Error("EAGAIN: fork failed at /srv/berth/internal/path"));
  await settle();
  const error = assertRefusal(waiting.error(), "startup_failed", "1");
  assert.doesNotMatch(error.message, /EAGAIN|\/srv/);
  assert.match(error.message, /the runtime could not start a container/);
});

test("minContainers held back by a start-up backoff are started when it ends (the wake-up runs on the clock)", { timeout: 10_000 }, async () => {
  const { pool, clock, driver } = makePool({ minContainers: 1 });
  pool.warmUp();
  driver.nth(0).fail(startupFailure("container exited during start-up (code 1)"));
  await settle();
  clock.advance(999);
  assert.equal(driver.starts.length, 1);
  clock.advance(1);
  assert.equal(driver.starts.length, 2, "retried when the 1 s backoff ended");
});

test("scale-down: an idle container is retired when the scaledown window has passed on the clock, not before", { timeout: 10_000 }, async () => {
  const { pool, clock, driver, lines } = makePool({ scaledownWindowMs: 60_000 });
  const lease = watch(pool.acquire());
  const container = driver.nth(0).ready();
  await settle();
  lease.value().release();
  clock.advance(59_999);
  assert.equal(container.stoppedWithGraceMs, undefined);
  assert.equal(pool.stats().ready, 1);
  clock.advance(1);
  assert.equal(container.stoppedWithGraceMs, 5_000);
  assert.ok(lines.some((line) => line.includes("scaling down: idle for 60 s")), lines.join("\n"));
  await settle();
  assert.deepEqual([pool.stats().ready, pool.stats().draining], [0, 0]);
});

test("an aborted wait leaves the queue and rejects with client_closed", { timeout: 10_000 }, async () => {
  const { pool } = makePool({ maxContainers: 1 });
  const abort = new AbortController();
  const waiting = pool.acquire(abort.signal);
  assert.equal(pool.stats().queued, 1);
  abort.abort();
  await assert.rejects(waiting, (error: unknown) => error instanceof BerthError && error.code === "client_closed");
  assert.equal(pool.stats().queued, 0);
});

test("an abandoned input: the container takes nothing new while its probe runs, and serves again once it answers `ended`", { timeout: 10_000 }, async () => {
  const { pool, driver } = makePool({ maxContainers: 1, maxInputs: 2, targetInputs: 2 });
  const first = watch(pool.acquire());
  const container = driver.nth(0).ready();
  await settle();
  const other = await pool.acquire();
  first.value().release("abandoned");
  assert.equal(container.probes.length, 1);
  assert.deepEqual([container.probes[0]!.inFlight, container.probes[0]!.graceMs], [1, 2_000], "the probe carries what is still in flight");
  const waiting = watch(pool.acquire());
  await settle();
  assert.equal(waiting.settled(), "pending", "a slot is free, but the container is under suspicion");
  container.probes[0]!.answer("ended");
  await settle();
  assert.equal(waiting.value().containerId, container.id);
  assert.equal(container.stoppedWithGraceMs, undefined);
  other.release();
});

test("an abandoned input on a container that does not answer: killed at once, a replacement serves the waiting inputs", { timeout: 10_000 }, async () => {
  const { pool, driver, lines } = makePool({ maxContainers: 1 });
  const first = watch(pool.acquire());
  const stuck = driver.nth(0).ready();
  await settle();
  first.value().release("abandoned");
  const waiting = watch(pool.acquire());
  await settle();
  assert.equal(driver.starts.length, 1, "no replacement before the verdict");
  stuck.probes[0]!.answer("unresponsive");
  await settle();
  assert.equal(stuck.stoppedWithGraceMs, 0, "killed, not drained");
  assert.match(pool.stats().lastError ?? "", /event loop is blocked/);
  assert.ok(lines.some((line) => line.includes("did not answer within 2 s")), lines.join("\n"));
  assert.equal(driver.starts.length, 2, "maxContainers 1: the replacement starts as the stuck one goes");
  const replacement = driver.nth(1).ready();
  await settle();
  assert.equal(waiting.value().containerId, replacement.id);
});

test("an abandoned input still running after the grace: the container finishes its other inputs with the exit grace and is replaced", { timeout: 10_000 }, async () => {
  const { pool, driver } = makePool({ maxContainers: 2 }, { abandonGraceMs: 500 });
  const first = watch(pool.acquire());
  const lingering = driver.nth(0).ready();
  await settle();
  first.value().release("abandoned");
  assert.equal(lingering.probes[0]!.graceMs, 500);
  lingering.probes[0]!.answer("lingering");
  await settle();
  assert.equal(lingering.stoppedWithGraceMs, 5_000);
  assert.match(pool.stats().lastError ?? "", /did not end a timed-out call within 0.5 s/);
  const next = watch(pool.acquire());
  driver.nth(1).ready();
  await settle();
  assert.notEqual(next.value().containerId, lingering.id);
});

test("a start killed from outside is retried at once, its waiting inputs kept; only repeated kills back off", { timeout: 10_000 }, async () => {
  const { pool, driver, lines } = makePool();
  const waiting = watch(pool.acquire());
  driver.nth(0).fail(startupInterrupted("container was killed during start-up (SIGKILL)"));
  await settle();
  assert.equal(waiting.settled(), "pending", "the input waits for the replacement");
  assert.equal(driver.starts.length, 2, "the replacement is started at once");
  assert.equal(pool.stats().backoffMs, 0);
  assert.ok(lines.some((line) => line.includes("starting a replacement at once")), lines.join("\n"));
  const replacement = driver.nth(1).ready();
  await settle();
  assert.equal(waiting.value().containerId, replacement.id);

  // Every start killed, again and again: after three retries at once, the fourth kill backs off like a failure.
  const { pool: doomed, driver: killer } = makePool();
  const victim = watch(doomed.acquire());
  for (let n = 0; n < 3; n += 1) {
    killer.nth(n).fail(startupInterrupted("container was killed during start-up (SIGKILL)"));
    await settle();
    assert.equal(killer.starts.length, n + 2);
  }
  killer.nth(3).fail(startupInterrupted("container was killed during start-up (SIGKILL)"));
  await settle();
  assertRefusal(victim.error(), "startup_failed", "1");
  assert.equal(killer.starts.length, 4, "no fifth start during the backoff");
});

test("a lease carries the part of its wait spent on its container's start (server-timing's cold-start)", { timeout: 10_000 }, async () => {
  const { pool, clock, driver } = makePool({ maxContainers: 1, maxInputs: 2, targetInputs: 2 });
  // t=0: the first input finds no container and starts one.
  const first = watch(pool.acquire());
  clock.advance(30);
  // t=30: the second arrives while that container is still starting: it waits for the last 50 ms of the start only.
  const second = watch(pool.acquire());
  clock.advance(50);
  // t=80: ready.
  driver.nth(0).ready();
  await settle();
  assert.equal(first.value().coldStartMs, 80);
  assert.equal(second.value().coldStartMs, 50);
  // A warm container: no cold start, whether the slot is free at once or only after a wait behind a busy container.
  const third = watch(pool.acquire());
  await settle();
  assert.equal(third.settled(), "pending", "both slots are taken");
  clock.advance(200);
  first.value().release();
  await settle();
  assert.equal(third.value().coldStartMs, 0, "waited 200 ms behind a busy container: queue, not cold start");
  second.value().release();
  assert.equal((await pool.acquire()).coldStartMs, 0);
});

test("tryAcquire: a free slot on a ready container at once, else undefined without queueing or starting anything", { timeout: 10_000 }, async () => {
  const { pool, driver } = makePool({ minContainers: 0, maxContainers: 1, maxInputs: 1, targetInputs: 1 });
  assert.equal(pool.tryAcquire(), undefined, "no container yet");
  assert.equal(driver.starts.length, 0, "tryAcquire is not demand: it starts nothing");
  const waiting = watch(pool.acquire());
  const container = driver.nth(0).ready();
  await settle();
  const first = waiting.value();
  assert.equal(first.containerId, container.id);
  assert.equal(pool.tryAcquire(), undefined, "the only slot is taken");
  first.release();
  const second = pool.tryAcquire();
  assert.equal(second?.containerId, container.id, "the released slot, synchronously");
  second!.release();
  const draining = pool.drain(1_000);
  assert.equal(pool.tryAcquire(), undefined, "a draining pool takes no new inputs");
  await draining;
});
