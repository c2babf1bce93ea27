/**
 * Locations of berth's own compiled entry points. Child processes (the
 * agent, the manifest reader) and the SDK bundled into user code always come
 * from `dist/`, whether the caller runs compiled or from source under tsx.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "bin", "berth.js"))) return dir;
    if (dirname(dir) === dir) throw new Error("berth: cannot find its package root");
  }
}

export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
const DIST = join(PACKAGE_ROOT, "dist");

/** The agent bundled into one file (scripts/build.js): what every container runs. */
export const AGENT_BUNDLE = join(DIST, "agent.mjs");
export const DESCRIBE_MAIN = join(DIST, "bundler", "describe.js");
export const TYPECHECK_WORKER = join(DIST, "bundler", "typecheck-worker.js");
export const SDK_ENTRY = join(DIST, "sdk", "index.js");
export const CLIENT_ENTRY = join(DIST, "client", "index.js");

/** The npm package name, which is also the SDK's import path (`import { App } from "berthjs"`). */
export const PACKAGE_NAME = "berthjs";
/** The dashboard's browser script (src/dashboard/client.ts, compiled by the build). */
export const DASHBOARD_CLIENT = join(DIST, "dashboard", "client.js");
