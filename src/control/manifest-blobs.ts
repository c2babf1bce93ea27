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
