/**
 * makeDirectory: parents made one at a time with the mode asked for, and
 * every path Node's recursive mkdir would spin on fails at once.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { makeDirectory } from "../src/files/make-directory.js";

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-mkdir-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function code(run: () => void): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as NodeJS.ErrnoException).code;
  }
  return undefined;
}

test("makes missing parents with the mode, and leaves what exists", (t) => {
  const root = scratch(t);
  makeDirectory(join(root, "a", "b", "c"), 0o700);
  for (const dir of ["a", "a/b", "a/b/c"]) assert.equal(statSync(join(root, dir)).mode & 0o777, 0o700, dir);
  mkdirSync(join(root, "open"), { mode: 0o755 });
  makeDirectory(join(root, "open"), 0o700);
  assert.equal(statSync(join(root, "open")).mode & 0o777, 0o755);
  makeDirectory(join(root, "a", "b", "c"));
});

test("a file in the way, a dangling symlink or a parent under /proc fails at once with the system's code", (t) => {
  const root = scratch(t);
  writeFileSync(join(root, "file"), "");
  assert.equal(code(() => makeDirectory(join(root, "file"))), "EEXIST");
  assert.equal(code(() => makeDirectory(join(root, "file", "below"))), "ENOTDIR");
  symlinkSync(join(root, "nowhere"), join(root, "dangling"));
  assert.equal(code(() => makeDirectory(join(root, "dangling", "below"))), "ENOENT");
  // Node's own `mkdirSync(path, { recursive: true })` never returns on these two.
  assert.equal(code(() => makeDirectory("/proc/no-such-process/berth")), "ENOENT");
});
