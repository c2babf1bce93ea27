/**
 * Test support: a real berth platform on a free loopback port with a
 * throwaway home, deployed to through the real bundler and control API, and
 * an HTTP client that resolves `*.localhost` to 127.0.0.1 (Node's resolver
 * does not, unlike curl and browsers). Every platform is closed after its
 * test, even a failing one.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestContext } from "node:test";
import { Agent, fetch as undiciFetch, type RequestInit, type Response } from "undici";
import { bundleApp } from "../../src/bundler/bundle.js";
import { ApiClient } from "../../src/cli/client.js";
import { uploadLocalFiles } from "../../src/cli/local-files.js";
import type { DeployResult } from "../../src/wire/control-api.js";
import { startServer, type RunningServer, type ServerOptions } from "../../src/server/start.js";

export const REPO = resolve(import.meta.dirname, "..", "..");

/** Resolves every host to loopback: tests only ever talk to this machine. */
export const loopback = new Agent({
  connect: {
    lookup: (_hostname: string, options: unknown, callback: unknown) => {
      const cb = (typeof options === "function" ? options : callback) as (...args: unknown[]) => void;
      const all = typeof options === "object" && options !== null && (options as { all?: boolean }).all;
      if (all) cb(null, [{ address: "127.0.0.1", family: 4 }]);
      else cb(null, "127.0.0.1", 4);
    },
  },
});

export function request(url: string, init: RequestInit = {}): Promise<Response> {
  return undiciFetch(url, { ...init, dispatcher: loopback, redirect: "manual" });
}

export interface TestPlatform {
  server: RunningServer;
  client: ApiClient;
  /** The token the client carries (the bootstrap admin token, or the embedded platform's session token). */
  token: string;
  /** `Authorization: Bearer <token>`, for raw requests to the control API. */
  auth: Record<string, string>;
  home: string;
  /** Bundles and deploys an app file (relative to the repo); returns the deploy result. */
  deploy(file: string, options?: { ephemeral?: boolean; progress?: (line: string) => void; client?: ApiClient }): Promise<DeployResult>;
  /** URL of a function in the last deploy of its app. */
  url(result: DeployResult, functionName: string): string;
}

/** `requireAuth: true` starts a platform like `berth server`: the client then carries the bootstrap admin token. */
export async function startPlatform(t: TestContext, options: Partial<ServerOptions> = {}): Promise<TestPlatform> {
  const home = options.home ?? mkdtempSync(join(tmpdir(), "berth-test-"));
  const server = await startServer({ home, port: 0, workspace: "test", warmAgents: 1, ...options });
  t.after(async () => {
    await server.close();
    if (!options.home) rmSync(home, { recursive: true, force: true });
  });
  const token = server.bootstrapToken ?? server.sessionToken ?? "";
  const client = new ApiClient(server.url, undefined, token);
  return {
    server,
    client,
    token,
    auth: { authorization: `Bearer ${token}` },
    home,
    async deploy(file, { ephemeral = false, progress = () => {}, client: as = client } = {}) {
      const bundle = await bundleApp(resolve(REPO, file));
      await as.uploadBlob(bundle.hash, bundle.code);
      const manifest = await uploadLocalFiles(as, bundle.manifest);
      return as.deploy({ bundleHash: bundle.hash, manifest, ephemeral }, progress);
    },
    url(result, functionName) {
      const fn = result.functions.find((f) => f.name === functionName);
      if (!fn) throw new Error(`no function ${functionName} in ${result.functions.map((f) => f.name).join(", ")}`);
      return fn.url;
    },
  };
}

/** Writes a temporary app file (in the repo, so `berth` and zod resolve) and removes it after the test. */
export function tempApp(t: TestContext, name: string, source: string): string {
  const dir = mkdtempSync(join(REPO, "test", ".tmp-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}
