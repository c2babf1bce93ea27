/**
 * Images for the `process` runtime, whose containers run on this machine's
 * own operating system: an image is a directory with its npm packages (in
 * `node_modules`), the files its commands made there, and its environment.
 * `aptInstall`, `workdir` and `addLocalFile/Dir` have no host equivalent and
 * are skipped with a notice (the sandbox runtime applies them).
 *
 * Steps run as the server's user ("one trusted user"), with an environment
 * of their own: the host's PATH and HOME, nothing else of the server's.
 * Images are content-addressed by their spec; a build happens in a temporary
 * directory renamed into place only when complete.
 *
 * A build's commands carry the platform's mark and die with it (lifetime/),
 * and its temporary folder is named after the run, so a server killed
 * mid-build leaves neither a running `npm install` nor a half-built folder
 * to the next one (whose sweep removes them).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { BerthError } from "../errors/codes.js";
import { storageFull } from "../errors/storage.js";
import { diesWithParent } from "../lifetime/processes.js";
import { tempPath } from "../lifetime/run.js";
import type { ImageSpec } from "../sdk/contract.js";
import type { BuildProgress, BuiltImage, ImageBuilder, ImageSummary, PruneResult } from "./builder.js";
import { treeSize } from "./store.js";

const MARKER = ".berth-image.json";

export function imageHash(spec: ImageSpec): string {
  return createHash("sha256").update(JSON.stringify(spec)).digest("hex");
}

/** What a process-runtime container gets before the image's own variables. */
function hostEnv(): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", HOME: homedir() };
  if (process.env.LANG) env.LANG = process.env.LANG;
  return env;
}

export class HostImageBuilder implements ImageBuilder {
  readonly kind = "host";
  private readonly building = new Map<string, Promise<BuiltImage>>();

  /** `mark`: the environment variable that marks a build's processes as the platform's (`RunScope.env`). */
  constructor(
    private readonly root: string,
    private readonly mark: () => Record<string, string> = () => ({}),
  ) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
  }

  build(spec: ImageSpec, progress: BuildProgress): Promise<BuiltImage> {
    const hash = imageHash(spec);
    const dir = join(this.root, hash);
    if (existsSync(join(dir, MARKER))) {
      const now = new Date();
      utimesSync(join(dir, MARKER), now, now);
      const env = (JSON.parse(readFileSync(join(dir, MARKER), "utf8")) as { env: Record<string, string> }).env;
      return Promise.resolve({ id: hash, nodeModulesDir: dir, env: { ...hostEnv(), ...env } });
    }
    let pending = this.building.get(hash);
    if (!pending) {
      pending = this.buildFresh(spec, hash, dir, progress).finally(() => this.building.delete(hash));
      this.building.set(hash, pending);
    }
    return pending;
  }

  list(): ImageSummary[] {
    return readdirSync(this.root).flatMap((name) => {
      const marker = join(this.root, name, MARKER);
      if (!existsSync(marker)) return [];
      const { spec } = JSON.parse(readFileSync(marker, "utf8")) as { spec: ImageSpec };
      const stat = statSync(marker);
      return [
        {
          id: name,
          steps: spec.steps.map((step) => step.kind),
          layers: 1,
          sizeBytes: treeSize(join(this.root, name)),
          createdAt: stat.birthtimeMs || stat.ctimeMs,
          lastUsedAt: stat.mtimeMs,
        },
      ];
    });
  }

  prune(keep: Set<string>): PruneResult {
    const images: string[] = [];
    let bytes = 0;
    for (const image of this.list()) {
      if (keep.has(image.id)) continue;
      bytes += image.sizeBytes;
      rmSync(join(this.root, image.id), { recursive: true, force: true });
      images.push(image.id);
    }
    return { images, layers: [], bytes };
  }

  private async buildFresh(spec: ImageSpec, hash: string, dir: string, progress: BuildProgress): Promise<BuiltImage> {
    const work = tempPath(dir);
    const env: Record<string, string> = {};
    try {
      mkdirSync(work, { recursive: true, mode: 0o700 });
      writeFileSync(join(work, "package.json"), JSON.stringify({ name: "berth-image", private: true, type: "module" }, null, 2));
      progress(`building image ${hash.slice(0, 12)} (${spec.steps.length} step${spec.steps.length === 1 ? "" : "s"}; process runtime: on this machine's system)`);
      for (const [index, step] of spec.steps.entries()) {
        const label = `step ${index + 1}/${spec.steps.length}`;
        if (step.kind === "npm") {
          progress(`${label}: npm install ${step.packages.join(" ")}`);
          await run("npm", ["install", "--no-audit", "--no-fund", "--omit=dev", "--", ...step.packages], work, { ...hostEnv(), ...env, ...this.mark() }, progress, label);
        } else if (step.kind === "run") {
          for (const command of step.commands) {
            progress(`${label}: ${command}`);
            await run("sh", ["-c", command], work, { ...hostEnv(), ...env, ...this.mark() }, progress, label);
          }
        } else if (step.kind === "env") {
          Object.assign(env, step.vars);
        } else {
          progress(`${label}: ${step.kind} skipped: the process runtime runs on this machine's own system (the sandbox runtime applies it)`);
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
      return { id: hash, nodeModulesDir: dir, env: { ...hostEnv(), ...env } };
    } catch (error) {
      rmSync(work, { recursive: true, force: true });
      throw storageFull(error, "the image", work);
    }
  }
}

function run(command: string, args: string[], cwd: string, env: Record<string, string>, progress: BuildProgress, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tied = diesWithParent(command, args);
    const child = spawn(tied.command, tied.args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding("utf8");
      let buffer = "";
      stream.on("data", (chunk: string) => {
        buffer += chunk;
        const lines = buffer.split("\n");
        buffer = lines.pop()!;
        for (const line of lines) {
          tail.push(line);
          if (tail.length > 20) tail.shift();
          progress(`    ${line}`);
        }
      });
    }
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code === 0) resolve();
      else {
        reject(
          new BerthError(
            "build_failed",
            `image build failed at ${label}: the step exited with code ${code}\ncommand: ${command} ${args.join(" ")}\nlast output:\n${tail.map((l) => `  ${l}`).join("\n")}`,
          ),
        );
      }
    });
  });
}
