/**
 * What each image step does inside the build sandbox, as pure data: the
 * shell script and its arguments (user input only ever travels as `"$@"`
 * arguments, never spliced into the script), the files it needs, and what it
 * changes in the image's configuration. Layer keys are derived here too.
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import type { ImageStep } from "../sdk/contract.js";

/** The configuration an image carries besides its files (the OCI image config's Env and WorkingDir). */
export interface ImageConfig {
  env: Record<string, string>;
  /** Absolute path: where the container (and later build steps) start. */
  workdir: string;
  /** OCI labels: the base and the Node.js version. */
  labels: Record<string, string>;
}

/** Where npmInstall puts packages: the bundle is mounted at /berth/app/app.mjs, so ESM resolution finds /berth/node_modules. */
export const NPM_PREFIX = "/berth";
/** Inside a build sandbox, a `copy` step's archive (on the sandbox's tmpfs, so never part of a layer). */
export const BUILD_INPUT = "/tmp/berth-input.tar";

export interface StepPlan {
  /** Shown in build progress and `image list`: `aptInstall python3`. */
  description: string;
  /** The step as a person would type it: shown when it fails. */
  display: string;
  /** Runs in the build sandbox (`sh -c script sh ...args`); absent for configuration-only steps. */
  script?: string;
  args: string[];
  /** A blob (by hash) the step reads at BUILD_INPUT. */
  input?: string;
  /** The image configuration after the step. */
  config: ImageConfig;
}

export function planStep(step: ImageStep, config: ImageConfig): StepPlan {
  switch (step.kind) {
    case "apt":
      return {
        description: `aptInstall ${step.packages.join(" ")}`,
        display: `apt-get update && apt-get install -y --no-install-recommends ${step.packages.join(" ")}`,
        script:
          "set -e; apt-get update -q --error-on=any; apt-get install -y -q --no-install-recommends -- \"$@\"; apt-get clean; rm -rf /var/lib/apt/lists/*",
        args: step.packages,
        config,
      };
    case "npm":
      return {
        description: `npmInstall ${step.packages.join(" ")}`,
        display: `cd ${NPM_PREFIX} && npm install --omit=dev ${step.packages.join(" ")}`,
        script: `set -e; cd ${NPM_PREFIX}; npm install --no-audit --no-fund --omit=dev -- "$@"`,
        args: step.packages,
        config,
      };
    case "run":
      return {
        description: `runCommands ${step.commands.join(" && ")}`,
        display: step.commands.join(" && "),
        // Each command is echoed first, so a failure's output tail shows which one failed.
        script: 'for command in "$@"; do printf "+ %s\\n" "$command"; sh -c "$command" || exit $?; done',
        args: step.commands,
        config,
      };
    case "env":
      return {
        description: `env ${Object.keys(step.vars).join(" ")}`,
        display: `env ${Object.keys(step.vars).join(" ")}`,
        args: [],
        config: { ...config, env: { ...config.env, ...step.vars } },
      };
    case "workdir": {
      const path = posix.resolve(config.workdir, step.path);
      return { description: `workdir ${path}`, display: `mkdir -p ${path}`, script: 'mkdir -p -- "$1"', args: [path], config: { ...config, workdir: path } };
    }
    case "copy":
      return {
        description: `${step.directory ? "addLocalDir" : "addLocalFile"} ${step.target}`,
        display: `tar -x -C ${step.directory ? step.target : posix.dirname(step.target)} (the uploaded ${step.directory ? "directory" : "file"})`,
        // A directory's archive holds its contents; a file's holds one entry named like the target.
        script: step.directory
          ? `set -e; mkdir -p -- "$1"; tar -xf ${BUILD_INPUT} --no-same-owner -C "$1"`
          : `set -e; mkdir -p -- "$(dirname -- "$1")"; tar -xf ${BUILD_INPUT} --no-same-owner -C "$(dirname -- "$1")"`,
        args: [step.target],
        input: step.blob,
        config,
      };
    case "local":
      throw new Error(`addLocal${step.directory ? "Dir" : "File"}(${step.source}) reached the image builder without being uploaded`);
  }
}

/** A layer's key: what it was built from, so the same (parent, step) is the same layer. */
export function layerKey(parent: string | null, step: unknown): string {
  return createHash("sha256").update(JSON.stringify({ parent, step })).digest("hex");
}
