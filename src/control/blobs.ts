/**
 * The blob store: immutable, content-addressed files (bundles today, image
 * layers later) under `<root>/sha256/<hash>`. Writes go to a temporary file
 * and are renamed into place, so a reader never sees half a blob.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BerthError } from "../errors/codes.js";
import { tempPath } from "../lifetime/run.js";

export class BlobStore {
  constructor(private readonly root: string) {
    mkdirSync(join(root, "sha256"), { recursive: true });
  }

  static hash(data: Uint8Array | string): string {
    return createHash("sha256").update(data).digest("hex");
  }

  path(hash: string): string {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new BerthError("invalid_input", `not a SHA-256 hash: ${hash}`);
    return join(this.root, "sha256", hash);
  }

  has(hash: string): boolean {
    return existsSync(this.path(hash));
  }

  /** Stores `data` and returns its hash; if `expected` is given, a mismatch is an error. */
  put(data: Uint8Array, expected?: string): string {
    const hash = BlobStore.hash(data);
    if (expected !== undefined && expected !== hash) throw new BerthError("invalid_input", `content hash mismatch: expected ${expected}, got ${hash}`);
    const target = this.path(hash);
    if (!existsSync(target)) {
      const temporary = tempPath(target);
      writeFileSync(temporary, data);
      renameSync(temporary, target);
    }
    return hash;
  }

  get(hash: string): Buffer {
    return readFileSync(this.path(hash));
  }
}
