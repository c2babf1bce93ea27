/**
 * The blobs a version needs besides its bundle: the archives its images'
 * `addLocalFile/Dir` steps name (copy steps). Pruning keeps them with the
 * bundle, so a kept version's image can still be built again (after `image
 * prune`, on another runtime) and rolled back to.
 */
import type { AppManifest } from "../sdk/contract.js";

export function copyBlobs(manifest: AppManifest): string[] {
  return manifest.functions.flatMap((fn) => fn.image.steps.flatMap((step) => (step.kind === "copy" ? [step.blob] : [])));
}

/** Each blob the given versions name, with the newest of their times. */
export function namedBlobs(rows: { hash: string; manifest: string; created_at: number }[]): Map<string, number> {
  const named = new Map<string, number>();
  const name = (hash: string, at: number) => named.set(hash, Math.max(at, named.get(hash) ?? at));
  for (const row of rows) {
    name(row.hash, row.created_at);
    for (const blob of copyBlobs(JSON.parse(row.manifest) as AppManifest)) name(blob, row.created_at);
  }
  return named;
}

/** The bundles and copy-step archives of the given versions. */
export function usedBlobs(rows: { hash: string; manifest: string }[]): string[] {
  const blobs = new Set<string>();
  for (const row of rows) {
    blobs.add(row.hash);
    for (const blob of copyBlobs(JSON.parse(row.manifest) as AppManifest)) blobs.add(blob);
  }
  return [...blobs];
}
