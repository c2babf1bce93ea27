/**
 * Blobs as files, for the SQLite engine (and the PostgreSQL engine's cache
 * on each node): immutable, content-addressed files (bundles, and the
 * archives of `addLocalFile`/`addLocalDir`) under `<root>/sha256/<hash>`,
 * readable by the server's user only (0600 in 0700 directories). Writes go
 * to a temporary file and are renamed into place, so a reader never sees half a blob;
 * uploads stream to disk, hashed and counted as they arrive
 * (`receiveUpload`, which the PostgreSQL engine uses too), so an upload
 * costs the server a file, never its size in memory, and one that is too
 * large, cut off, not what its name says or stopped by a full disk (507
 * `storage_full`) leaves nothing behind. Reads check the hash, so a file
 * damaged on disk is never run. Temporary names carry the writer's run
 * (lifetime/run.ts), so what a killed server was writing is removed by the
 * next start's sweep. A blob's file time is when it was last stored
 * (a re-upload renews it), for `prune` to spare a deploy's fresh upload.
 */
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Cancel } from "../../clock/clock.js";
import { BerthError } from "../../errors/codes.js";
import { isStorageFull, storageFull } from "../../errors/storage.js";
import { isRunAlive, tempPath, tempRunOf } from "../../lifetime/run.js";
import type { BlobStore, UploadLimits } from "./types.js";

export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Throws `invalid_input` (naming the path's hash) unless `hash` is 64 lowercase hex digits. */
export function checkHash(hash: string): string {
  if (!/^[0-9a-f]{64}$/.test(hash)) {
    throw new BerthError("invalid_input", `not a SHA-256 hash: ${hash}`, { details: { issues: [{ loc: ["path", "hash"], message: "must be 64 lowercase hex digits" }] } });
  }
  return hash;
}

/** The error of a blob whose bytes do not match its name: it has been removed, so uploading it again repairs it. */
export function corruptBlob(hash: string, actual: string): BerthError {
  return new BerthError(
    "internal_error",
    `the stored bundle ${hash} is corrupt (its content hashes to ${actual}); it was removed: deploy the app again to upload it anew`,
  );
}

/** 413 for an upload over `limit`; the rest of its body is never read, so its connection closes. */
export function tooLarge(limit: number): BerthError {
  return new BerthError("payload_too_large", `bundles are limited to ${limit} bytes`, { headers: { connection: "close" } });
}

export function hashMismatch(expected: string, actual: string): BerthError {
  return new BerthError("invalid_input", `content hash mismatch: expected ${expected}, got ${actual}`, {
    details: { issues: [{ loc: ["path", "hash"], message: `the body's SHA-256 is ${actual}` }] },
  });
}

/** `<dir>/<name>.<run>.<random>.tmp`: the run tells a later start whose writer is gone (lifetime/run.ts). */
export function temporaryFile(dir: string, name: string): string {
  return tempPath(join(dir, name));
}

/**
 * Streams `source` into the new file `temporary`, hashing and counting each
 * chunk as it passes: over `maxBytes` it stops reading at once (413), and a
 * stall, a cut connection or a hash other than `expected` (422) removes the
 * file before the error is thrown. Memory stays at a few chunks whatever
 * the size: the file stream's backpressure pauses the source.
 */
export async function receiveUpload(source: AsyncIterable<Uint8Array>, expected: string, limits: UploadLimits, temporary: string): Promise<void> {
  const hash = createHash("sha256");
  let size = 0;
  const { clock, idleMs, maxBytes } = limits;
  let lastData = clock.now();
  const stalled = new AbortController();
  // One timer re-armed only when it fires (not per chunk), as the gateway's body watch does.
  const check = () => {
    const idle = clock.now() - lastData;
    if (idle >= idleMs) stalled.abort();
    else cancel = clock.after(idleMs - idle, check);
  };
  let cancel: Cancel = clock.after(idleMs, check);
  try {
    await pipeline(
      source,
      async function* (chunks: AsyncIterable<Uint8Array>) {
        for await (const chunk of chunks) {
          lastData = clock.now();
          size += chunk.byteLength;
          if (size > maxBytes) throw tooLarge(maxBytes);
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(temporary, { flags: "wx", mode: 0o600 }),
      { signal: stalled.signal },
    );
  } catch (error) {
    await rm(temporary, { force: true });
    if (error instanceof BerthError) throw error;
    if (stalled.signal.aborted) {
      throw new BerthError("request_timeout", `no part of the upload arrived for ${idleMs / 1000} s`, { headers: { connection: "close" } });
    }
    if (isStorageFull(error)) throw storageFull(error, "the bundle", temporary);
    throw new BerthError("client_closed", "the upload ended before its last byte", { cause: error });
  } finally {
    cancel();
  }
  const actual = hash.digest("hex");
  if (actual !== expected) {
    await rm(temporary, { force: true });
    throw hashMismatch(expected, actual);
  }
}

/**
 * Removes temporary files of writers that no longer run (a server killed
 * mid-upload), so no partial blob outlives its upload. Another live
 * process sharing the directory (`berth serve` beside `berth server`)
 * keeps its own.
 */
export function removeOrphans(dir: string): void {
  for (const name of readdirSync(dir)) {
    const run = tempRunOf(name);
    if (run !== undefined && !isRunAlive(run)) rmSync(join(dir, name), { force: true });
  }
}

const HASH_NAME = /^[0-9a-f]{64}$/;

export class FileBlobStore implements BlobStore {
  private readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, "sha256");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    removeOrphans(this.dir);
  }

  private path(hash: string): string {
    return join(this.dir, checkHash(hash));
  }

  async has(hash: string): Promise<boolean> {
    return existsSync(this.path(hash));
  }

  async put(data: Uint8Array, expected?: string): Promise<string> {
    const hash = sha256(data);
    if (expected !== undefined && expected !== hash) throw hashMismatch(expected, hash);
    const target = this.path(hash);
    if (existsSync(target)) {
      // Stored anew: pruning spares it as it spares a new upload.
      const now = new Date();
      await utimes(target, now, now).catch(() => undefined);
      return hash;
    }
    const temporary = temporaryFile(this.dir, hash);
    try {
      await writeFile(temporary, data, { mode: 0o600 });
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw storageFull(error, "the bundle", target);
    }
    return hash;
  }

  async putStream(source: AsyncIterable<Uint8Array>, expected: string, limits: UploadLimits): Promise<string> {
    const target = this.path(expected);
    const temporary = temporaryFile(this.dir, expected);
    await receiveUpload(source, expected, limits, temporary);
    try {
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw storageFull(error, "the bundle", target);
    }
    return expected;
  }

  async prune(keep: (hash: string, storedAt: number) => boolean): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      if (!HASH_NAME.test(name)) continue;
      const path = join(this.dir, name);
      const info = await stat(path).catch(() => undefined);
      if (!info || keep(name, info.mtimeMs)) continue;
      await rm(path, { force: true });
      removed += 1;
    }
    return removed;
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

  async file(hash: string): Promise<string> {
    await this.get(hash);
    return this.path(hash);
  }

  localPath(hash: string): string | undefined {
    const path = this.path(hash);
    return existsSync(path) ? path : undefined;
  }
}
