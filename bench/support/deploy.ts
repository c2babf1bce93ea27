/**
 * Starts a throwaway berth platform in this process and deploys any one
 * bench app to it through the real bundler and control API (run.ts's
 * `benchPlatform` always deploys bench/apps/hello.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleApp } from "../../src/bundler/bundle.js";
import { ApiClient } from "../../src/cli/client.js";
import type { RunningServer } from "../../src/server/start.js";
import { startServer } from "./compiled.js";

export interface BenchPlatform {
  server: RunningServer;
  /** The gateway's port on 127.0.0.1 and the Host header of the deployed function. */
  port: number;
  host: string;
  close(): Promise<void>;
}

export async function deployBench(file: string, functionName: string): Promise<BenchPlatform> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-"));
  const server = await startServer({ home, port: 0, workspace: "bench", warmAgents: 1, ephemeralState: true, rateLimit: null, onLog: () => {} });
  const client = new ApiClient(server.url, undefined, server.sessionToken);
  const bundle = await bundleApp(file);
  await client.uploadBlob(bundle.hash, bundle.code);
  const result = await client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: true }, () => {});
  const url = new URL(result.functions.find((fn) => fn.name === functionName)!.url);
  return {
    server,
    port: server.port,
    host: url.host,
    async close() {
      await server.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
