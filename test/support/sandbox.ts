/**
 * Test support for the sandbox runtime: every test file shares one image
 * store (the Debian base is built once per machine, not per test), and a
 * machine that cannot run sandboxes skips these tests with the reason, or,
 * where BERTH_REQUIRE_SANDBOX is set (CI), fails them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { passThrough } from "../../src/image/store.js";
import { sandboxSupport } from "../../src/sandbox/tools.js";
import type { ServerOptions } from "../../src/server/start.js";
import { startPlatform, type TestPlatform } from "./platform.js";

/** One image store for every test file and run on this machine. */
export const TEST_IMAGE_CACHE = process.env.BERTH_TEST_IMAGE_CACHE ?? join(tmpdir(), "berth-test-images");

/** CA certificates build steps need on machines whose registries are reached through a TLS-intercepting proxy. */
export const TEST_BUILD_CA = process.env.BERTH_BUILD_CA_FILE || process.env.NODE_EXTRA_CA_CERTS || undefined;

const support = sandboxSupport();

/** Why sandbox tests cannot run here, or undefined when they can. Throws where they are required. */
export function sandboxUnavailable(): string | undefined {
  if (support.ok) return undefined;
  if (process.env.BERTH_REQUIRE_SANDBOX) throw new Error(`sandbox tests are required here (BERTH_REQUIRE_SANDBOX) but cannot run: ${support.problem}`);
  return `sandbox runtime unavailable: ${support.problem}`;
}

/** Options for `test()` that skip on a machine without sandboxes (and fail in CI). */
export function sandboxTest(): { skip?: string } {
  const reason = sandboxUnavailable();
  return reason ? { skip: reason } : {};
}

/** A real platform on the sandbox runtime, sharing the test image store. */
export function startSandboxPlatform(t: TestContext, options: Partial<ServerOptions> = {}): Promise<TestPlatform> {
  return startPlatform(t, { runtime: "sandbox", imageCache: TEST_IMAGE_CACHE, buildCaFile: TEST_BUILD_CA, ...options });
}

/**
 * An image store of a test's own (pruning the shared one would take images
 * from other test files; a node of a cluster test must build its own
 * layers), seeded with the shared one's Debian and Node layers (their
 * diffs, hard-linked: no debootstrap, no copy). Removed by `cleanup`.
 */
export function privateImageCache(cleanup: { after(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-images-"));
  cleanup.after(() => rmSync(dir, { recursive: true, force: true }));
  passThrough(dir);
  passThrough(join(dir, "layers"));
  const shared = join(TEST_IMAGE_CACHE, "layers");
  for (const key of readdirSync(shared)) {
    const meta = join(shared, key, "meta.json");
    if (!existsSync(meta) || !/"kind": "(debootstrap|node)"/.test(readFileSync(meta, "utf8"))) continue;
    passThrough(join(dir, "layers", key));
    writeFileSync(join(dir, "layers", key, "meta.json"), readFileSync(meta));
    const copy = spawnSync("cp", ["-a", "-l", join(shared, key, "diff"), join(dir, "layers", key, "diff")]);
    assert.equal(copy.status, 0, String(copy.stderr));
  }
  return dir;
}
