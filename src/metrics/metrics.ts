/**
 * Per-function metrics: Prometheus counters, histograms and gauges (served at
 * `/metrics` on the bare host) and the recent-latency window behind the p50 and
 * p99 of `berth app stats`, and the last hour of each function for the
 * dashboard's charts (history.ts). It only receives events (a request
 * finished, a container started, failed or crashed) and reads pool stats
 * when scraped or when a history bucket closes; it never touches a request
 * or a container. Each platform owns its own registry, so several platforms
 * in one process (tests) do not mix.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Cancel, Clock } from "../clock/clock.js";
import type { PoolEvent } from "../router/pool.js";
import type { ServiceIdentity } from "../router/service.js";
import type { LatencySummary, PoolStats } from "../wire/control-api.js";
import { BUCKET_MS, History, type FunctionHistory } from "./history.js";
import { LatencyWindow } from "./latency.js";
import { FastCounter, FastHistogram, type CounterSeries, type HistogramSeries } from "./series.js";

/** What the gauges read when scraped: every service still running, including versions that are draining. */
export interface ServiceSource {
  services(): Iterable<{ identity: ServiceIdentity; stats(): PoolStats[] }>;
}

/** `dev` tells a `berth serve` app from the deployed app of the same name. */
type Labels = "workspace" | "app" | "function" | "dev";

interface RequestSeries {
  requests: Map<number, CounterSeries>;
  duration: HistogramSeries;
  queueWait: HistogramSeries;
  window: LatencyWindow;
  history: FunctionHistory;
}

export interface MetricsOptions {
  /** Closes a history bucket every 10 s (BUCKET_MS); without it, only `rotateHistory` does. */
  clock?: Clock;
  /** Milliseconds since the epoch, for the history's time axis and container failures. Default `Date.now`. */
  wallNow?: () => number;
}

/** Seconds: from a hello-world hit (~1 ms) to the longest default timeout (300 s). */
const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 150, 300];
const START_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Every series names the function it is about; a served (`dev`) app and a deployed one are told apart. */
const FUNCTION_LABELS = ["workspace", "app", "function", "dev"];

export class Metrics {
  readonly registry = new Registry();
  // Updated on every request: plain numbers, exposed to the registry when scraped (series.ts).
  private readonly requests: FastCounter;
  private readonly duration: FastHistogram;
  private readonly queueWait: FastHistogram;
  private readonly coldStarts: Counter<Labels>;
  private readonly startDuration: Histogram<Labels>;
  private readonly startFailures: Counter<Labels>;
  private readonly crashes: Counter<Labels>;
  private readonly refusals: Counter<Labels | "status">;
  private readonly windows = new Map<string, LatencyWindow>();
  private readonly series = new WeakMap<ServiceIdentity, RequestSeries>();
  private readonly history: History;
  private readonly wallNow: () => number;
  private cancelRotation: Cancel | undefined;

  constructor(
    private readonly source: ServiceSource,
    options: MetricsOptions = {},
  ) {
    this.wallNow = options.wallNow ?? Date.now;
    this.history = new History(this.wallNow);
    const { clock } = options;
    if (clock) {
      const rotate = () => {
        this.rotateHistory();
        this.cancelRotation = clock.after(BUCKET_MS, rotate);
      };
      this.cancelRotation = clock.after(BUCKET_MS, rotate);
    }
    const registers = [this.registry];
    this.requests = new FastCounter(
      "berth_requests_total",
      "Requests answered per function, by HTTP status (including the gateway's own 5xx).",
      this.registry,
    );
    this.duration = new FastHistogram(
      "berth_request_duration_seconds",
      "Time from a request's arrival at the gateway to the end of its response, queueing included.",
      LATENCY_BUCKETS,
      this.registry,
    );
    this.queueWait = new FastHistogram("berth_queue_wait_seconds", "Time a request waited for a slot on a ready container.", LATENCY_BUCKETS, this.registry);
    this.coldStarts = new Counter({
      name: "berth_cold_starts_total",
      help: "Containers started (each one a cold start).",
      labelNames: FUNCTION_LABELS,
      registers,
    });
    this.startDuration = new Histogram({
      name: "berth_container_start_seconds",
      help: "Time from asking the runtime for a container to the container being ready (enter hook included).",
      labelNames: FUNCTION_LABELS,
      buckets: START_BUCKETS,
      registers,
    });
    this.startFailures = new Counter({
      name: "berth_container_start_failures_total",
      help: "Containers that failed to become ready (crash, exception in enter, startupTimeout).",
      labelNames: FUNCTION_LABELS,
      registers,
    });
    this.crashes = new Counter({
      name: "berth_container_crashes_total",
      help: "Ready containers that exited without being asked to.",
      labelNames: FUNCTION_LABELS,
      registers,
    });
    this.refusals = new Counter({
      name: "berth_gateway_refusals_total",
      help: "Requests the gateway's guards refused before the queue (401 proxy auth, 429 rate limit, 431/413/400 limits), by status.",
      labelNames: [...FUNCTION_LABELS, "status"],
      registers,
    });
    new Gauge({
      name: "berth_containers",
      help: "Containers by state.",
      labelNames: ["workspace", "app", "function", "dev", "state"],
      registers,
      collect() {
        this.reset();
        for (const service of source.services()) {
          const labels = labelsOf(service.identity);
          for (const stats of service.stats()) {
            for (const state of ["starting", "ready", "draining"] as const) this.inc({ ...labels, state }, stats[state]);
          }
        }
      },
    });
    new Gauge({
      name: "berth_inputs_in_flight",
      help: "Requests being served by containers now.",
      labelNames: FUNCTION_LABELS,
      registers,
      collect() {
        this.reset();
        for (const service of source.services()) {
          for (const stats of service.stats()) this.inc(labelsOf(service.identity), stats.inFlight);
        }
      },
    });
    new Gauge({
      name: "berth_inputs_queued",
      help: "Requests waiting for a free container.",
      labelNames: FUNCTION_LABELS,
      registers,
      collect() {
        this.reset();
        for (const service of source.services()) {
          for (const stats of service.stats()) this.inc(labelsOf(service.identity), stats.queued);
        }
      },
    });
  }

