/**
 * `addLocalFile` / `addLocalDir`: the files live on the deploying machine,
 * so before a deploy the CLI packs each into a tar archive, uploads it as a
 * blob and turns the step into a `copy` of that blob. Archives hold content
 * and permissions only (owner root, time 0): the same files give the same
 * blob, so an unchanged directory does not rebuild its layer.
 */
import { lstatSync, statSync } from "node:fs";
import { basename } from "node:path";
import { createHash } from "node:crypto";
import { PassThrough } from "node:stream";
import type { AppManifest, ImageStep } from "../sdk/contract.js";
import { TarWriter, writeTree } from "../image/tar.js";
import { BerthError } from "../errors/codes.js";
import type { ApiClient } from "./client.js";

/** Returns the manifest with every `local` step uploaded and replaced by a `copy` step. */
export async function uploadLocalFiles(client: ApiClient, manifest: AppManifest): Promise<AppManifest> {
  const uploaded = new Map<string, string>();
  const functions = [];
  for (const fn of manifest.functions) {
    const steps: ImageStep[] = [];
    for (const step of fn.image.steps) {
      if (step.kind !== "local") {
        steps.push(step);
        continue;
      }
      const key = `${step.directory}:${step.source}:${step.target}`;
      let blob = uploaded.get(key);
      if (!blob) {
        const archive = await pack(step.source, step.target, step.directory);
        blob = createHash("sha256").update(archive).digest("hex");
        await client.uploadBlob(blob, archive);
        uploaded.set(key, blob);
      }
      steps.push({ kind: "copy", blob, target: step.target, directory: step.directory });
    }
    functions.push({ ...fn, image: { ...fn.image, steps } });
  }
  return { ...manifest, functions };
}

/** A directory's contents, or one file named like its target. */
export async function pack(source: string, target: string, directory: boolean): Promise<Buffer> {
  const verb = directory ? "addLocalDir" : "addLocalFile";
  const stat = statSync(source, { throwIfNoEntry: false });
  if (!stat) throw new BerthError("build_failed", `${verb}: ${source} does not exist`);
  if (directory && !stat.isDirectory()) throw new BerthError("build_failed", `${verb}: ${source} is not a directory (use addLocalFile)`);
  if (!directory && !stat.isFile()) throw new BerthError("build_failed", `${verb}: ${source} is not a file (use addLocalDir)`);
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (chunk: Buffer) => chunks.push(chunk));
  const writer = new TarWriter(out);
  if (directory) {
    await writeTree(writer, source, { ids: () => [0, 0], mtime: 0 });
  } else {
    const file = lstatSync(source);
    await writer.add({ path: basename(target), type: "file", mode: file.mode & 0o7777, uid: 0, gid: 0, mtime: 0, source, size: file.size });
  }
  await writer.finish();
  out.end();
  return Buffer.concat(chunks);
}
