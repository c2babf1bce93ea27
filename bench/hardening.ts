/**
 * The attacks of issue 11, measured: what one hostile client costs the
 * server and everyone else. Runs against whatever tree it sits in, so the
 * same file measures a branch and its base.
 *
 *   node --import tsx bench/hardening.ts [upload|flood|params|trickle|all] [--seconds=5]
 *
 * - upload: a `berth server` process's RSS while a 600 MiB chunked bundle
 *   upload is sent to it (the bundle limit is 256 MiB).
 * - flood: legitimate requests/s (wrk, valid proxy-auth credentials, from
 *   127.0.0.1) with and without a flood of made-up keys from 127.0.0.2
 *   (a node client, 50 connections), alternating rounds in the same run.
 * - params: 40 concurrent GETs, each with a new parameter value, on a server
 *   started with `maxContainers: 16`: containers started and alive at once.
 * - trickle: 25 connections trickling one body byte every 3 s for 75 s,
 *   same server settings: containers held, and what the tricklers got.
 *
 * Containers' memory is the RSS of the server's process tree. Prints tables;
 * never fails on numbers.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { connect } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundleApp } from "../src/bundler/bundle.js";
import { ApiClient } from "../src/cli/client.js";
import type { RunningServer, ServerOptions } from "../src/server/start.js";
import { startServer } from "./support/compiled.js";
import { printTable } from "./support/table.js";

const REPO = resolve(import.meta.dirname, "..");
const MIB = 1024 * 1024;
const flag = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const SECONDS = flag("seconds", 5);

const APP = `
import { App } from "berthjs";
import { z } from "zod";
const app = new App("attacked");
const many = { concurrency: { maxInputs: 1000 }, minContainers: 1 };
export const guarded = app.function(many).webEndpoint({ requiresProxyAuth: true }, () => "ok");
export const param = app.function({ params: z.object({ v: z.string() }) }).webEndpoint(({ params }) => params.v);
export const upload = app.function().nodeApp(() => (req, res) => {
  let bytes = 0;
  req.on("data", (chunk) => (bytes += chunk.length));
  req.on("end", () => res.end(String(bytes)));
});
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** VmRSS of `pid` and every descendant, in bytes (Linux /proc). */
function treeRss(pid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  for (const stack = [pid]; stack.length > 0; ) {
    const next = stack.pop()!;
    total += rss(next);
    stack.push(...(children.get(next) ?? []));
  }
  return total;
}