  /** The guards refused a request (it never reached a container, so it is not in the request metrics). */
  requestRefused(identity: ServiceIdentity, status: number): void {
    this.refusals.inc({ ...labelsOf(identity), status: String(status) });
  }

  /** A proxied request is over: `totalMs` from arrival to the end of its response, `queueMs` waiting for a slot. */
  requestDone(identity: ServiceIdentity, status: number, totalMs: number, queueMs: number): void {
    const series = this.seriesOf(identity);
    let requests = series.requests.get(status);
    if (!requests) series.requests.set(status, (requests = this.requests.series({ ...labelsOf(identity), status: String(status) })));
    requests.inc();
    series.duration.observe(totalMs / 1000);
    series.queueWait.observe(queueMs / 1000);
    series.window.add(totalMs);
    series.history.request(status, totalMs, queueMs);
  }

  /** The series of the request metrics of one service version, looked up once: a request then only updates numbers. */
  private seriesOf(identity: ServiceIdentity): RequestSeries {
    let series = this.series.get(identity);
    if (!series) {
      const labels = labelsOf(identity);
      const key = windowKey(identity.workspace, identity.appName, identity.ephemeral, identity.functionName);
      let window = this.windows.get(key);
      if (!window) this.windows.set(key, (window = new LatencyWindow()));
      series = {
        requests: new Map(),
        duration: this.duration.series(labels),
        queueWait: this.queueWait.series(labels),
        window,
        history: this.history.of(key),
      };
      this.series.set(identity, series);
    }
    return series;
  }

  poolEvent(identity: ServiceIdentity, event: PoolEvent): void {
    const labels = labelsOf(identity);
    if (event.type === "starting") this.coldStarts.inc(labels);
    else if (event.type === "ready") {
      this.startDuration.observe(labels, event.startMs / 1000);
      this.historyOf(identity).containerReady(event.startMs);
    } else if (event.type === "start_failed") {
      this.startFailures.inc(labels);
      this.historyOf(identity).startFailed(this.wallNow(), event.message);
    } else if (event.type === "crashed") {
      this.crashes.inc(labels);
      this.historyOf(identity).crashed(this.wallNow(), event.message);
    } else if (event.type === "unreachable") this.historyOf(identity).crashed(this.wallNow(), event.message, "unreachable");
  }

  /** The last hour of a function (all its versions), or undefined when it has recorded nothing since the server started. */
  functionHistory(workspace: string, app: string, dev: boolean, fn: string): FunctionHistory | undefined {
    return this.history.get(windowKey(workspace, app, dev, fn));
  }

  /** Closes the history's open bucket of every function, with the containers each has now (run every 10 s by the clock). */
  rotateHistory(): void {
    const live = new Map<string, number>();
    for (const service of this.source.services()) {
      const { workspace, appName, ephemeral, functionName } = service.identity;
      const key = windowKey(workspace, appName, ephemeral, functionName);
      let containers = live.get(key) ?? 0;
      for (const pool of service.stats()) containers += pool.starting + pool.ready + pool.draining;
      live.set(key, containers);
    }
    this.history.rotate(live);
  }

  /** Stops closing history buckets. */
  close(): void {
    this.cancelRotation?.();
  }

  private historyOf(identity: ServiceIdentity): FunctionHistory {
    return this.history.of(windowKey(identity.workspace, identity.appName, identity.ephemeral, identity.functionName));
  }

  /** p50/p99 in ms over the function's recent requests (all versions). */
  latency(workspace: string, app: string, dev: boolean, fn: string): LatencySummary {
    return this.windows.get(windowKey(workspace, app, dev, fn))?.summary() ?? { count: 0, p50: null, p99: null };
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function labelsOf(identity: ServiceIdentity): Record<Labels, string> {
  return { workspace: identity.workspace, app: identity.appName, function: identity.functionName, dev: String(identity.ephemeral) };
}

function windowKey(workspace: string, app: string, dev: boolean, fn: string): string {
  return `${workspace}/${app}/${dev ? "dev" : "deployed"}/${fn}`;
}
