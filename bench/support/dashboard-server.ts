/**
 * A `berth server`-like platform in its own process, for benchmarks that
 * measure its CPU from outside: API tokens required, no rate limit (the
 * load is the point), `apps` copies of the hello bench app deployed.
 * Prints one JSON line (url, admin token, host of the first app's `hello`),
 * then runs until its standard input closes.
 *
 *   node --import tsx bench/support/dashboard-server.ts [apps=1]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundleApp } from "../../src/bundler/bundle.js";
import { ApiClient } from "../../src/cli/client.js";
import { startServer } from "./compiled.js";

const apps = Number(process.argv[2] ?? 1);
const home = mkdtempSync(join(tmpdir(), "berth-bench-"));
const server = await startServer({ home, port: 0, workspace: "bench", requireAuth: true, rateLimit: null, warmAgents: 1 });
const client = new ApiClient(server.url, undefined, server.bootstrapToken);
const bundle = await bundleApp(resolve(import.meta.dirname, "..", "apps", "hello.ts"));
await client.uploadBlob(bundle.hash, bundle.code);
let host = "";
for (let i = 0; i < apps; i += 1) {
  const name = i === 0 ? "bench" : `bench-${String(i).padStart(2, "0")}`;
  const result = await client.deploy({ bundleHash: bundle.hash, manifest: { ...bundle.manifest, name }, ephemeral: false }, () => {});
  if (i === 0) host = new URL(result.functions.find((fn) => fn.name === "hello")!.url).host;
}
process.stdout.write(`${JSON.stringify({ url: server.url, token: server.bootstrapToken, host, pid: process.pid })}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  void server.close().then(() => {
    rmSync(home, { recursive: true, force: true });
    process.exit(0);
  });
});