function rss(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

interface Platform {
  server: RunningServer;
  hosts: Record<string, string>;
  close(): Promise<void>;
}

async function platform(options: Partial<ServerOptions>): Promise<Platform> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-"));
  const server = await startServer({ home, port: 0, workspace: "bench", warmAgents: 1, ephemeralState: true, onLog: () => {}, ...options });
  const client = new ApiClient(server.url, undefined, server.bootstrapToken ?? server.sessionToken);
  const dir = mkdtempSync(join(REPO, "bench", ".tmp-"));
  try {
    writeFileSync(join(dir, "attacked.ts"), APP);
    const bundle = await bundleApp(join(dir, "attacked.ts"));
    await client.uploadBlob(bundle.hash, bundle.code);
    const result = await client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: true }, () => {});
    const hosts = Object.fromEntries(result.functions.map((fn) => [fn.name, new URL(fn.url).host]));
    return {
      server,
      hosts,
      async close() {
        await server.close();
        rmSync(home, { recursive: true, force: true });
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Live containers of the bench app and its cold starts so far. */
function containers(p: Platform): { live: number; coldStarts: number } {
  let live = 0;
  let coldStarts = 0;
  for (const service of p.server.platform.services()) {
    for (const pool of service.stats()) {
      live += pool.starting + pool.ready + pool.draining;
      coldStarts += pool.coldStarts;
    }
  }
  return { live, coldStarts };
}

async function upload(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-"));
  const server = spawn(process.execPath, [join(REPO, "bin", "berth.js"), "server", "--port", "0"], {
    env: { ...process.env, BERTH_HOME: home, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  server.stdout.on("data", (d: Buffer) => (out += d.toString()));
  server.stderr.on("data", (d: Buffer) => (out += d.toString()));
  try {
    while (!/bt_[0-9a-f]{16}_\S+/.test(out)) await sleep(50);
    const port = Number(/listening on http:\/\/localhost:(\d+)/.exec(out)![1]);
    const token = /bt_[0-9a-f]{16}_\S+/.exec(out)![0];
    await sleep(500);
    const before = rss(server.pid!);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rss(server.pid!))), 20);
    const started = performance.now();
    const { status, sent } = await chunkedUpload(port, token, 600 * MIB);
    const ms = performance.now() - started;
    clearInterval(sampler);
    await sleep(1000);
    const after = rss(server.pid!);
    printTable(
      `600 MiB chunked PUT /api/blobs (limit 256 MiB) to a berth server process (load ${loadavg().map((l) => l.toFixed(2)).join(" ")})`,
      ["answer", "after ms", "client sent MiB", "server RSS before MiB", "peak MiB", "1 s later MiB"],
      [[status, ms, sent / MIB, before / MIB, peak / MIB, after / MIB]],
    );
  } finally {
    server.kill("SIGKILL");
    rmSync(home, { recursive: true, force: true });
  }
}

function chunkedUpload(port: number, token: string, total: number): Promise<{ status: string; sent: number }> {
  return new Promise((resolveUpload) => {
    const socket = connect(port, "127.0.0.1");
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    let sent = 0;
    let text = "";
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => resolveUpload({ status: /^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? "none", sent }));
    const pump = () => {
      while (!socket.destroyed && sent < total) {
        sent += chunk.length;
        if (!socket.write(frame)) return void socket.once("drain", pump);
      }
      if (!socket.destroyed) socket.end("0\r\n\r\n");
    };
    socket.once("connect", () => {
      socket.write(`PUT /api/blobs/${"a".repeat(64)} HTTP/1.1\r\nHost: localhost:${port}\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\n\r\n`);
      pump();
    });
  });
}

async function flood(): Promise<void> {
  const p = await platform({ rateLimit: { rate: 1e6, burst: 1e6 } });
  try {
    const proxy = await p.server.tokens.createProxyToken({ workspace: "bench" });
    const port = p.server.port;
    const host = p.hosts.guarded!;
    await wrk(port, host, proxy.key, proxy.secret, 1);
    const rows: (string | number)[][] = [];
    for (const withFlood of [false, true, true, false, false, true]) {
      const attacker = withFlood ? floodClient(port, host, SECONDS + 1) : undefined;
      if (attacker) await sleep(500);
      // The gateway runs in this process: its CPU per legitimate request shows what the flood costs it, steadier than req/s on a busy machine.
      const cpu = process.cpuUsage();
      const legit = await wrk(port, host, proxy.key, proxy.secret, SECONDS);
      const used = process.cpuUsage(cpu);
      const statuses = attacker ? await attacker : undefined;
      rows.push([
        withFlood ? "flood on" : "flood off",
        legit.rps,
        legit.non2xx,
        (used.user + used.system) / (legit.rps * SECONDS),
        statuses ? Object.entries(statuses).map(([s, n]) => `${s}×${n}`).join(" ") : "-",
      ]);
    }
    printTable(
      `Legitimate requests/s (wrk -c20, valid credentials, 127.0.0.1) during a flood of made-up keys (50 connections, 127.0.0.2), ${SECONDS} s rounds (load ${loadavg().map((l) => l.toFixed(2)).join(" ")})`,
      ["round", "legit req/s", "legit non-2xx", "gateway CPU µs per legit request", "flood answers"],
      rows,
    );
  } finally {
    await p.close();
  }
}

function wrk(port: number, host: string, key: string, secret: string, seconds: number): Promise<{ rps: number; non2xx: number }> {
  const args = ["-t1", "-c20", `-d${seconds}s`, "-H", `Host: ${host}`, "-H", `Berth-Key: ${key}`, "-H", `Berth-Secret: ${secret}`, `http://127.0.0.1:${port}/`];
  return new Promise((resolveRun, reject) =>
    execFile("/usr/bin/wrk", args, (error, stdout) => {
      if (error) return reject(error);
      resolveRun({
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0),
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0),
      });
    }),
  );
}

/** Runs the flood in a child process (its CPU is not this process's); resolves with its answers by status. */
function floodClient(port: number, host: string, seconds: number): Promise<Record<string, number>> {
  return new Promise((resolveFlood, reject) =>
    execFile(process.execPath, ["--import", "tsx", import.meta.filename, "flood-client", String(port), host, String(seconds)], (error, stdout) =>
      error ? reject(error) : resolveFlood(JSON.parse(stdout) as Record<string, number>),
    ),
  );
}

