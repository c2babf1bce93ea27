/**
 * Observability through the real platform: `berth app stats` (the real CLI
 * against a real server) and its control API show containers by state,
 * in-flight, queued, cold starts and p50/p99 latency per function;
 * Prometheus counters, histograms and gauges are served at `/metrics` on the
 * bare host. Plus unit tests of the latency window and the stats table.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { formatStatsTable } from "../src/cli/stats-table.js";
import { LatencyWindow } from "../src/metrics/latency.js";
import { REPO, request, startPlatform, tempApp } from "./support/platform.js";
import { stats, waitFor } from "./support/wait.js";

const run = promisify(execFile);

const OBSERVED_APP = `
import { App } from "berthjs";
const app = new App("observed");
export const hello = app.function({ scaledownWindow: 600 }).webEndpoint(async ({ query }) => {
  await new Promise((resolve) => setTimeout(resolve, Number(query.ms ?? 0)));
  return "hi";
});
export const broken = app.function({ enter: () => { throw new Error("no config file") } }).webEndpoint(() => "never");
`;

test("stats API, `berth app stats` and /metrics report per-function figures", async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy(tempApp(t, "observed.ts", OBSERVED_APP));
  const url = platform.url(result, "hello");
  for (const ms of [0, 0, 0, 200]) assert.equal((await request(`${url}?ms=${ms}`)).status, 200);
  assert.equal((await request(platform.url(result, "broken"))).status, 503);

  const functions = await stats(platform, "observed");
  const hello = functions.find((f) => f.function === "hello")!;
  assert.equal(hello.pools[0]!.ready, 1);
  assert.equal(hello.pools[0]!.coldStarts, 1);
  assert.equal(hello.latencyMs.count, 4);
  assert.ok(hello.latencyMs.p50! < hello.latencyMs.p99!);
  assert.ok(hello.latencyMs.p99! >= 200);
  const broken = functions.find((f) => f.function === "broken")!;
  assert.equal(broken.pools[0]!.startFailures, 1);

  const cli = await run(process.execPath, [join(REPO, "bin", "berth.js"), "app", "stats", "observed", "--server", platform.server.url, "--workspace", "test", "--token", platform.token]);
  const lines = cli.stdout.split("\n");
  assert.match(lines[0]!, /^FUNCTION\s+STARTING\s+READY\s+DRAINING\s+IN-FLIGHT\s+QUEUED\s+COLD STARTS\s+FAILED STARTS\s+P50\s+P99$/);
  assert.match(cli.stdout, /^hello\s+0\s+1\s+0\s+0\s+0\s+1\s+0\s+\d/m);
  assert.match(cli.stdout, /broken: container failed to start: no config file/);

  const missing = await run(process.execPath, [join(REPO, "bin", "berth.js"), "app", "stats", "nope", "--server", platform.server.url, "--token", platform.token]).catch(
    (error: { code: number; stderr: string }) => error,
  );
  assert.equal((missing as { code: number }).code, 1);
  assert.match((missing as { stderr: string }).stderr, /no deployed app named "nope"/);

  // --watch prints the table again and again until Ctrl-C, then exits cleanly.
  const watch = spawn(process.execPath, [join(REPO, "bin", "berth.js"), "app", "stats", "observed", "--watch", "0.2", "--server", platform.server.url, "--workspace", "test", "--token", platform.token]);
  t.after(() => void watch.kill("SIGKILL"));
  let watched = "";
  watch.stdout.on("data", (chunk: Buffer) => (watched += chunk.toString()));
  await waitFor("two printed tables", () => (watched.split("FUNCTION").length > 2 ? true : undefined), 15_000);
  watch.kill("SIGINT");
  const [code] = (await once(watch, "exit")) as [number | null];
  assert.equal(code, 0);
  assert.match(watched, /every 0\.2 s · Ctrl-C to stop/);

  const metrics = await request(`${platform.server.url}/metrics`, { headers: platform.auth });
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get("content-type")!, /^text\/plain/);
  const text = await metrics.text();
  const labels = 'workspace="test",app="observed",function="hello",dev="false"';
  assert.match(text, new RegExp(`berth_requests_total\\{${labels},status="200"\\} 4`));
  assert.match(text, /berth_requests_total\{workspace="test",app="observed",function="broken",dev="false",status="503"\} 1/);
  assert.match(text, new RegExp(`berth_request_duration_seconds_count\\{${labels}\\} 4`));
  assert.match(text, new RegExp(`berth_request_duration_seconds_bucket\\{le="\\+Inf",${labels}\\} 4`));
  assert.match(text, new RegExp(`berth_queue_wait_seconds_count\\{${labels}\\} 4`));
  assert.match(text, new RegExp(`berth_cold_starts_total\\{${labels}\\} 1`));
  assert.match(text, new RegExp(`berth_container_start_seconds_count\\{${labels}\\} 1`));
  assert.match(text, /berth_container_start_failures_total\{workspace="test",app="observed",function="broken",dev="false"\} 1/);
  assert.match(text, new RegExp(`berth_containers\\{${labels},state="ready"\\} 1`));
  assert.match(text, new RegExp(`berth_inputs_in_flight\\{${labels}\\} 0`));
});

test("latency window: nearest-rank percentiles over the most recent samples", () => {
  const window = new LatencyWindow(100);
  assert.deepEqual(window.summary(), { count: 0, p50: null, p99: null });
  for (let ms = 1; ms <= 100; ms += 1) window.add(ms);
  assert.deepEqual(window.summary(), { count: 100, p50: 50, p99: 99 });
  // 100 more samples of 1000 ms push every old one out of the ring.
  for (let i = 0; i < 100; i += 1) window.add(1000);
  assert.deepEqual(window.summary(), { count: 100, p50: 1000, p99: 1000 });
  const small = new LatencyWindow();
  small.add(5);
  small.add(7);
  assert.deepEqual(small.summary(), { count: 2, p50: 5, p99: 7 });
});

test("stats table: aligned columns, draining versions and start-up errors spelled out", () => {
  const pool = { params: "", starting: 0, ready: 2, draining: 0, inFlight: 1, queued: 0, coldStarts: 3, startFailures: 0, backoffMs: 0 };
  const table = formatStatsTable([
    { function: "square", draining: false, pools: [pool], latencyMs: { count: 10, p50: 3.25, p99: 1234 } },
    { function: "square", draining: true, pools: [{ ...pool, ready: 0, draining: 1 }], latencyMs: { count: 10, p50: 3.25, p99: 1234 } },
    {
      function: "broken",
      draining: false,
      pools: [{ ...pool, ready: 0, inFlight: 0, coldStarts: 2, startFailures: 2, backoffMs: 1500, lastError: "boom" }],
      latencyMs: { count: 0, p50: null, p99: null },
    },
  ]);
  assert.equal(
    table,
    [
      "FUNCTION                        STARTING  READY  DRAINING  IN-FLIGHT  QUEUED  COLD STARTS  FAILED STARTS     P50      P99",
      "square                                 0      2         0          1       0            3              0  3.3 ms  1234 ms",
      "square (old version, draining)         0      0         1          1       0            3              0",
      "broken                                 0      0         0          0       0            2              2       -        -",
      "",
      "Last errors:",
      "  broken: boom (next start attempt in 2 s)",
      "",
    ].join("\n"),
  );
  assert.equal(formatStatsTable([]), "No running functions.\n");
});
