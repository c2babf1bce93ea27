/**
 * The image builder: turns an `ImageSpec` into a directory that containers
 * run in. Images are content-addressed by the hash of their spec, so the same
 * spec is built once and shared by every app that names it; a build happens
 * in a temporary directory that is renamed into place only when complete.
 *
 * For the `process` runtime an image is its npm packages (in `node_modules`),
 * the files its commands made, and its environment variables; the base's
 * operating system is the host's.
 *
 * A build's commands carry the platform's mark and die with it (lifetime/),
 * and its temporary folder is named after the run, so a server killed
 * mid-build leaves neither a running `npm install` nor a half-built folder
 * to the next one.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { BerthError } from "../errors/codes.js";
import { storageFull } from "../errors/storage.js";
import { diesWithParent } from "../lifetime/processes.js";
import { tempPath } from "../lifetime/run.js";
import type { ImageSpec } from "../sdk/contract.js";

export interface BuiltImage {
  hash: string;
  /** The image's directory; `node_modules` in it holds its npm packages. */
  dir: string;
  /** Environment variables the image sets. */
  env: Record<string, string>;
}

export type BuildProgress = (line: string) => void;

const MARKER = ".berth-image.json";

export function imageHash(spec: ImageSpec): string {
  return createHash("sha256").update(JSON.stringify(spec)).digest("hex");
}

export class ImageBuilder {
  private readonly building = new Map<string, Promise<BuiltImage>>();

  /** `mark`: the environment variable that marks a build's processes as the platform's (`RunScope.env`). */
  constructor(
    private readonly root: string,
    private readonly mark: () => Record<string, string> = () => ({}),
  ) {
    mkdirSync(root, { recursive: true });
  }

  /** Builds the image or returns the cached one. */
  build(spec: ImageSpec, progress: BuildProgress): Promise<BuiltImage> {
    const hash = imageHash(spec);
    const dir = join(this.root, hash);
    if (existsSync(join(dir, MARKER))) {
      return Promise.resolve({ hash, dir, env: JSON.parse(readFileSync(join(dir, MARKER), "utf8")).env });
    }
    let pending = this.building.get(hash);
    if (!pending) {
      pending = this.buildFresh(spec, hash, dir, progress).finally(() => this.building.delete(hash));
      this.building.set(hash, pending);
    }
    return pending;
  }

  private async buildFresh(spec: ImageSpec, hash: string, dir: string, progress: BuildProgress): Promise<BuiltImage> {
    const work = tempPath(dir);
    const env: Record<string, string> = {};
    try {
      mkdirSync(work, { recursive: true });
      writeFileSync(join(work, "package.json"), JSON.stringify({ name: "berth-image", private: true, type: "module" }, null, 2));
      progress(`building image ${hash.slice(0, 12)} (${spec.steps.length} step${spec.steps.length === 1 ? "" : "s"})`);
      for (const [index, step] of spec.steps.entries()) {
        const label = `step ${index + 1}/${spec.steps.length}`;
        if (step.kind === "npm") {
          progress(`${label}: npm install ${step.packages.join(" ")}`);
          await this.run("npm", ["install", "--no-audit", "--no-fund", "--omit=dev", "--", ...step.packages], work, env, progress);
        } else if (step.kind === "run") {
          for (const command of step.commands) {
            progress(`${label}: ${command}`);
            await this.run("sh", ["-c", command], work, env, progress);
          }
        } else {
          Object.assign(env, step.vars);
        }
      }
      writeFileSync(join(work, MARKER), JSON.stringify({ spec, env }));
      if (existsSync(join(dir, MARKER))) {
        rmSync(work, { recursive: true, force: true });
      } else {
        rmSync(dir, { recursive: true, force: true });
        renameSync(work, dir);
      }
      progress(`image ${hash.slice(0, 12)} ready`);
      return { hash, dir, env };
    } catch (error) {
      rmSync(work, { recursive: true, force: true });
      throw storageFull(error, "the image", work);
    }
  }

  private run(command: string, args: string[], cwd: string, env: Record<string, string>, progress: BuildProgress): Promise<void> {
    return new Promise((resolve, reject) => {
      const tied = diesWithParent(command, args);
      const child = spawn(tied.command, tied.args, { cwd, env: { ...process.env, ...env, ...this.mark() }, stdio: ["ignore", "pipe", "pipe"] });
      const tail: string[] = [];
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on("line", (line) => {
          tail.push(line);
          if (tail.length > 20) tail.shift();
          progress(`  ${line}`);
        });
      }
      child.once("error", (error) => reject(new BerthError("build_failed", `image build failed: cannot run ${command} (${error.message})`, { cause: error })));
      child.once("exit", (code) => {
        if (code === 0) resolve();
        // The step's own output says what went wrong (a package that does not exist, a command that failed): the user's to read.
        else reject(new BerthError("build_failed", `image build failed: \`${command} ${args.join(" ")}\` exited with code ${code}\n${tail.join("\n")}`));
      });
    });
  }
}
