/**
 * Shared plumbing of the benchmarks: a platform with the bench app (rate
 * limit off: a benchmark measures the path, not the limiter), helper
 * servers in their own processes (the bare baseline, the undici reference
 * proxy), and the closed-loop load generator.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundleApp } from "../../src/bundler/bundle.js";
import { ApiClient } from "../../src/cli/client.js";
import type { RuntimeName } from "../../src/server/runtime.js";
import type { RunningServer } from "../../src/server/start.js";
import { startServer } from "./compiled.js";
import type { LoadResult } from "./load.js";
import { hasWrk, runWrk } from "./wrk.js";

const ROOT = resolve(import.meta.dirname, "..", "..");

export interface BenchPlatform {
  server: RunningServer;
  /** Host header of each function of the bench app, by name. */
  hosts: Record<string, string>;
  close(): Promise<void>;
}

/** The image store the sandbox benchmarks use: the tests' (BERTH_IMAGE_CACHE to change it), so the Debian base is built once per machine. */
export const BENCH_IMAGE_CACHE = process.env.BERTH_IMAGE_CACHE ?? join(tmpdir(), "berth-test-images");

export async function benchPlatform(warmAgents = 2, runtime: RuntimeName = "process"): Promise<BenchPlatform> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-"));
  const server = await startServer({
    home,
    port: 0,
    workspace: "bench",
    warmAgents,
    runtime,
    rateLimit: null,
    ephemeralState: true,
    onLog: () => {},
    imageCache: BENCH_IMAGE_CACHE,
    buildCaFile: process.env.BERTH_BUILD_CA_FILE || process.env.NODE_EXTRA_CA_CERTS || undefined,
  });
  const client = new ApiClient(server.url, undefined, server.sessionToken);
  const bundle = await bundleApp(join(ROOT, "bench", "apps", "hello.ts"));
  await client.uploadBlob(bundle.hash, bundle.code);
  const result = await client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {});
  const hosts = Object.fromEntries(result.functions.map((fn) => [fn.name, new URL(fn.url).host]));
  return {
    server,
    hosts,
    async close() {
      await server.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export interface HelperProcess {
  port: number;
  child: ChildProcess;
  stop(): void;
}

/** Starts a bench/support script in its own process; it prints its port once listening. */
export async function startHelper(script: string, args: string[] = []): Promise<HelperProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench", "support", script), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolvePort, reject) => {
    child.stdout!.once("data", (data) => resolvePort(Number(String(data).trim())));
    child.once("exit", (code) => reject(new Error(`${script} exited ${code}`)));
  });
  return { port, child, stop: () => child.kill() };
}

/** The bare node:http baseline with the shared hello handler. */
export function startBare(): Promise<HelperProcess> {
  return startHelper("bare-server.ts");
}

/** Names the load generator runLoad uses, for table titles. */
export const LOAD_GENERATOR = hasWrk() ? "wrk -t1" : "node load generator (install wrk for less noise)";

/** Closed-loop load from a separate process: wrk when installed (wrk.ts), else the node generator (load.ts). */
export function runLoad(port: number, host: string, connections: number, seconds: number, headers: Record<string, string> = {}): Promise<LoadResult> {
  if (hasWrk()) return runWrk(port, host, connections, seconds, headers);
  return new Promise((resolveResult, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "bench", "support", "load.ts"), `http://127.0.0.1:${port}`, host, String(connections), String(seconds), JSON.stringify(headers)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (data) => (out += data));
    child.once("exit", (code) => (code === 0 ? resolveResult(JSON.parse(out) as LoadResult) : reject(new Error(`load generator exited ${code}`))));
  });
}

/** User + system CPU time of a process in microseconds, from /proc (Linux; clock ticks of 10 ms). */
export function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
