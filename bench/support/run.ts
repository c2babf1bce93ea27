/** Shared plumbing of the benchmarks: a platform with the bench app, the baseline server, the load generator. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundleApp } from "../../src/bundler/bundle.js";
import { ApiClient } from "../../src/cli/client.js";
import { startServer, type RunningServer } from "../../src/server/start.js";
import { BASELINE_SERVER } from "./baseline.js";
import type { LoadResult } from "./load.js";
import { hasWrk, runWrk } from "./wrk.js";

const ROOT = resolve(import.meta.dirname, "..", "..");

export interface BenchPlatform {
  server: RunningServer;
  /** Host header of each function of the bench app, by name. */
  hosts: Record<string, string>;
  close(): Promise<void>;
}

export async function benchPlatform(warmAgents = 2): Promise<BenchPlatform> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-"));
  const server = await startServer({ home, port: 0, workspace: "bench", warmAgents });
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

export async function startBaseline(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ["-e", BASELINE_SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolvePort) => child.stdout!.once("data", (data) => resolvePort(Number(String(data).trim()))));
  return { port, child };
}

/** Names the load generator runLoad uses, for table titles. */
export const LOAD_GENERATOR = hasWrk() ? "wrk -t1" : "node load generator (install wrk for less noise)";

/** Closed-loop load from a separate process: wrk when installed (wrk.ts), else the node generator (load.ts). */
export function runLoad(port: number, host: string, connections: number, seconds: number): Promise<LoadResult> {
  if (hasWrk()) return runWrk(port, host, connections, seconds);
  return new Promise((resolveResult, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "bench", "support", "load.ts"), `http://127.0.0.1:${port}`, host, String(connections), String(seconds)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (data) => (out += data));
    child.once("exit", (code) => (code === 0 ? resolveResult(JSON.parse(out) as LoadResult) : reject(new Error(`load generator exited ${code}`))));
  });
}
