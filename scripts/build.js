// Compiles src/ to dist/ (one file per module, no bundling) so that the CLI
// and the gateway start without a TypeScript loader, and bundles the
// container agent into one self-contained file, dist/agent.mjs: a sandbox
// mounts that single file (nothing else of berth is inside a container), and
// one file is also the quickest to load, which every cold start pays for.
// Then writes the published types (.d.ts of the SDK and the client) with tsc.
//
// Everything is written to dist.next/ and swapped in at the end: processes
// that start while a build runs (a server, a test, an `npm install` that
// links this checkout and runs its `prepare`) find the previous dist/
// whole, never a half-written one.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { build } from "esbuild";
import { readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return (path.endsWith(".ts") || path.endsWith(".tsx")) && !path.endsWith(".d.ts") ? [path] : [];
  });
}

const NEXT = "dist.next";
const OLD = "dist.old";
rmSync(NEXT, { recursive: true, force: true });
await build({
  entryPoints: sources("src"),
  outdir: NEXT,
  outbase: "src",
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
});
await build({
  entryPoints: ["src/agent/main.ts"],
  outfile: join(NEXT, "agent.mjs"),
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  logLevel: "warning",
});

execFileSync(process.execPath, [createRequire(import.meta.url).resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", NEXT], { stdio: "inherit" });

rmSync(OLD, { recursive: true, force: true });
try {
  renameSync("dist", OLD);
} catch (error) {
  if (error.code !== "ENOENT") throw error;
}
renameSync(NEXT, "dist");
rmSync(OLD, { recursive: true, force: true });
