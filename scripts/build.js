// Compiles src/ to dist/ (one file per module, no bundling) so that the CLI,
// the gateway and above all the container agent start without a TypeScript
// loader: the agent's start-up time is part of every cold start.
import { build } from "esbuild";
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return (path.endsWith(".ts") || path.endsWith(".tsx")) && !path.endsWith(".d.ts") ? [path] : [];
  });
}

rmSync("dist", { recursive: true, force: true });
await build({
  entryPoints: sources("src"),
  outdir: "dist",
  outbase: "src",
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
});
