/**
 * What the dashboard costs, measured against a `berth server`-like
 * platform in its own process (bench/support/dashboard-server.ts) with
 * `--apps` copies of the hello bench app:
 *
 * 1. page weight: bytes of HTML, JS and CSS each page loads (as sent, gzip,
 *    and uncompressed);
 * 2. time to first render of the apps page: the server's time to answer it,
 *    and Chromium's first contentful paint (median of `--renders` loads);
 * 3. the server's CPU with one dashboard open and live, under `--rate`
 *    requests/s of paced traffic to one function, next to none open, in
 *    the same run (phases: none, apps page, function page, none).
 *
 *   npx tsx bench/dashboard.ts [--apps=50] [--rate=1000] [--seconds=15] [--renders=10]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { loadavg } from "node:os";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { chromium, type Page } from "playwright-core";
import { printTable } from "./support/table.js";

const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.replace(/^--/, "").split("=") as [string, string]));
const APPS = Number(args.apps ?? 50);
const RATE = Number(args.rate ?? 1000);
const SECONDS = Number(args.seconds ?? 15);
const RENDERS = Number(args.renders ?? 10);
const ROOT = resolve(import.meta.dirname, "..");
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** User + system CPU time of a process, in milliseconds (/proc counts 10 ms ticks). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function node(script: string, argv: string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", join(ROOT, script), ...argv], { stdio: ["pipe", "pipe", "inherit"] });
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolveLine, reject) => {
    let out = "";
    child.stdout!.on("data", (data) => {
      out += data;
      const end = out.indexOf("\n");
      if (end !== -1) resolveLine(out.slice(0, end));
    });
    child.once("exit", (code) => reject(new Error(`${child.spawnfile} exited ${code} before answering`)));
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const kib = (bytes: number) => (bytes / 1024).toFixed(1);

const server = node("bench/support/dashboard-server.ts", [String(APPS)]);
const { url, token, host, pid } = JSON.parse(await firstLine(server)) as { url: string; token: string; host: string; pid: number };
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_FLAGS });
try {
  // Sign in over HTTP for the weights, in the browser for the rest.
  const login = await fetch(`${url}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { origin: url, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }).toString(),
  });
  const cookie = login.headers.get("set-cookie")!.split(";")[0]!;

  // 1. Page weight.
  const pages: [string, string][] = [
    ["sign-in", "/login"],
    [`apps (${APPS} apps)`, "/w/bench/"],
    ["app", "/w/bench/apps/bench"],
    ["function (charts)", "/w/bench/apps/bench/functions/hello"],
    ["logs", "/w/bench/apps/bench/logs"],
    ["tokens", "/w/bench/tokens"],
    ["secrets", "/w/bench/secrets"],
    ["rate limit", "/w/bench/limits"],
  ];
  const weights: (string | number)[][] = [];
  for (const [name, path] of pages) {
    const response = await fetch(`${url}${path}`, { headers: { cookie: path === "/login" ? "" : cookie } });
    const html = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200) {
      weights.push([name, `HTTP ${response.status}`, "", "", ""]);
      continue;
    }
    const assets = [...html.toString().matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    let js = [0, 0];
    let css = [0, 0];
    for (const asset of assets) {
      const raw = Buffer.from(await (await fetch(`${url}${asset}`, { headers: { cookie, "accept-encoding": "identity" } })).arrayBuffer()).length;
      const gz = Number((await fetch(`${url}${asset}`, { headers: { cookie, "accept-encoding": "gzip" } })).headers.get("content-length") ?? raw);
      if (asset.endsWith(".js")) js = [js[0]! + gz, js[1]! + raw];
      else css = [css[0]! + gz, css[1]! + raw];
    }
    const htmlGz = gzipSync(html).length;
    weights.push([name, `${kib(htmlGz)} (${kib(html.length)})`, `${kib(js[0]!)} (${kib(js[1]!)})`, `${kib(css[0]!)} (${kib(css[1]!)})`, kib(htmlGz + js[0]! + css[0]!)]);
  }
  printTable("Page weight, KiB gzip as sent (uncompressed); JS and CSS are cached after the first page", ["page", "HTML", "JS", "CSS", "total"], weights);

  // 2. Time to first render of the apps page.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${url}/login`);
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/w\/bench\/$/);
  const serverMs: number[] = [];
  for (let i = 0; i < RENDERS * 2; i += 1) {
    const t0 = performance.now();
    await (await fetch(`${url}/w/bench/`, { headers: { cookie } })).text();
    serverMs.push(performance.now() - t0);
  }
  const paint: number[] = [];
  const ttfb: number[] = [];
  const floor: number[] = [];
  /** Loads a page and reads its time to first byte and first contentful paint. */
  const timeLoad = async (target: Page, path: string) => {
    await target.goto(`${url}${path}`);
    return target.evaluate(async () => {
      const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
      // Paint entries are reported a frame after the paint: wait for them (buffered), at most a second.
      const fcp = await new Promise<number>((resolveFcp) => {
        new PerformanceObserver((list) => {
          const entry = list.getEntriesByName("first-contentful-paint")[0];
          if (entry) resolveFcp(entry.startTime);
        }).observe({ type: "paint", buffered: true });
        setTimeout(() => resolveFcp(Number.NaN), 1000);
      });
      return { fcp, ttfb: nav.responseStart - nav.startTime };
    });
  };
  // The sign-in page (one form, no script) in a context without a session: this browser's floor on this machine, same run.
  const anonymous = await (await browser.newContext()).newPage();
  for (let i = 0; i < RENDERS; i += 1) {
    const timing = await timeLoad(page, "/w/bench/");
    paint.push(timing.fcp);
    ttfb.push(timing.ttfb);
    floor.push((await timeLoad(anonymous, "/login")).fcp);
  }
  printTable(`Apps page with ${APPS} apps, median of ${RENDERS} loads (Chromium, loopback)`, ["measure", "ms"], [
    ["server: request to full answer (fetch, no browser)", median(serverMs).toFixed(1)],
    ["browser: time to first byte", median(ttfb).toFixed(1)],
    ["browser: first contentful paint", median(paint).toFixed(1)],
    ["browser: first contentful paint of the sign-in page (the floor)", median(floor).toFixed(1)],
  ]);
  await page.goto("about:blank");

  // 3. The server's CPU under paced traffic, with and without open dashboards. One page's cost is small next to
  // the noise of a shared machine, so the same page is also measured open in PAGES browsers at once (each its own
  // context: its own connections), and every phase is compared with the none-open phases around it.
  const PAGES = 8;
  const viewers = await Promise.all(
    Array.from({ length: PAGES }, async () => {
      const viewer = await browser.newContext();
      await viewer.addCookies([{ name: cookie.split("=")[0]!, value: cookie.split("=")[1]!, url }]);
      return viewer.newPage();
    }),
  );
  const phases: [string, string | null, number][] = [
    ["none open", null, 0],
    [`apps page (${APPS} apps), 1 open`, "/w/bench/", 1],
    ["none open", null, 0],
    [`apps page (${APPS} apps), ${PAGES} open`, "/w/bench/", PAGES],
    ["none open", null, 0],
    ["function page (charts), 1 open", "/w/bench/apps/bench/functions/hello", 1],
    ["none open", null, 0],
    [`function page (charts), ${PAGES} open`, "/w/bench/apps/bench/functions/hello", PAGES],
    ["none open", null, 0],
  ];
  const load = node("bench/support/paced-load.ts", [`http://127.0.0.1:${new URL(url).port}`, host, String(RATE)]);
  const loadResult = firstLine(load);
  await new Promise((r) => setTimeout(r, 2000));
  const measured: number[] = [];
  for (const [, path, count] of phases) {
    await Promise.all(viewers.map((viewer, i) => viewer.goto(path === null || i >= count ? "about:blank" : `${url}${path}`)));
    if (path !== null) await Promise.all(viewers.slice(0, count).map((viewer) => viewer.waitForSelector("#live-dot.on")));
    const before = cpuMs(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    measured.push((cpuMs(pid) - before) / ((performance.now() - t0) / 1000));
  }
  load.stdin!.end();
  await Promise.all(viewers.map((viewer) => viewer.goto("about:blank")));
  const sent = JSON.parse(await loadResult) as { sent: number; ok: number; errors: number; rate: number };
  const rows = phases.map(([name, path, count], i) => {
    const perSecond = measured[i]!;
    if (path === null) return [name, perSecond.toFixed(0), `${(perSecond / 10).toFixed(1)}%`, "", ""];
    const extra = perSecond - (measured[i - 1]! + measured[i + 1]!) / 2;
    return [name, perSecond.toFixed(0), `${(perSecond / 10).toFixed(1)}%`, `${extra.toFixed(0)} ms/s`, `${(extra / count).toFixed(1)} ms/s`];
  });
  printTable(
    `Server CPU at ${sent.rate} req/s (${sent.ok} answered 200, ${sent.errors} errors), ${SECONDS} s per phase, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`,
    ["dashboard", "CPU ms/s", "of one core", "vs none open around it", "per open page"],
    rows,
  );
} finally {
  await browser.close();
  server.stdin!.end();
}
