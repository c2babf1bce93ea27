/**
 * The blob store: immutable, content-addressed files (bundles, and the
 * archives of `addLocalFile`/`addLocalDir`) under `<root>/sha256/<hash>`,
 * readable by the server's user only (0600 in 0700 directories). Writes go to a temporary file
 * and are renamed into place, so a reader never sees half a blob; uploads
 * stream to disk, hashed and counted as they arrive, so an upload costs the
 * server a file, never its size in memory, and one that is too large, cut
 * off, not what its name says or stopped by a full disk (507) leaves
 * nothing behind. Temporary names carry the writer's run (lifetime/run.ts),
 * so a server killed mid-upload leaves its partial file to the next start's
 * sweep. Blobs no version needs any more are deleted by the platform's
 * pruning (platform.ts), except those uploaded for a deploy that has not
 * recorded its version yet (`pending`).
 */
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Cancel, Clock } from "../clock/clock.js";
import { BerthError } from "../errors/codes.js";
import { isStorageFull, storageFull } from "../errors/storage.js";
import { tempPath } from "../lifetime/run.js";

const HASH = /^[0-9a-f]{64}$/;

/** Milliseconds an uploaded blob counts as awaited by a deploy that has not recorded its version yet. */
const PENDING_MS = 10 * 60_000;

export interface UploadLimits {
  /** Largest blob accepted, in bytes: counted as bytes arrive, so a chunked upload is cut at the limit. */
  maxBytes: number;
  /** Milliseconds the upload may go without a byte arriving before it is abandoned. */
  idleMs: number;
  /** Times the stalls. */
  clock: Clock;
}

export class BlobStore {
  private readonly dir: string;
  /** Blobs stored by this process and not yet named by a version (`settle`), with when (epoch ms). */
  private readonly uploads = new Map<string, number>();

  constructor(root: string) {
    this.dir = join(root, "sha256");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  static hash(data: Uint8Array | string): string {
    return createHash("sha256").update(data).digest("hex");
  }

  path(hash: string): string {
    if (!HASH.test(hash)) {
      throw new BerthError("invalid_input", `not a SHA-256 hash: ${hash}`, { details: { issues: [{ loc: ["path", "hash"], message: "must be 64 lowercase hex digits" }] } });
    }
    return join(this.dir, hash);
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
    if (expected !== undefined && expected !== hash) throw mismatch(expected, hash);
    this.uploads.set(hash, Date.now());
    const target = this.path(hash);
    if (existsSync(target)) return hash;
    const temporary = tempPath(target);
    try {
      writeFileSync(temporary, data, { mode: 0o600 });
      renameSync(temporary, target);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw storageFull(error, "the bundle", target);
    }
    return hash;
  }

  /**
   * Streams `source` to disk as the blob `expected`, hashing and counting
   * each chunk as it passes: over `maxBytes` it stops reading at once (413),
   * and a stall, a cut connection or a hash mismatch (422) removes the
   * partial file before the error is thrown. Memory stays at a few chunks
   * whatever the size: the file stream's backpressure pauses the source.
   */
  async putStream(source: AsyncIterable<Uint8Array>, expected: string, limits: UploadLimits): Promise<string> {
    const target = this.path(expected);
    this.uploads.set(expected, Date.now());
    const temporary = tempPath(target);
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
      if (isStorageFull(error)) throw storageFull(error, "the bundle", target);
      throw new BerthError("client_closed", "the upload ended before its last byte", { cause: error });
    } finally {
      cancel();
    }
    const actual = hash.digest("hex");
    if (actual !== expected) {
      await rm(temporary, { force: true });
      throw mismatch(expected, actual);
    }
    await rename(temporary, target);
    return expected;
  }

  get(hash: string): Buffer {
    return readFileSync(this.path(hash));
  }

  /** Every stored blob's hash. */
  list(): string[] {
    return readdirSync(this.dir).filter((name) => HASH.test(name));
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

/** 413 for an upload over `limit`; the rest of its body is never read, so its connection closes. */
export function tooLarge(limit: number): BerthError {
  return new BerthError("payload_too_large", `bundles are limited to ${limit} bytes`, { headers: { connection: "close" } });
}

function mismatch(expected: string, actual: string): BerthError {
  return new BerthError("invalid_input", `content hash mismatch: expected ${expected}, got ${actual}`, {
    details: { issues: [{ loc: ["path", "hash"], message: `the body's SHA-256 is ${actual}` }] },
  });
}
