/**
 * The platform's cryptography, in one place: random credentials and their
 * hashes, and the authenticated encryption of secret values under a key
 * file kept apart from the database. Everything is node:crypto.
 *
 * Credentials carry 256 random bits, so a single SHA-256 is a sound way to
 * store them: there is nothing to brute-force that a slow hash (scrypt)
 * would protect, and verifying stays cheap enough for the gateway's hot path
 * (about 1 µs per proxy-auth check).
 */
import { createCipheriv, createDecipheriv, createHmac, hash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { makeDirectory } from "../files/make-directory.js";

/** `prefix` + `hexBytes` random bytes in lowercase hex: ids people can read and paste. */
export function randomId(prefix: string, hexBytes = 8): string {
  return `${prefix}${randomBytes(hexBytes).toString("hex")}`;
}

/** `prefix` + 32 random bytes in base64url: a credential's secret part. */
export function randomSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString("base64url")}`;
}

/** One-shot `crypto.hash` (Node ≥ 20.12): no Hash object per call, about a third cheaper on the gateway's hot path. */
export function hashSecret(secret: string): Buffer {
  return hash("sha256", secret, "buffer");
}

/** Compares a presented secret with a stored hash in time independent of where they differ. */
export function secretMatches(presented: string, storedHash: Buffer): boolean {
  const hash = hashSecret(presented);
  return hash.length === storedHash.length && timingSafeEqual(hash, storedHash);
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Reads the 256-bit secrets key, creating it (mode 0600) on first use. The
 * key never goes into the database, so a copied or leaked `state.db` holds
 * only ciphertext; back the key file up separately.
 */
export function loadOrCreateKey(path: string): Buffer {
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) chmodSync(path, 0o600);
    const key = Buffer.from(readFileSync(path, "utf8").trim(), "base64");
    if (key.length !== KEY_BYTES) throw new Error(`the secrets key file ${path} is corrupt: expected ${KEY_BYTES} bytes in base64`);
    return key;
  }
  makeDirectory(dirname(path), 0o700);
  const key = randomBytes(KEY_BYTES);
  writeFileSync(path, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  return key;
}

/**
 * A fingerprint of the secrets key that reveals nothing of it (an HMAC of
 * a fixed text): stored in the database, it lets a node tell whether its
 * key is the one the platform's secrets are sealed with.
 */
export function keyFingerprint(key: Buffer): string {
  return createHmac("sha256", key).update("berth secrets key check v1").digest("base64url");
}

/**
 * AES-256-GCM: `nonce ‖ tag ‖ ciphertext`. `context` (e.g. `workspace/name`)
 * is authenticated but not stored, so a ciphertext copied onto another
 * secret's row does not decrypt.
 */
export function seal(key: Buffer, plaintext: string, context: string): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(Buffer.from(context));
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([nonce, cipher.getAuthTag(), ciphertext]);
}

export function open(key: Buffer, sealed: Buffer, context: string): string {
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, NONCE_BYTES));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(sealed.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
}

/** Seals and opens small secrets under one key, each use of the key under its own context (see `sealer`). */
export interface Sealer {
  seal(plaintext: string, context: string): Buffer;
  /** Throws when `sealed` was not sealed by this key under this context (or was altered). */
  open(sealed: Buffer, context: string): string;
}

/**
 * `seal`/`open` with `key`, every context prefixed by `use` (e.g.
 * `berth-dashboard-session`), so nothing sealed for one use of the key
 * opens as another's.
 */
export function sealer(key: Buffer, use: string): Sealer {
  return {
    seal: (plaintext, context) => seal(key, plaintext, `${use}:${context}`),
    open: (sealed, context) => open(key, sealed, `${use}:${context}`),
  };
}
