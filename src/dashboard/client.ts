/**
 * The dashboard's script in the browser (compiled into dist/ by the build,
 * served by assets.ts; no framework). Pages work without it; it adds what
 * a server-rendered page cannot do alone:
 *
 * - the live feed: one EventSource per page (`data-live` on <body>); numbers
 *   are replaced by the key their element carries, regions by the HTML the
 *   server rendered again, charts get the buckets closed since;
 * - the charts of a function's last hour, drawn with uPlot;
 * - the live tail of a log page (rows the server rendered and escaped);
 * - times in the browser's time zone, confirmations before destructive
 *   actions, the workspace switch.
 */
import type UPlot from "uplot";

type Series = { time: number[] } & Record<string, (number | null)[]>;

const body = document.body;

function localTimes(root: ParentNode): void {
  for (const el of root.querySelectorAll<HTMLTimeElement>("time[datetime]")) {
    const date = new Date(el.dateTime);
    if (Number.isNaN(date.getTime()) || el.dataset.local) continue;
    el.dataset.local = "1";
    el.title = el.textContent ?? "";
    // Log lines show the time of day to the millisecond; everything else the date too.
    el.textContent = el.dataset.clock ? `${date.toLocaleTimeString([], { hour12: false })}.${String(date.getMilliseconds()).padStart(3, "0")}` : date.toLocaleString();
  }
}

function setValues(values: Record<string, string>): void {
  for (const el of document.querySelectorAll<HTMLElement>("[data-k]")) {
    const value = values[el.dataset.k ?? ""];
    if (value === undefined || el.textContent === value) continue;
    el.textContent = value;
    if (el.dataset.badge) el.className = `badge ${value}`;
  }
}

function setRegions(regions: Record<string, string>): void {
  for (const [name, html] of Object.entries(regions)) {
    const el = document.querySelector<HTMLElement>(`[data-region="${name}"]`);
    if (!el) continue;
    // The server rendered and escaped this HTML from its own model (layout.tsx); no string from the browser is in it.
    el.innerHTML = html;
    localTimes(el);
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target as HTMLFormElement;
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

document.querySelector<HTMLSelectElement>("#switch select")?.addEventListener("change", (event) => {
  (event.target as HTMLSelectElement).form?.submit();
});

/** The function page's charts: title id → fields of the history, their labels and colours. */
const CHART_SERIES: Record<string, [field: string, label: string, colour: string][]> = {
  requests: [
    ["ok", "2xx/3xx", "#2da44e"],
    ["clientError", "4xx", "#bf8700"],
    ["serverError", "5xx", "#cf222e"],
  ],
  latency: [
    ["p50", "p50", "#0969da"],
    ["p99", "p99", "#8250df"],
  ],
  queue: [
    ["queueP50", "p50", "#0969da"],
    ["queueP99", "p99", "#8250df"],
  ],
  coldstart: [["coldStartMs", "mean", "#bf3989"]],
  containers: [["containers", "live", "#1f883d"]],
};

const HOUR_S = 3600;

class Charts {
  private readonly plots: { plot: UPlot; fields: string[]; el: HTMLElement }[] = [];
  private data: Series;

  constructor(initial: Series | null) {
    this.data = initial ?? { time: [] };
    const Plot = (window as unknown as { uPlot?: typeof UPlot }).uPlot;
    if (!Plot) return;
    for (const el of document.querySelectorAll<HTMLElement>("[data-chart]")) {
      const spec = CHART_SERIES[el.dataset.chart ?? ""];
      if (!spec) continue;
      const options: UPlot.Options = {
        width: Math.max(300, el.clientWidth),
        height: 180,
        series: [{}, ...spec.map(([, label, colour]) => ({ label, stroke: colour, width: 1.5, spanGaps: false, points: { size: 4 } }))],
        axes: [{}, { size: 50 }],
        // Always the last hour, so an idle function's chart shows its quiet hour rather than one point stretched.
        scales: { x: { time: true, range: () => [Date.now() / 1000 - HOUR_S, Date.now() / 1000] } },
        legend: { live: true },
      };
      const plot = new Plot(options, this.columns(spec.map(([field]) => field)), el);
      this.plots.push({ plot, fields: spec.map(([field]) => field), el });
    }
    window.addEventListener("resize", () => {
      for (const { plot, el } of this.plots) plot.setSize({ width: Math.max(300, el.clientWidth), height: 180 });
    });
  }

  get newest(): number | undefined {
    return this.data.time.at(-1);
  }

  /** Adds buckets closed since, and forgets those older than an hour. */
  add(points: Series): void {
    for (const [field, values] of Object.entries(points)) (this.data[field] ??= []).push(...(values as never[]));
    const cutoff = (this.newest ?? 0) - HOUR_S * 1000;
    const drop = this.data.time.findIndex((t) => t > cutoff);
    if (drop > 0) for (const values of Object.values(this.data)) values.splice(0, drop);
    for (const { plot, fields } of this.plots) plot.setData(this.columns(fields));
  }

  /** uPlot's columns: seconds on x, then one array per field. */
  private columns(fields: string[]): UPlot.AlignedData {
    return [this.data.time.map((t) => t / 1000), ...fields.map((f) => this.data[f] ?? [])] as UPlot.AlignedData;
  }
}

function readJson<T>(id: string): T | null {
  const el = document.getElementById(id);
  if (!el?.textContent) return null;
  try {
    return JSON.parse(el.textContent) as T;
  } catch {
    return null;
  }
}

function startFeed(charts: Charts | undefined): void {
  const src = body.dataset.live;
  if (!src) return;
  const dot = document.getElementById("live-dot");
  const url = new URL(src, location.href);
  const newest = charts?.newest;
  if (newest !== undefined) url.searchParams.set("after", String(newest));
  const feed = new EventSource(url);
  const on = (name: string, handle: (data: never) => void) =>
    feed.addEventListener(name, (event) => handle(JSON.parse((event as MessageEvent<string>).data) as never));
  feed.onopen = () => dot?.classList.add("on");
  feed.onerror = () => dot?.classList.remove("on");
  on("values", setValues);
  on("regions", (data: { shape: string; regions: Record<string, string> }) => setRegions(data.regions));
  on("points", (data: Series) => charts?.add(data));
  on("logs", (data: { html: string }) => appendLogs(data.html));
  on("gone", () => location.reload());
  on("failed", (data: { message: string }) => {
    feed.close();
    dot?.classList.remove("on");
    dot?.setAttribute("title", data.message);
  });
  on("signed-out", () => {
    feed.close();
    location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
  });
}

/** The log page: rows arrive rendered; keep the view at the bottom if it was there, and at most 5 000 rows. */
function appendLogs(html: string): void {
  const box = document.getElementById("log-lines");
  if (!box) return;
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.querySelector(".empty")?.remove();
  box.insertAdjacentHTML("beforeend", html);
  while (box.children.length > 5000) box.firstElementChild?.remove();
  localTimes(box);
  if (atBottom) box.scrollTop = box.scrollHeight;
}

localTimes(document);
const charts = document.getElementById("charts") ? new Charts(readJson<Series>("history")) : undefined;
startFeed(charts);
const logBox = document.getElementById("log-lines");
if (logBox) logBox.scrollTop = logBox.scrollHeight;
