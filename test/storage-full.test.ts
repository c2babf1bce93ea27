/**
 * Storage errors say what could not be written, where, and why (issue 10,
 * item 8). `$BERTH_HOME` is put on a small tmpfs this test mounts (it needs
 * root or CAP_SYS_ADMIN, as in CI), filled to the last byte: uploads and
 * deploys answer 507 `storage_full` naming what they could not write, on
 * the API and in the CLI, leave no temporary file behind, and the apps
 * already running keep serving. A read-only or unusable home stops `berth
 * server` at start with the path and the reason.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, ftruncateSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { bundleApp } from "../src/bundler/bundle.js";
import { BerthError, systemCode } from "../src/errors/codes.js";
import { berth } from "./support/cli.js";
import { request, startPlatform, tempApp } from "./support/platform.js";

const app = (name: string) => `
import { App } from "berthjs";
const app = new App(${JSON.stringify(name)});
export const f = app.function().webEndpoint(() => ${JSON.stringify(name)});
`;

/** A fresh tmpfs of `size` (e.g. "16m"), unmounted after the test. */
function mountTmpfs(t: TestContext, size: string): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-disk-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir], { encoding: "utf8" });
  if (mounted.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`this test mounts a small tmpfs to fill it, which needs root or CAP_SYS_ADMIN: ${mounted.stderr.trim()}`);
  }
  t.after(() => {
    spawnSync("umount", ["-l", dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the file system of `dir` to the last byte with one file; `free(bytes)` gives some room back. */
function fill(dir: string): { free(bytes: number): void } {
  const path = join(dir, "filler");
  const fd = openSync(path, "w");
  let size = 0;
  for (let chunk = 1024 * 1024; chunk >= 512; ) {
    try {
      size += writeSync(fd, Buffer.alloc(chunk));
    } catch (error) {
      if (systemCode(error) !== "ENOSPC") throw error;
      chunk /= 2;
    }
  }
  return {
    free(bytes) {
      size = Math.max(0, size - bytes);
      ftruncateSync(fd, size);
      if (size === 0) closeSync(fd);
    },
  };
}

test("a full disk: uploads and deploys answer 507 storage_full naming what could not be written, in the API and the CLI; running apps keep serving", async (t) => {
  const home = mountTmpfs(t, "16m");
  const platform = await startPlatform(t, { home: join(home, "berth") });
  const running = platform.url(await platform.deploy(tempApp(t, "running.ts", app("running"))), "f");
  assert.equal(await (await request(running)).text(), '"running"');

  const disk = fill(home);
  const bundle = await bundleApp(tempApp(t, "late.ts", app("late")));
  await assert.rejects(platform.client.uploadBlob(bundle.hash, bundle.code), (error: unknown) => {
    assert.ok(error instanceof BerthError);
    assert.equal(error.code, "storage_full");
    assert.equal(error.status, 507);
    assert.match(error.message, /could not write the bundle .*blobs\/sha256\/[0-9a-f]{64}.*no space left/);
    return true;
  });
  const raw = await request(`${platform.server.url}/api/blobs/${bundle.hash}`, { method: "PUT", body: bundle.code, headers: platform.auth });
  assert.equal(raw.status, 507);
  assert.equal(((await raw.json()) as { error: { code: string } }).error.code, "storage_full");
  assert.deepEqual(
    readdirSync(join(home, "berth", "blobs", "sha256")).filter((name) => name.endsWith(".tmp")),
    [],
    "a failed write leaves no temporary file",
  );

  // The CLI says the same, in one line.
  const cli = berth(t, ["deploy", tempApp(t, "late.ts", app("late")), "--server", platform.server.url, "--no-typecheck"], { BERTH_TOKEN: platform.token });
  assert.equal(await cli.exited, 1);
  t.diagnostic(`berth deploy said:\n${cli.output()}`);
  assert.match(cli.output(), /berth: the server's disk is full: could not write the bundle/);
  assert.doesNotMatch(cli.output(), /Internal Server Error|berth: ENOSPC/);

  // The bundle fits, then the disk fills again: the deploy itself cannot be recorded.
  disk.free(512 * 1024);
  await platform.client.uploadBlob(bundle.hash, bundle.code);
  fill(home);
  await assert.rejects(platform.client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {}), (error: unknown) => {
    assert.ok(error instanceof BerthError);
    assert.equal(error.code, "storage_full");
    assert.match(error.message, /could not write (the state database|the run folder) .*(state\.db|run\/)/);
    return true;
  });

  assert.equal(await (await request(running)).text(), '"running"', "the running app kept serving");
});

test("a read-only or unusable home: berth server stops at start, naming the path and the reason", async (t) => {
  const readOnly = mountTmpfs(t, "1m");
  const remounted = spawnSync("mount", ["-o", "remount,ro", readOnly], { encoding: "utf8" });
  assert.equal(remounted.status, 0, remounted.stderr);
  const server = berth(t, ["server", "--port", "0", "--home", join(readOnly, "berth")]);
  assert.equal(await server.exited, 1);
  t.diagnostic(`berth server said: ${server.output()}`);
  assert.match(server.output(), new RegExp(`berth: cannot use ${join(readOnly, "berth")} as the state directory: read-only file system \\(EROFS\\)`));

  const notADirectory = berth(t, ["server", "--port", "0", "--home", "/etc/hostname/berth"]);
  assert.equal(await notADirectory.exited, 1);
  assert.match(notADirectory.output(), /berth: cannot use \/etc\/hostname\/berth as the state directory: a part of the path is not a directory \(ENOTDIR\)/);
});
