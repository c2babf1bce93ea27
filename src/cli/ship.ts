/**
 * The shared path of `serve` and `deploy`: bundle, type-check, upload,
 * deploy, with a progress line for each long step.
 */
import { basename } from "node:path";
import { bundleApp, type BundleResult } from "../bundler/bundle.js";
import type { TypeChecker } from "../bundler/typecheck.js";
import { BerthError } from "../errors/codes.js";
import type { DeployResult } from "../wire/control-api.js";
import type { ApiClient } from "./client.js";
import { dim, status } from "./output.js";
import { uploadLocalFiles } from "./local-files.js";

export interface ShipOptions {
  entry: string;
  ephemeral: boolean;
  /** Absent with --no-typecheck. */
  checker?: TypeChecker;
}

export interface Shipped {
  bundle: BundleResult;
  result: DeployResult;
}

/**
 * Bundles, checks and deploys. A problem with the user's code (bundling,
 * types, import) is a `build_failed` error, which `serve` shows while it
 * keeps serving the last good version.
 */
export async function ship(client: ApiClient, options: ShipOptions): Promise<Shipped> {
  const started = Date.now();
  status(dim(`Bundling ${basename(options.entry)}...`));
  const bundle = await bundleApp(options.entry);
  if (options.checker) {
    const errors = options.checker.check();
    if (errors) throw new BerthError("build_failed", `type errors:\n${errors.trimEnd()}`);
  }
  status(dim(`Bundled ${bundle.manifest.functions.length} function(s), ${(bundle.code.byteLength / 1024).toFixed(1)} KiB in ${Date.now() - started} ms`));
  await client.uploadBlob(bundle.hash, bundle.code);
  const manifest = await uploadLocalFiles(client, bundle.manifest);
  const result = await client.deploy(
    { bundleHash: bundle.hash, manifest, ephemeral: options.ephemeral },
    (message) => status(dim(message)),
  );
  return { bundle, result };
}
