/**
 * Picks the runtime driver and the image builder that go with it:
 *
 * - `sandbox`: bubblewrap containers on layered Debian images (the default
 *   of `berth server`); needs Linux, root, bubblewrap, slirp4netns, cgroups.
 * - `process`: Node child processes on this machine's own system, images
 *   being npm packages; one trusted user, no isolation.
 */
import { join } from "node:path";
import { HostImageBuilder } from "../image/host-builder.js";
import type { ImageBuilder } from "../image/builder.js";
import { LayeredImageBuilder } from "../image/layered-builder.js";
import { ImageStore } from "../image/store.js";
import type { RunScope } from "../lifetime/scope.js";
import { ProcessDriver } from "../runtime/process-driver.js";
import { SandboxDriver } from "../runtime/sandbox-driver.js";
import type { RuntimeDriver } from "../runtime/types.js";
import { CgroupTree, detectCgroups } from "../sandbox/cgroups.js";
import { sandboxSupport } from "../sandbox/tools.js";

export type RuntimeName = "process" | "sandbox";

export interface RuntimeOptions {
  runtime: RuntimeName;
  home: string;
  /** What the platform starts is marked in, and ends with (process containers, host image builds). */
  scope: RunScope;
  /** Layered image store (sandbox runtime). Default: /var/lib/berth/images. */
  imageCache?: string;
  /** Host path of the uploaded blob with this hash, if any. */
  blobPath(hash: string): string | undefined;
  /** Warm spares: generic agents (process) or sandboxes per recently used image (sandbox). Default 2. */
  warm?: number;
  /** PEM bundle of extra certificate authorities for build steps (LayeredBuilderOptions.caFile). */
  buildCaFile?: string;
}

export interface Runtime {
  driver: RuntimeDriver;
  images: ImageBuilder;
  /** The layered builder, when images are layered (export, list). */
  layered?: LayeredImageBuilder;
  close(): Promise<void>;
}

/** Where the sandbox runtime keeps images unless told otherwise: outside any home directory, since the sandboxes' own unprivileged users must pass through its parents. */
export const DEFAULT_IMAGE_CACHE = "/var/lib/berth/images";

/** Why the sandbox runtime cannot run on this machine (one line: what to install), or undefined when it can. */
export function sandboxProblem(): string | undefined {
  const support = sandboxSupport();
  return support.ok ? undefined : support.problem;
}

/** Thrown when the sandbox runtime cannot run here; the message is one line saying what to install or choose. */
export class RuntimeUnavailableError extends Error {}

export function createRuntime(options: RuntimeOptions): Runtime {
  if (options.runtime === "process") {
    const driver = new ProcessDriver({ warmAgents: options.warm, scope: options.scope });
    const images = new HostImageBuilder(join(options.home, "images"), () => options.scope.env("build"));
    return { driver, images, close: () => driver.close() };
  }
  const support = sandboxSupport();
  if (!support.ok) throw new RuntimeUnavailableError(support.problem);
  const detected = detectCgroups();
  if (!detected.ok) throw new RuntimeUnavailableError(detected.problem);
  const cgroups = new CgroupTree(detected.layout);
  const driver = new SandboxDriver({ tools: support.tools, cgroups, warmPerImage: options.warm });
  const layered = new LayeredImageBuilder({
    store: new ImageStore(options.imageCache ?? DEFAULT_IMAGE_CACHE),
    tools: support.tools,
    cgroups,
    blobPath: options.blobPath,
    caFile: options.buildCaFile,
  });
  return {
    driver,
    images: layered,
    layered,
    async close() {
      await driver.close();
      await cgroups.close();
    },
  };
}
