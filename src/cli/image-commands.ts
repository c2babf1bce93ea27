/**
 * `berth image list | prune | export`: the server's image cache. Export
 * writes a function's image as an OCI image layout, the format registries
 * (skopeo, crane) and Kubernetes take.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { BerthError } from "../errors/codes.js";
import { makeDirectory } from "../files/make-directory.js";
import type { ImageView } from "../wire/control-api.js";
import { clientFor, type ClientFlags } from "./commands.js";
import { green, status } from "./output.js";

export async function imageListCommand(flags: ClientFlags & { json?: boolean }) {
  const images = await clientFor(flags).listImages();
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(images, null, 2)}\n`);
    return;
  }
  if (images.length === 0) {
    status("No images yet: they are built when an app is deployed.");
    return;
  }
  process.stdout.write(formatImages(images));
}

export function formatImages(images: ImageView[], now = Date.now()): string {
  const rows = [["IMAGE", "SIZE", "LAYERS", "LAST USED", "USED BY", "STEPS"]];
  for (const image of [...images].sort((a, b) => b.lastUsedAt - a.lastUsedAt)) {
    rows.push([
      image.id.slice(0, 12),
      formatBytes(image.sizeBytes),
      String(image.layers),
      `${formatAge(now - image.lastUsedAt)} ago`,
      image.usedBy.join(", ") || "-",
      image.steps.join("; ") || "(base: debian + node)",
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  ")).join("\n") + "\n";
}

export async function imagePruneCommand(flags: ClientFlags & { all?: boolean }) {
  const result = await clientFor(flags).pruneImages(flags.all === true);
  status(
    green(
      `✓ Removed ${result.images.length} image(s) and ${result.layers.length} layer(s), ${formatBytes(result.bytes)} freed` +
        (flags.all ? "" : " (the Debian and Node base layers stay; --all removes them too)"),
    ),
  );
}

export async function imageExportCommand(app: string, fn: string, dir: string, flags: ClientFlags & { dev?: boolean }) {
  const target = resolve(dir);
  if (existsSync(target) && readdirSync(target).length > 0) throw new BerthError("invalid_input", `${target} is not empty: export into a new or empty directory`);
  const { ref, body } = await clientFor(flags).exportImage(app, fn, flags.dev);
  makeDirectory(target);
  await extract(body, target);
  const index = JSON.parse(readFileSync(join(target, "index.json"), "utf8")) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(readFileSync(join(target, "blobs", "sha256", index.manifests[0]!.digest.slice(7)), "utf8")) as {
    layers: { size: number }[];
  };
  const bytes = manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
  status(green(`✓ Exported ${app}/${fn} to ${target}: OCI image layout, tag "${ref}", ${manifest.layers.length} layers, ${formatBytes(bytes)} compressed`));
  status(`  e.g. skopeo copy oci:${target}:${ref} docker://registry.example.com/${ref}:latest`);
}

/** Unpacks the server's tar stream with the system's tar (GNU or bsdtar). */
function extract(body: AsyncIterable<Uint8Array>, dir: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const tar = spawn("tar", ["-x", "-f", "-", "-C", dir], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    tar.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    tar.once("error", (error) => reject(new BerthError("internal_error", `could not run tar to unpack the image: ${error.message}`)));
    tar.once("exit", (code) => (code === 0 ? resolvePromise() : reject(new BerthError("internal_error", `tar failed to unpack the image: ${stderr.trim()}`))));
    const source = Readable.from(body);
    source.once("error", (error) => {
      tar.kill();
      reject(new BerthError("internal_error", `the export was cut off: ${error.message}`));
    });
    source.pipe(tar.stdin);
  });
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}
