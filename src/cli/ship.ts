/**
 * The shared path of `serve` and `deploy`: bundle, type-check, upload,
 * deploy, with a progress line for each long step. The type check runs in
 * a worker beside the bundling: `block` waits for it before deploying,
 * `warn` deploys at once and hands back the check's report to come.
 */
import { statSync } from "node:fs";
import { basename, resolve } from "node:path";
import { bundleApp, type BundleResult } from "../bundler/bundle.js";
import type { BackgroundTypeCheck, TypeReport, TypecheckMode } from "../bundler/background-check.js";
import { BerthError, messageOf } from "../errors/codes.js";
import type { DeployResult } from "../wire/control-api.js";
import type { ApiClient } from "./client.js";
import { dim, status } from "./output.js";
import { uploadLocalFiles } from "./local-files.js";

export interface ShipOptions {
  entry: string;
  ephemeral: boolean;
  /** What type errors do; with `off` no checker is needed. */
  typecheck: TypecheckMode;
  checker?: BackgroundTypeCheck | undefined;
}

export interface Shipped {
  bundle: BundleResult;
  result: DeployResult;
  /** With `warn`: the check of exactly what was shipped, still running (undefined with `off`; settled with `block`). */
  types?: Promise<TypeReport> | undefined;
}

/**
 * Bundles, checks and deploys. A problem with the user's code (bundling,
 * types with `block`, import) is a `build_failed` error, which `serve`
 * shows while it keeps serving the last good version.
 */
export async function ship(client: ApiClient, options: ShipOptions): Promise<Shipped> {
  const started = Date.now();
  status(dim(`Bundling ${basename(options.entry)}...`));
  const types = options.typecheck === "off" ? undefined : options.checker?.check();
  // Observed at once, so a failed check never counts as unhandled while the bundle is being built.
  types?.catch(() => {});
  const bundle = await bundleApp(options.entry);
  status(dim(`Bundled ${bundle.manifest.functions.length} function(s), ${(bundle.code.byteLength / 1024).toFixed(1)} KiB in ${Date.now() - started} ms`));
  if (types && options.typecheck === "block") {
    const report = await types.catch((error: unknown) => {
      throw new BerthError("build_failed", `the type check failed: ${messageOf(error)}`);
    });
    if (report.errors) throw new BerthError("build_failed", `type errors:\n${report.errors.trimEnd()}`);
  }
  await client.uploadBlob(bundle.hash, bundle.code);
  const manifest = await uploadLocalFiles(client, bundle.manifest);
  const result = await client.deploy(
    { bundleHash: bundle.hash, manifest, ephemeral: options.ephemeral },
    (message) => status(dim(message)),
  );
  return { bundle, result, types };
}

/** The app file's absolute path; a file that is not there fails at once, in one line. */
export function appFile(file: string): string {
  const entry = resolve(file);
  let isFile = false;
  try {
    isFile = statSync(entry).isFile();
  } catch {}
  if (!isFile) throw new BerthError("not_found", `${file}: no such file (give the app's TypeScript file, e.g. berth serve app.ts)`);
  return entry;
}

/** `--typecheck <mode>` (or `--no-typecheck`, which commander reads as `false`), checked. */
export function typecheckMode(flag: string | boolean | undefined, fallback: TypecheckMode): TypecheckMode {
  if (flag === false) return "off";
  if (flag === undefined || flag === true) return fallback;
  if (flag === "off" || flag === "warn" || flag === "block") return flag;
  throw new BerthError("invalid_input", `--typecheck takes off, warn or block, not "${flag}"`);
}
