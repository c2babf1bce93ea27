/**
 * The request metrics kept as plain numbers (src/metrics/series.ts) must
 * expose exactly what prom-client's own Histogram and Counter expose for
 * the same observations: Prometheus scrapers and dashboards see no change.
 * The comparison is of the text each registry serves.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Counter, Histogram, Registry } from "prom-client";
import { FastCounter, FastHistogram } from "../src/metrics/series.js";

const BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 150, 300];
const LABELS = ["workspace", "app", "function", "dev"];
const A = { workspace: "acme", app: "shop", function: "checkout", dev: "false" };
const B = { workspace: "acme", app: "shop \"quoted\" \\ back", function: "list", dev: "true" };
// On bounds, between them, below the first, above the last, zero.
const VALUES = [0, 0.001, 0.002, 0.0021, 0.005, 0.3, 1, 7, 299.9, 300, 300.1, 1e6];

test("a FastHistogram serves what prom-client's Histogram serves for the same observations", async () => {
  const reference = new Registry();
  const ours = new Registry();
  const histogram = new Histogram({ name: "h_seconds", help: "Some help.", labelNames: LABELS, buckets: BUCKETS, registers: [reference] });
  const fast = new FastHistogram("h_seconds", "Some help.", BUCKETS, ours);
  const [a, b] = [fast.series(A), fast.series(B)];
  for (const value of VALUES) {
    histogram.labels(A).observe(value);
    a.observe(value);
  }
  histogram.labels(B).observe(0.04);
  b.observe(0.04);
  assert.equal(fast.series({ ...A }), a, "the same labels give the same series");
  assert.equal(await ours.metrics(), await reference.metrics());
});

test("a FastCounter serves what prom-client's Counter serves for the same increments", async () => {
  const reference = new Registry();
  const ours = new Registry();
  const counter = new Counter({ name: "c_total", help: "Counted.", labelNames: [...LABELS, "status"], registers: [reference] });
  const fast = new FastCounter("c_total", "Counted.", ours);
  for (const [labels, times] of [[{ ...A, status: "200" }, 3], [{ ...B, status: "502" }, 1], [{ ...A, status: "404" }, 2]] as const) {
    const series = fast.series(labels);
    for (let i = 0; i < times; i++) {
      counter.inc(labels);
      series.inc();
    }
  }
  assert.equal(await ours.metrics(), await reference.metrics());
});

test("nothing observed: the metric is served with its help and type only, as prom-client does", async () => {
  const reference = new Registry();
  const ours = new Registry();
  new Histogram({ name: "h_seconds", help: "Some help.", labelNames: LABELS, buckets: BUCKETS, registers: [reference] });
  new Counter({ name: "c_total", help: "Counted.", labelNames: LABELS, registers: [reference] });
  new FastHistogram("h_seconds", "Some help.", BUCKETS, ours);
  new FastCounter("c_total", "Counted.", ours);
  assert.equal(await ours.metrics(), await reference.metrics());
});
