/**
 * The dashboard's one-hour history (src/metrics/history.ts) and how the
 * metrics feed it: requests by status class, percentiles from log-scale
 * bins, the 360-bucket ring, "the last minute", idle functions forgotten,
 * and the 10 s rotation on a fake clock.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { binOf, BUCKET_MS, BUCKETS, FunctionHistory, History, percentile } from "../src/metrics/history.js";
import { Metrics } from "../src/metrics/metrics.js";
import type { ServiceIdentity } from "../src/router/service.js";
import type { PoolStatsView } from "../src/wire/control-api.js";
import { FakeClock } from "./support/fake-clock.js";

test("requests are counted by status class and become rates per second when a bucket closes", () => {
  const history = new FunctionHistory(0);
  for (let i = 0; i < 50; i += 1) history.request(200, 5, 0);
  for (let i = 0; i < 10; i += 1) history.request(404, 2, 0);
  history.request(499, 1, 0);
  for (let i = 0; i < 5; i += 1) history.request(502, 30, 1);
  assert.deepEqual(history.recent(), { requests: 66, errors: 5, seconds: 0 });
  assert.equal(history.series().time.length, 0, "the open bucket is not a point yet");
  history.rotate(10_000, 3);
  const series = history.series();
  assert.deepEqual(series.time, [0]);
  assert.deepEqual(series.ok, [5]); // 50 in 10 s
  assert.deepEqual(series.clientError, [1.1]);
  assert.deepEqual(series.serverError, [0.5]);
  assert.deepEqual(series.containers, [3]);
  assert.equal(history.requests, 66);
  assert.equal(history.errors, 5);
});

test("percentiles come from the bins within 19% above the true value, and are null without requests", () => {
  const history = new FunctionHistory(0);
  // 100 requests: 1 ms .. 100 ms; the true p50 is 50 ms, p99 99 ms.
  for (let ms = 1; ms <= 100; ms += 1) history.request(200, ms, ms / 10);
  history.rotate(10_000, 0);
  history.rotate(20_000, 0);
  const series = history.series();
  const [p50, p99] = [series.p50[0]!, series.p99[0]!];
  assert.ok(p50 >= 50 && p50 <= 50 * 1.19, `p50 ${p50}`);
  assert.ok(p99 >= 99 && p99 <= 99 * 1.19, `p99 ${p99}`);
  assert.ok(series.queueP99[0]! >= 9.9 && series.queueP99[0]! <= 9.9 * 1.19);
  assert.equal(series.p50[1], null, "an empty bucket has no latency");
  assert.equal(series.coldStartMs[1], null);
});

test("bins cover sub-millisecond to the longest timeout, and odd inputs land in the first bin", () => {
  assert.equal(binOf(0), 0);
  assert.equal(binOf(-5), 0);
  assert.equal(binOf(Number.NaN), 0);
  assert.equal(binOf(1e12), 83, "beyond the last edge: the last bin");
  assert.ok(binOf(300_000) < 83, "300 s still has its own bin");
  const bins = new Uint32Array(84);
  bins[binOf(7)] = 1;
  const p = percentile(bins, 1, 0.5);
  assert.ok(p >= 7 && p <= 7 * 1.19);
  assert.ok(Number.isNaN(percentile(bins, 0, 0.5)));
});

test("the ring keeps exactly one hour, oldest first; series(after) gives only newer buckets", () => {
  const history = new FunctionHistory(0);
  for (let i = 0; i < BUCKETS + 20; i += 1) {
    history.request(200, 1, 0);
    history.rotate((i + 1) * BUCKET_MS, i);
  }
  const series = history.series();
  assert.equal(series.time.length, BUCKETS);
  assert.equal(series.time[0], 20 * BUCKET_MS, "the 20 oldest buckets were overwritten");
  assert.equal(series.containers.at(-1), BUCKETS + 19);
  const newer = history.series(series.time.at(-3)!);
  assert.equal(newer.time.length, 2);
});

test("the last minute is the open bucket and the five closed before it", () => {
  const history = new FunctionHistory(0);
  for (let bucket = 0; bucket < 8; bucket += 1) {
    history.request(bucket === 7 ? 500 : 200, 1, 0);
    history.rotate((bucket + 1) * BUCKET_MS, 0);
  }
  history.request(200, 1, 0);
  assert.deepEqual(history.recent(), { requests: 6, errors: 1, seconds: 50 });
});

test("start failures and crashes keep the last five reasons together; cold starts average per bucket", () => {
  const history = new FunctionHistory(0);
  for (let i = 0; i < 6; i += 1) history.startFailed(i, `boom ${i}`);
  history.crashed(6, "killed: out of memory (limit 256 MiB)");
  assert.deepEqual(
    history.failures.map((f) => `${f.kind}: ${f.message}`),
    ["start: boom 2", "start: boom 3", "start: boom 4", "start: boom 5", "crash: killed: out of memory (limit 256 MiB)"],
  );
  assert.equal(history.crashes, 1);
  history.containerReady(10);
  history.containerReady(30);
  history.rotate(10_000, 2);
  const series = history.series();
  assert.deepEqual(series.coldStarts, [2]);
  assert.deepEqual(series.coldStartMs, [20]);
  assert.deepEqual(series.startFailures, [6], "a crash is not a start failure");
});

test("a function with no service left is forgotten after an hour of nothing; one with containers is kept", () => {
  let now = 0;
  const all = new History(() => now);
  all.of("gone").request(200, 1, 0);
  all.of("idle-but-running");
  const rotate = () => {
    now += BUCKET_MS;
    all.rotate(new Map([["idle-but-running", 1]]));
  };
  // The first bucket holds its request; then an hour of empty ones.
  for (let i = 0; i < BUCKETS; i += 1) rotate();
  assert.ok(all.get("gone"), "not before a whole hour of nothing");
  rotate();
  assert.equal(all.get("gone"), undefined);
  assert.ok(all.get("idle-but-running"));
  assert.equal(all.size, 1);
});

test("Metrics feeds the history from request and pool events, and the clock closes a bucket every 10 s", () => {
  const clock = new FakeClock();
  let wall = 1_000_000;
  const identity: ServiceIdentity = { workspace: "w", appName: "a", functionName: "f", versionId: "v1", hostLabel: "w--a-f", ephemeral: false };
  const pools: PoolStatsView[] = [{ params: "", starting: 1, ready: 2, draining: 0, inFlight: 0, queued: 0, coldStarts: 3, startFailures: 0, backoffMs: 0 }];
  const metrics = new Metrics({ services: () => [{ identity, stats: () => pools }] }, { clock, wallNow: () => wall });
  metrics.requestDone(identity, 200, 12, 0);
  metrics.requestDone(identity, 503, 40, 2);
  metrics.poolEvent(identity, { type: "ready", containerId: "c1", startMs: 25 });
  metrics.poolEvent(identity, { type: "start_failed", containerId: "c2", message: "enter threw" });
  metrics.poolEvent(identity, { type: "crashed", containerId: "c1", message: "container c1 exited unexpectedly (code 3)" });
  metrics.poolEvent(identity, { type: "unreachable", containerId: "c3", message: "container c3 was unreachable" });
  const history = metrics.functionHistory("w", "a", false, "f");
  assert.ok(history);
  assert.equal(history.requests, 2);
  assert.deepEqual(history.failures, [
    { time: wall, kind: "start", message: "enter threw" },
    { time: wall, kind: "crash", message: "container c1 exited unexpectedly (code 3)" },
    { time: wall, kind: "unreachable", message: "container c3 was unreachable" },
  ]);
  assert.equal(history.crashes, 2);
  assert.equal(metrics.functionHistory("w", "a", true, "f"), undefined, "the served app of that name is another function");
  wall += BUCKET_MS;
  clock.advance(BUCKET_MS);
  const series = history.series();
  assert.deepEqual(series.time, [1_000_000]);
  assert.deepEqual(series.containers, [3]);
  assert.deepEqual(series.serverError, [0.1]);
  clock.advance(BUCKET_MS);
  assert.equal(history.series().time.length, 2);
  metrics.close();
  clock.advance(BUCKET_MS * 5);
  assert.equal(history.series().time.length, 2, "closed: no more rotations");
});