/** The attacker: 50 keep-alive connections from 127.0.0.2, each sending a new made-up key as soon as the last answer came. */
async function floodClientMain(port: number, host: string, seconds: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 50, localAddress: "127.0.0.2" });
  const statuses: Record<string, number> = {};
  const end = Date.now() + seconds * 1000;
  let n = 0;
  const one = () =>
    new Promise<void>((done) => {
      n += 1;
      const key = `wk-${n.toString(16).padStart(16, "0")}`;
      const req = httpRequest({ host: "127.0.0.1", port, path: "/", agent, headers: { host, "berth-key": key, "berth-secret": "ws-guess" } }, (res) => {
        statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
        res.resume();
        res.on("end", () => done());
      });
      req.on("error", () => {
        statuses.error = (statuses.error ?? 0) + 1;
        done();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (Date.now() < end) await one();
    }),
  );
  agent.destroy();
  process.stdout.write(JSON.stringify(statuses));
}

async function params(): Promise<void> {
  const p = await platform({ maxContainers: 16 });
  try {
    const port = p.server.port;
    const before = treeRss(process.pid);
    let peak = { live: 0, rss: before };
    const sampler = setInterval(() => {
      peak = { live: Math.max(peak.live, containers(p).live), rss: Math.max(peak.rss, treeRss(process.pid)) };
    }, 100);
    const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => get(port, p.hosts.param!, `/?v=attack-${i}`)));
    await sleep(3000);
    clearInterval(sampler);
    const counts = Object.entries(countOf(statuses)).map(([s, n]) => `${s}×${n}`).join(" ");
    printTable(
      `40 concurrent GETs with new parameter values, maxContainers 16 (load ${loadavg().map((l) => l.toFixed(2)).join(" ")})`,
      ["answers", "containers started", "alive at once (peak)", "alive 3 s later", "RSS before MiB", "peak MiB"],
      [[counts, containers(p).coldStarts, peak.live, containers(p).live, before / MIB, peak.rss / MIB]],
    );
  } finally {
    await p.close();
  }
}

async function trickle(): Promise<void> {
  const p = await platform({ maxContainers: 16 });
  try {
    const port = p.server.port;
    const host = p.hosts.upload!;
    const before = treeRss(process.pid);
    const answers: string[] = [];
    const sockets = Array.from({ length: 25 }, (_, i) => {
      const socket = connect(port, "127.0.0.1");
      let text = "";
      socket.on("data", (d) => (text += d.toString("latin1")));
      socket.on("error", () => {});
      socket.on("close", () => answers.push(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? "closed"));
      socket.write(`POST /t${i} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1000\r\n\r\n`);
      const drip = setInterval(() => socket.writable && socket.write("x"), 3000);
      socket.on("close", () => clearInterval(drip));
      return { socket, drip };
    });
    const samples: (string | number)[][] = [];
    let peak = 0;
    for (let t = 0; t <= 75; t += 1) {
      const { live } = containers(p);
      peak = Math.max(peak, live);
      if (t % 15 === 0) samples.push([`${t} s`, live, treeRss(process.pid) / MIB, answers.length, Object.entries(countOf(answers)).map(([s, n]) => `${s}×${n}`).join(" ") || "-"]);
      await sleep(1000);
    }
    for (const { socket, drip } of sockets) {
      clearInterval(drip);
      socket.destroy();
    }
    printTable(
      `25 connections trickling one body byte every 3 s, maxContainers 16; containers started ${containers(p).coldStarts}, peak alive ${peak}, RSS before ${(before / MIB).toFixed(0)} MiB (load ${loadavg().map((l) => l.toFixed(2)).join(" ")})`,
      ["time", "containers alive", "RSS MiB", "tricklers answered", "answers"],
      samples,
    );
  } finally {
    await p.close();
  }
}

function get(port: number, host: string, path: string): Promise<number> {
  return new Promise((resolveGet) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolveGet(res.statusCode ?? 0));
    });
    req.on("error", () => resolveGet(0));
    req.end();
  });
}

function countOf(values: (string | number)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}

const [what = "all", ...rest] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
if (what === "flood-client") {
  await floodClientMain(Number(rest[0]), rest[1]!, Number(rest[2]));
} else {
  if (what === "upload" || what === "all") await upload();
  if (what === "flood" || what === "all") await flood();
  if (what === "params" || what === "all") await params();
  if (what === "trickle" || what === "all") await trickle();
  process.exit(0);
}
