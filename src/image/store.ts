/**
 * The image store: content-addressed layers on disk, shared by every server
 * (and test) that points at the same directory.
 *
 *   <root>/layers/<key>/meta.json   what the layer is; written last, so its presence means complete
 *   <root>/layers/<key>/diff/       the layer's changes (OCI conventions: `.wh.<name>` deletes, `.wh..wh..opq` empties a directory)
 *   <root>/layers/<key>/rootfs/     the whole file system up to this layer, hard links into the diffs below (made on demand)
 *   <root>/images/<key>.json        an image built from a spec: its final layer, the spec, when it was used
 *   <root>/tmp/, <root>/locks/
 *
 * A key is the hash of (parent key, step), so a layer is built once for
 * every image that shares the steps before it. Files keep their owners
 * shifted into the image id range (sandbox/ids.ts). Directories bwrap reads
 * through are root-owned, mode 0710, group SANDBOX_GROUP.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { makeDirectory } from "../files/make-directory.js";
import type { ImageSpec } from "../sdk/contract.js";
import { SANDBOX_GROUP } from "../sandbox/ids.js";
import { withFileLock } from "./lock.js";
import type { ImageConfig } from "./steps.js";
import { isAlive } from "../lifetime/processes.js";

export interface LayerMeta {
  key: string;
  parent: string | null;
  /** What made it: a user step, or `debootstrap` / `node` for the base layers. */
  step: { kind: string } & Record<string, unknown>;
  description: string;
  /** A configuration-only step (env): no files of its own. */
  empty: boolean;
  /** The image configuration after this layer. */
  config: ImageConfig;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Milliseconds the build of this layer took. */
  buildMs: number;
  /** Bytes of the layer's own files. */
  sizeBytes: number;
  /** Filled by the first OCI export: the gzipped layer tar's digest and size, and the uncompressed tar's digest. */
  oci?: { digest: string; size: number; diffId: string };
}

export interface ImageRecord {
  /** The image's final layer key. */
  id: string;
  spec: ImageSpec;
  createdAt: number;
  lastUsedAt: number;
}

export class ImageStore {
  readonly layersDir: string;
  private readonly imagesDir: string;
  private readonly tmpRoot: string;
  private readonly locksDir: string;
  private readonly materializing = new Map<string, Promise<string>>();

