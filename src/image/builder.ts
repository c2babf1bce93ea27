/**
 * The image builder interface the platform uses: turn an `ImageSpec` into
 * something a runtime can run, once per spec, with progress. Two builders,
 * one per kind of runtime:
 *
 * - layered (layered-builder.ts): real Debian root file systems built from
 *   content-addressed layers inside build sandboxes; what the `sandbox`
 *   runtime runs, and what exports as an OCI image.
 * - host (host-builder.ts): for the `process` runtime, whose containers run
 *   on the host's own system: an image is its npm packages and variables.
 */
import type { ImageSpec } from "../sdk/contract.js";
import type { ExportOptions } from "./oci.js";

export interface BuiltImage {
  /** Content id: the same spec (on the same base) is the same id. */
  id: string;
  /** The root file system (layered images). */
  rootfs?: string;
  /** A directory whose `node_modules` holds the image's npm packages (host images). */
  nodeModulesDir?: string;
  /** Environment variables the image sets. */
  env: Record<string, string>;
  /** Working directory inside the image (layered images). */
  workdir?: string;
}

/** One line of build progress, for the deploying CLI. */
export type BuildProgress = (line: string) => void;

export interface ImageSummary {
  id: string;
  /** The steps after the base, as declared: `npmInstall hono@4`, `aptInstall python3`. */
  steps: string[];
  /** Layers under the image, the base included. */
  layers: number;
  /** Bytes of the image's own layers (shared base layers included). */
  sizeBytes: number;
  /** Epoch milliseconds. */
  createdAt: number;
  lastUsedAt: number;
}

export interface PruneResult {
  images: string[];
  layers: string[];
  bytes: number;
}

export interface ImageBuilder {
  /** `layered` images have a root file system and export as OCI; `host` images are the host's system plus npm packages. */
  readonly kind: "layered" | "host";
  /** Builds the image, or returns the cached one. Rejects with a BerthError naming the failing step. */
  build(spec: ImageSpec, progress: BuildProgress): Promise<BuiltImage>;
  list(): ImageSummary[];
  /** Removes images whose id is not in `keep`, and layers nothing needs; the base layers too with `all`. */
  prune(keep: Set<string>, all: boolean): PruneResult;
  /** Writes an OCI image layout of a built image to `out` (layered images only). */
  exportOci?(id: string, out: string, options: ExportOptions): Promise<void>;
}
