/**
 * Blobs as files, for the SQLite engine: immutable, content-addressed
 * files (bundles) under `<root>/sha256/<hash>`. Writes go to a temporary
 * file and are renamed into place, so a reader never sees half a blob;
 * reads check the hash, so a file damaged on disk is never run.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "../../errors/codes.js";
import type { BlobStore } from "./types.js";

export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Throws `invalid_input` unless `hash` is 64 lowercase hex digits. */
export function checkHash(hash: string): string {
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new BerthError("invalid_input", `not a SHA-256 hash: ${hash}`);
  return hash;
}

/** The error of a blob whose bytes do not match its name: it has been removed, so uploading it again repairs it. */
export function corruptBlob(hash: string, actual: string): BerthError {
  return new BerthError(
    "internal_error",
    `the stored bundle ${hash} is corrupt (its content hashes to ${actual}); it was removed: deploy the app again to upload it anew`,
  );
}

export class FileBlobStore implements BlobStore {
  constructor(private readonly root: string) {
    mkdirSync(join(root, "sha256"), { recursive: true });
  }

  private path(hash: string): string {
    return join(this.root, "sha256", checkHash(hash));
  }

  async has(hash: string): Promise<boolean> {
    return existsSync(this.path(hash));
  }

  async put(data: Uint8Array, expected?: string): Promise<string> {
    const hash = sha256(data);
    if (expected !== undefined && expected !== hash) throw new BerthError("invalid_input", `content hash mismatch: expected ${expected}, got ${hash}`);
    const target = this.path(hash);
    if (!existsSync(target)) {
      const temporary = `${target}.${randomBytes(6).toString("hex")}.tmp`;
      await writeFile(temporary, data);
      await rename(temporary, target);
    }
    return hash;
  }

  async get(hash: string): Promise<Buffer> {
    const path = this.path(hash);
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (error) {
      throw new BerthError("not_found", `no stored bundle ${hash}`, { cause: error });
    }
    const actual = sha256(data);
    if (actual !== hash) {
      await rm(path, { force: true });
      throw corruptBlob(hash, actual);
    }
    return data;
  }
}