  constructor(readonly root: string) {
    this.layersDir = join(root, "layers");
    this.imagesDir = join(root, "images");
    this.tmpRoot = join(root, "tmp");
    this.locksDir = join(root, "locks");
    for (const dir of [root, this.layersDir, this.tmpRoot]) passThrough(dir);
    for (const dir of [this.imagesDir, this.locksDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.sweepAbandonedBuilds();
  }

  /**
   * Removes what builds of dead processes left in tmp/ (named
   * `<kind>-<pid>-<tag>`), unmounting a build's overlay first if it is
   * still mounted.
   */
  private sweepAbandonedBuilds(): void {
    for (const name of readdirSync(this.tmpRoot)) {
      const pid = Number(/^[a-z]+-(\d+)-[0-9a-f]+$/.exec(name)?.[1]);
      if (!pid || isAlive(pid)) continue;
      const dir = join(this.tmpRoot, name);
      const merged = join(dir, "merged");
      if (existsSync(merged) && lstatSync(merged).dev !== lstatSync(dir).dev) spawnSync("umount", ["-l", merged]);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  has(key: string): boolean {
    return existsSync(join(this.layersDir, key, "meta.json"));
  }

  meta(key: string): LayerMeta {
    return JSON.parse(readFileSync(join(this.layersDir, key, "meta.json"), "utf8")) as LayerMeta;
  }

  /** The diff directory of a layer (it may not exist for an empty layer). */
  diff(key: string): string {
    return join(this.layersDir, key, "diff");
  }

  /** Layers from the base up to `key`. */
  chain(key: string): LayerMeta[] {
    const chain: LayerMeta[] = [];
    for (let next: string | null = key; next; ) {
      const meta = this.meta(next);
      chain.unshift(meta);
      next = meta.parent;
    }
    return chain;
  }

  /** A fresh directory for a build in progress, removed by the caller. */
  tmpDir(prefix: string): string {
    const dir = join(this.tmpRoot, `${prefix}-${process.pid}-${randomBytes(4).toString("hex")}`);
    passThrough(dir);
    return dir;
  }

  /** Runs `work` unless the layer exists, holding its build lock across processes. */
  lock<T>(name: string, done: () => boolean, work: () => Promise<T>): Promise<T | undefined> {
    return withFileLock(join(this.locksDir, `${name}.lock`), done, work);
  }

  /**
   * Moves a finished layer into place: `diff` (a directory, or null for an
   * empty layer) and its meta, written last.
   */
  commit(meta: Omit<LayerMeta, "sizeBytes">, diff: string | null): LayerMeta {
    const dir = join(this.layersDir, meta.key);
    rmSync(dir, { recursive: true, force: true });
    passThrough(dir);
    if (diff) renameSync(diff, join(dir, "diff"));
    const complete: LayerMeta = { ...meta, sizeBytes: diff ? treeSize(join(dir, "diff")) : 0 };
    this.writeMeta(complete);
    return complete;
  }

  writeMeta(meta: LayerMeta): void {
    const path = join(this.layersDir, meta.key, "meta.json");
    writeFileSync(`${path}.tmp`, JSON.stringify(meta, null, 2));
    renameSync(`${path}.tmp`, path);
  }

  /**
   * The whole root file system at layer `key`, made on first use: the
   * parent's, hard-linked (files are never written in place: builds write
   * through an overlay, containers mount read-only), with this layer's diff
   * applied.
   */
  rootfs(key: string): Promise<string> {
    const meta = this.meta(key);
    if (!meta.parent) return Promise.resolve(this.diff(key));
    if (meta.empty) return this.rootfs(meta.parent);
    const target = join(this.layersDir, key, "rootfs");
    if (existsSync(target)) return Promise.resolve(target);
    let pending = this.materializing.get(key);
    if (!pending) {
      pending = this.materialize(meta, target).finally(() => this.materializing.delete(key));
      this.materializing.set(key, pending);
    }
    return pending;
  }

  private async materialize(meta: LayerMeta, target: string): Promise<string> {
    const parent = await this.rootfs(meta.parent!);
    await this.lock(`rootfs-${meta.key}`, () => existsSync(target), async () => {
      const work = this.tmpDir("rootfs");
      try {
        await run("cp", ["-a", "-l", "--", parent, join(work, "rootfs")]);
        applyDiff(this.diff(meta.key), join(work, "rootfs"));
        renameSync(join(work, "rootfs"), target);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
    return target;
  }

  recordImage(id: string, spec: ImageSpec, now: number): void {
    const path = join(this.imagesDir, `${id}.json`);
    const previous = existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as ImageRecord) : undefined;
    const record: ImageRecord = { id, spec, createdAt: previous?.createdAt ?? now, lastUsedAt: now };
    writeFileSync(`${path}.${process.pid}.tmp`, JSON.stringify(record));
    renameSync(`${path}.${process.pid}.tmp`, path);
  }

  images(): ImageRecord[] {
    return readdirSync(this.imagesDir)
      .filter((name) => name.endsWith(".json"))
      .flatMap((name) => {
        try {
          const record = JSON.parse(readFileSync(join(this.imagesDir, name), "utf8")) as ImageRecord;
          return this.has(record.id) ? [record] : [];
        } catch {
          return [];
        }
      });
  }

  /**
   * Deletes the images not in `keep` and every layer no remaining image
   * needs, except the base layers (Debian and Node: minutes to rebuild)
   * unless `all`. Returns what went and the bytes freed.
   */
  prune(keep: Set<string>, all: boolean): { images: string[]; layers: string[]; bytes: number } {
    const removedImages: string[] = [];
    for (const image of this.images()) {
      if (keep.has(image.id)) continue;
      rmSync(join(this.imagesDir, `${image.id}.json`), { force: true });
      removedImages.push(image.id);
    }
    const needed = new Set<string>();
    for (const image of this.images()) for (const layer of this.chain(image.id)) needed.add(layer.key);
    for (const id of keep) if (this.has(id)) for (const layer of this.chain(id)) needed.add(layer.key);
    const removedLayers: string[] = [];
    let bytes = 0;
    for (const key of readdirSync(this.layersDir)) {
      if (needed.has(key) || !this.has(key)) continue;
      const meta = this.meta(key);
      if (!all && (meta.step.kind === "debootstrap" || meta.step.kind === "node")) continue;
      bytes += meta.sizeBytes;
      rmSync(join(this.layersDir, key), { recursive: true, force: true });
      removedLayers.push(key);
    }
    return { images: removedImages, layers: removedLayers, bytes };
  }
}

/** A directory root owns that the sandbox group may pass through but not list (0710). */
export function passThrough(dir: string): void {
  makeDirectory(dir);
  chownSync(dir, 0, SANDBOX_GROUP);
  chmodSync(dir, 0o710);
}

/** Applies an OCI-convention diff onto a root file system, in place. */
export function applyDiff(diff: string, rootfs: string): void {
  const walk = (relative: string) => {
    const from = join(diff, relative);
    const to = join(rootfs, relative);
    const names = readdirSync(from);
    if (names.includes(".wh..wh..opq")) for (const name of readdirSync(to)) rmSync(join(to, name), { recursive: true, force: true });
    for (const name of names) {
      if (name === ".wh..wh..opq") continue;
      if (name.startsWith(".wh.")) {
        rmSync(join(to, name.slice(4)), { recursive: true, force: true });
        continue;
      }
      const source = join(from, name);
      const target = join(to, name);
      const stat = lstatSync(source);
      const existing = lstatSync(target, { throwIfNoEntry: false });
      if (stat.isDirectory()) {
        if (existing && !existing.isDirectory()) rmSync(target, { force: true });
        if (!existing?.isDirectory()) mkdirSync(target);
        walk(join(relative, name));
        copyAttributes(source, target);
      } else {
        if (existing) rmSync(target, { recursive: true, force: true });
        linkSync(source, target);
      }
    }
  };
  walk("");
  copyAttributes(diff, rootfs);
}

function copyAttributes(source: string, target: string): void {
  const stat = lstatSync(source);
  chownSync(target, stat.uid, stat.gid);
  chmodSync(target, stat.mode & 0o7777);
  utimesSync(target, stat.atime, stat.mtime);
}

/** Bytes of regular files under `dir`, each hard-linked file counted once. */
export function treeSize(dir: string): number {
  const seen = new Set<number>();
  let total = 0;
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      const stat = lstatSync(child);
      if (stat.isDirectory()) walk(child);
      else if (stat.isFile() && !seen.has(stat.ino)) {
        seen.add(stat.ino);
        total += stat.size;
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return total;
}

/** Runs a host tool (cp, mount, debootstrap) with a clean environment; rejects with its output's tail. */
export function run(command: string, args: string[], onLine?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" }, stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        onLine?.(line);
      }
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`\`${command} ${args.join(" ")}\` exited with code ${code}\n${tail.join("\n")}`)),
    );
  });
}
