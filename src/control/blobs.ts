/**
 * The blob store: immutable, content-addressed files (bundles today, image
 * layers later) under `<root>/sha256/<hash>`. Writes go to a temporary file
 * and are renamed into place, so a reader never sees half a blob; a write
 * that fails removes its temporary file. Blobs no version needs any more
 * are deleted by the platform's pruning (platform.ts), except those uploaded
 * for a deploy that has not recorded its version yet (`pending`).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BerthError } from "../errors/codes.js";
import { storageFull } from "../errors/storage.js";
import { tempPath } from "../lifetime/run.js";

const HASH = /^[0-9a-f]{64}$/;

/** Milliseconds an uploaded blob counts as awaited by a deploy that has not recorded its version yet. */
const PENDING_MS = 10 * 60_000;

export class BlobStore {
  /** Blobs stored by this process and not yet named by a version (`settle`), with when (epoch ms). */
  private readonly uploads = new Map<string, number>();

  constructor(private readonly root: string) {
    mkdirSync(join(root, "sha256"), { recursive: true });
  }

  static hash(data: Uint8Array | string): string {
    return createHash("sha256").update(data).digest("hex");
  }

  path(hash: string): string {
    if (!HASH.test(hash)) throw new BerthError("invalid_input", `not a SHA-256 hash: ${hash}`);
    return join(this.root, "sha256", hash);
  }

  has(hash: string): boolean {
    return existsSync(this.path(hash));
  }

  /**
   * Stores `data` and returns its hash; if `expected` is given, a mismatch
   * is an error. The blob (even one that existed) is then pending: pruning
   * leaves it to the deploy that is about to name it.
   */
  put(data: Uint8Array, expected?: string): string {
    const hash = BlobStore.hash(data);
    if (expected !== undefined && expected !== hash) throw new BerthError("invalid_input", `content hash mismatch: expected ${expected}, got ${hash}`);
    this.uploads.set(hash, Date.now());
    const target = this.path(hash);
    if (existsSync(target)) return hash;
    const temporary = tempPath(target);
    try {
      writeFileSync(temporary, data);
      renameSync(temporary, target);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw storageFull(error, "the bundle", target);
    }
    return hash;
  }

  get(hash: string): Buffer {
    return readFileSync(this.path(hash));
  }

  /** Every stored blob's hash. */
  list(): string[] {
    return readdirSync(join(this.root, "sha256")).filter((name) => HASH.test(name));
  }

  /** A version names the blob now: it no longer needs sparing as an upload. */
  settle(hash: string): void {
    this.uploads.delete(hash);
  }

  /** Whether the blob was uploaded lately for a deploy that has not named it yet. */
  pending(hash: string, now = Date.now()): boolean {
    const at = this.uploads.get(hash);
    if (at === undefined) return false;
    if (now - at < PENDING_MS) return true;
    this.uploads.delete(hash);
    return false;
  }

  delete(hash: string): void {
    rmSync(this.path(hash), { force: true });
  }
}
