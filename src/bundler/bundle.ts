/**
 * Bundles a user's app with esbuild into one ES module and reads its
 * manifest. Two passes: a probe bundle is imported (in a child process) to
 * learn the functions and their images; the final bundle then leaves the
 * images' npm packages external, to be resolved from the image at run time.
 * The SDK (`berthjs`, and `berthjs/client` if the app calls other
 * functions) is always bundled in, at the platform's own version.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { build, type BuildFailure, type Message, type Plugin } from "esbuild";
import { BerthError } from "../errors/codes.js";
import { CLIENT_ENTRY, DESCRIBE_MAIN, PACKAGE_NAME, SDK_ENTRY } from "../paths.js";
import type { AppManifest } from "../sdk/contract.js";
import type { DescribeResult } from "./describe.js";


export interface BundleResult {
  code: Uint8Array;
  /** SHA-256 of `code`. */
  hash: string;
  manifest: AppManifest;
  /** Absolute paths of the local files the app imports (what `serve` watches). */
  inputs: string[];
}

/** A problem in the user's code, worded for them (`build_failed`); `serve` prints it and keeps the last good version. */
function codeProblem(message: string): BerthError {
  return new BerthError("build_failed", message);
}

export async function bundleApp(entry: string): Promise<BundleResult> {
  const entryPath = resolve(entry);
  const probe = await esbuildPass(entryPath, [], "stub");
  const manifest = await describe(probe.code, dirname(entryPath));
  const final = await esbuildPass(entryPath, imagePackages(manifest), "external", true);
  return {
    code: final.code,
    hash: createHash("sha256").update(final.code).digest("hex"),
    manifest,
    inputs: probe.inputs,
  };
}

/** `hono@4` → `hono`, `@hono/node-server@^1` → `@hono/node-server`. */
export function packageName(spec: string): string {
  const at = spec.indexOf("@", spec.startsWith("@") ? 1 : 0);
  return at === -1 ? spec : spec.slice(0, at);
}

function imagePackages(manifest: AppManifest): string[] {
  const names = new Set<string>();
  for (const fn of manifest.functions) {
    for (const step of fn.image.steps) if (step.kind === "npm") for (const spec of step.packages) names.add(packageName(spec));
  }
  return [...names].flatMap((name) => [name, `${name}/*`]);
}

/** The app's `berthjs` and `berthjs/client` imports are this platform's own copy, whatever the app has installed. */
const ownPackage: Plugin = {
  name: "berth-own-package",
  setup(pluginBuild) {
    const entries: Record<string, string> = { [PACKAGE_NAME]: SDK_ENTRY, [`${PACKAGE_NAME}/client`]: CLIENT_ENTRY };
    pluginBuild.onResolve({ filter: new RegExp(`^${PACKAGE_NAME}(/client)?$`) }, (args) => ({ path: entries[args.path]! }));
  },
};

/**
 * Bare imports that cannot be resolved here may exist only in the image.
 * In the final bundle they stay external (resolved in the container); in the
 * probe, which only needs the app's shape, they become a stub that answers
 * any use with itself, so top-level code like `new Hono()` still runs.
 */
function unresolvedImports(mode: "stub" | "external"): Plugin {
  return {
    name: "berth-unresolved",
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData?.berthProbe || args.path.startsWith("node:")) return undefined;
        const result = await pluginBuild.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: { berthProbe: true },
        });
        if (result.errors.length === 0) return undefined;
        // Not an image-only package: the SDK under the name it is not published as, which would otherwise become a
        // stub and fail at import with "App is not a constructor".
        if (/^berth(\/|$)/.test(args.path)) {
          return { errors: [{ text: `There is no package "${args.path}": berth's SDK is "berthjs" (import { App } from "berthjs")` }] };
        }
        return mode === "external" ? { path: args.path, external: true } : { path: args.path, namespace: "berth-stub" };
      });
      pluginBuild.onLoad({ filter: /.*/, namespace: "berth-stub" }, () => ({
        loader: "js",
        contents:
          "const stub = new Proxy(function () {}, { get: (_t, key) => (key === '__esModule' ? false : key === Symbol.toPrimitive ? () => '' : stub), apply: () => stub, construct: () => stub });\nmodule.exports = stub;",
      }));
    },
  };
}

async function esbuildPass(
  entryPath: string,
  external: string[],
  unresolved: "stub" | "external",
  sourceMap = false,
): Promise<{ code: Uint8Array; inputs: string[] }> {
  try {
    const result = await build({
      entryPoints: [entryPath],
      bundle: true,
      write: false,
      format: "esm",
      platform: "node",
      target: "node20",
      metafile: true,
      // Inline, so the map travels inside the bundle; without the sources' text (only positions are needed), and with
      // source paths relative to the working directory, as the user names their files. The agent reads it only to
      // format a stack (agent/stack-traces.ts).
      sourcemap: sourceMap ? "inline" : false,
      sourcesContent: false,
      logLevel: "silent",
      external,
      plugins: [ownPackage, unresolvedImports(unresolved)],
      // CommonJS packages bundled into ESM still call require() for Node built-ins.
      banner: { js: 'import { createRequire as __berthCreateRequire } from "node:module"; const require = __berthCreateRequire(import.meta.url);' },
    });
    const inputs = Object.keys(result.metafile.inputs)
      .filter((path) => !path.includes("node_modules") && !path.startsWith("<"))
      .map((path) => resolve(path));
    return { code: result.outputFiles[0]!.contents, inputs };
  } catch (error) {
    const failure = error as BuildFailure;
    if (Array.isArray(failure.errors)) throw codeProblem(failure.errors.map(formatMessage).join("\n"));
    throw error;
  }
}

function formatMessage(message: Message): string {
  const where = message.location ? `${message.location.file}:${message.location.line}:${message.location.column + 1}: ` : "";
  const line = message.location?.lineText ? `\n    ${message.location.lineText}` : "";
  return `${where}error: ${message.text}${line}`;
}

async function describe(code: Uint8Array, appDir: string): Promise<AppManifest> {
  const dir = mkdtempSync(join(tmpdir(), "berth-probe-"));
  const file = join(dir, "probe.mjs");
  try {
    writeFileSync(file, code);
    const stdout = await new Promise<string>((resolveOutput, reject) => {
      execFile(process.execPath, [DESCRIBE_MAIN, file, appDir], { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, out, err) => {
        if (error && !out) reject(codeProblem(`importing the app failed: ${err.trim() || error.message}`));
        else resolveOutput(out);
      });
    });
    const last = stdout.trim().split("\n").pop() ?? "";
    let result: DescribeResult;
    try {
      result = JSON.parse(last) as DescribeResult;
    } catch {
      throw codeProblem(`importing the app failed: unexpected output ${JSON.stringify(last.slice(0, 200))}`);
    }
    if (!result.ok) throw codeProblem(result.error);
    return result.manifest;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
