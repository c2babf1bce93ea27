/**
 * Builds images as content-addressed layers (store.ts): Debian, then Node,
 * then one layer per step, each run in a build sandbox (build-step.ts) on
 * top of the one before. A layer already in the store is not built again,
 * so a second deploy of the same spec builds nothing, and two images that
 * share their first steps share those layers.
 *
 * Progress goes to the deploying CLI step by step: the step, its output as
 * it comes, its time. A failing step ends the deploy with a 422 naming the
 * step, its command and the tail of its output.
 */
import { existsSync, rmSync } from "node:fs";
import { BerthError } from "../errors/codes.js";
import { storageFull } from "../errors/storage.js";
import type { CgroupTree } from "../sandbox/cgroups.js";
import type { SandboxTools } from "../sandbox/tools.js";
import type { ImageSpec } from "../sdk/contract.js";
import { ensureDebianLayer, ensureNodeLayer } from "./base.js";
import type { BuildProgress, BuiltImage, ImageBuilder, ImageSummary, PruneResult } from "./builder.js";
import { BuildStepError, runBuildStep } from "./build-step.js";
import { exportOci, type ExportOptions } from "./oci.js";
import { layerKey, planStep, type ImageConfig, type StepPlan } from "./steps.js";
import type { ImageStore, LayerMeta } from "./store.js";

export interface LayeredBuilderOptions {
  store: ImageStore;
  tools: SandboxTools;
  cgroups: CgroupTree;
  /** Host path of an uploaded blob (addLocalFile/addLocalDir archives), or undefined if there is none. */
  blobPath(hash: string): string | undefined;
  /**
   * A PEM bundle of certificate authorities build steps trust, for package
   * registries reached through a TLS-intercepting proxy (build steps get it
   * as NODE_EXTRA_CA_CERTS and SSL_CERT_FILE). Containers do not.
   */
  caFile?: string;
  now?: () => number;
}

export class LayeredImageBuilder implements ImageBuilder {
  readonly kind = "layered";
  private readonly building = new Map<string, Promise<void>>();
  private readonly now: () => number;

  constructor(private readonly options: LayeredBuilderOptions) {
    this.now = options.now ?? Date.now;
  }

  get store(): ImageStore {
    return this.options.store;
  }

  /** A write to the image store that finds the disk full rejects with `storage_full` (507) naming the store. */
  async build(spec: ImageSpec, progress: BuildProgress): Promise<BuiltImage> {
    try {
      return await this.buildImage(spec, progress);
    } catch (error) {
      throw storageFull(error, "the image", this.options.store.root);
    }
  }

  private async buildImage(spec: ImageSpec, progress: BuildProgress): Promise<BuiltImage> {
    const { store } = this.options;
    const started = Date.now();
    let built = 0;
    // Concurrent deploys wait on the base layers' file locks (store.lock), in this process as across processes.
    const debian = await ensureDebianLayer(store, progress);
    const node = await ensureNodeLayer(store, debian.key, progress);
    let key = node.key;
    if (debian.built) built += 1;
    if (node.built) built += 1;
    let config: ImageConfig = store.meta(key).config;
    const total = spec.steps.length;
    for (const [index, step] of spec.steps.entries()) {
      const plan = planStep(step, config);
      const next = layerKey(key, step);
      const label = `step ${index + 1}/${total} ${plan.description}`;
      if (store.has(next)) {
        progress(`  ${label}: cached`);
      } else {
        const parent = key;
        const stepStarted = Date.now();
        progress(`  ${label}`);
        await this.once(next, () => this.buildLayer(next, parent, step, plan, label, progress));
        progress(`  ${label}: done in ${seconds(Date.now() - stepStarted)}`);
        built += 1;
      }
      key = next;
      config = plan.config;
    }
    const rootfs = await store.rootfs(key);
    store.recordImage(key, spec, this.now());
    progress(`image ${key.slice(0, 12)} ready${built > 0 ? ` (${built} layer${built === 1 ? "" : "s"} built in ${seconds(Date.now() - started)})` : " (cached)"}`);
    return { id: key, rootfs, env: config.env, workdir: config.workdir };
  }

  list(): ImageSummary[] {
    const { store } = this.options;
    return store.images().map((image) => {
      const chain = store.chain(image.id);
      return {
        id: image.id,
        steps: chain.filter((layer) => layer.step.kind !== "debootstrap" && layer.step.kind !== "node").map((layer) => layer.description),
        layers: chain.length,
        sizeBytes: chain.reduce((sum, layer) => sum + layer.sizeBytes, 0),
        createdAt: image.createdAt,
        lastUsedAt: image.lastUsedAt,
      };
    });
  }

  prune(keep: Set<string>, all: boolean): PruneResult {
    return this.options.store.prune(keep, all);
  }

  async exportOci(id: string, out: string, options: ExportOptions): Promise<void> {
    await exportOci(this.options.store, id, out, options);
  }

  /** Runs `work` once per key in this process; other processes are kept out by the store's lock. */
  private once(key: string, work: () => Promise<void>): Promise<void> {
    let pending = this.building.get(key);
    if (!pending) {
      pending = work().finally(() => this.building.delete(key));
      this.building.set(key, pending);
    }
    return pending;
  }

  private async buildLayer(key: string, parent: string, step: ImageSpec["steps"][number], plan: StepPlan, label: string, progress: BuildProgress) {
    const { store } = this.options;
    await store.lock(key, () => store.has(key), async () => {
      const started = Date.now();
      const base = { key, parent, step: step as LayerMeta["step"], description: plan.description, config: plan.config };
      if (!plan.script) {
        store.commit({ ...base, empty: true, createdAt: this.now(), buildMs: 0 }, null);
        return;
      }
      const input = plan.input ? this.options.blobPath(plan.input) : undefined;
      if (plan.input && (!input || !existsSync(input))) {
        throw new BerthError("invalid_input", `${label}: its files (blob ${plan.input.slice(0, 12)}) were not uploaded`);
      }
      const work = store.tmpDir("build");
      try {
        const diff = await runBuildStep({
          tools: this.options.tools,
          cgroups: this.options.cgroups,
          lower: await store.rootfs(parent),
          work,
          script: plan.script,
          args: plan.args,
          config: store.meta(parent).config,
          input,
          caFile: this.options.caFile,
          onLine: (line) => progress(`    ${line}`),
        });
        store.commit({ ...base, empty: false, createdAt: this.now(), buildMs: Date.now() - started }, diff);
      } catch (error) {
        if (error instanceof BuildStepError) {
          const tail = error.tail.length > 0 ? `\nlast output:\n${error.tail.map((line) => `  ${line}`).join("\n")}` : "";
          throw new BerthError("build_failed", `image build failed at ${label}: ${error.message}\ncommand: ${plan.display}${tail}`);
        }
        throw error;
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
