/** Unit tests of the platform's cryptography: sealing, credentials, the key file. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, chmodSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { randomBytes } from "node:crypto";
import { hashSecret, loadOrCreateKey, open, randomSecret, seal, sealer, secretMatches } from "../src/control/crypto.js";
import { SecretService } from "../src/control/secrets.js";
import { SqliteStore } from "../src/control/store/sqlite.js";

test("sealed values open only with the same key and context", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-crypto-"));
  try {
    const key = loadOrCreateKey(join(dir, "k"));
    const other = loadOrCreateKey(join(dir, "other"));
    const sealed = seal(key, '{"A":"value"}', "ws/a");
    assert.ok(!sealed.toString("latin1").includes("value"));
    assert.equal(open(key, sealed, "ws/a"), '{"A":"value"}');
    assert.throws(() => open(key, sealed, "ws/b"), "a row copied onto another secret does not open");
    assert.throws(() => open(other, sealed, "ws/a"), "another key does not open it");
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1]! ^= 1;
    assert.throws(() => open(key, tampered, "ws/a"), "tampering is detected");
    assert.notDeepEqual(seal(key, "same", "c"), seal(key, "same", "c"), "every seal uses a fresh nonce");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a sealer of the secrets key for another use: what it seals opens only for that use, never as a secret", async (t) => {
  const key = randomBytes(32);
  const sessions = sealer(key, "berth-dashboard");
  const sealed = sessions.seal("bt_credential", "session:ab");
  assert.equal(sessions.open(sealed, "session:ab"), "bt_credential");
  assert.throws(() => sessions.open(sealed, "session:cd"));
  assert.throws(() => sealer(key, "other-use").open(sealed, "session:ab"));
  assert.throws(() => open(key, sealed, "session:ab"), "the use is part of the context");
  const home = mkdtempSync(join(tmpdir(), "berth-crypto-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const store = SqliteStore.inHome(home);
  t.after(() => store.close());
  const secrets = await SecretService.open(store.security, key, join(home, "key"));
  assert.equal(secrets.sealer("berth-dashboard").open(sealed, "session:ab"), "bt_credential", "the service hands out the same key");
  assert.throws(() => secrets.sealer("berth-secret"), /own sealing context/);
});

test("the key file is created with mode 0600, reused, tightened if loosened, and refused if corrupt", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-crypto-"));
  try {
    const path = join(dir, "sub", "secrets.key");
    const key = loadOrCreateKey(path);
    assert.equal(key.length, 32);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(loadOrCreateKey(path), key);
    chmodSync(path, 0o644);
    loadOrCreateKey(path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    writeFileSync(path, "short");
    assert.throws(() => loadOrCreateKey(path), /corrupt/);
    assert.ok(readFileSync(path, "utf8") === "short", "a corrupt key is never overwritten");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("credentials: 256 random bits, compared by hash", () => {
  const secret = randomSecret("ws-");
  assert.match(secret, /^ws-[A-Za-z0-9_-]{43}$/);
  assert.notEqual(randomSecret("ws-"), secret);
  assert.ok(secretMatches(secret, hashSecret(secret)));
  assert.ok(!secretMatches(`${secret}x`, hashSecret(secret)));
  assert.ok(!secretMatches("", hashSecret(secret)));
});
