/**
 * The disk stays flat (issue 10, item 6), through the real platform:
 * versions older than the last `keepVersions` (10) lose their bundles and
 * run folders, so 100 deploys take the room of 10, and rolling back to a
 * pruned version says it is gone; a socket is removed when its container
 * ends, so a crash loop leaves none; an app `berth serve` ran leaves
 * nothing behind when it stops, on an embedded platform or on a server.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { bundleApp } from "../src/bundler/bundle.js";
import { berth, tempHome } from "./support/cli.js";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { waitFor } from "./support/wait.js";

const APP = (answer: string) => `
import { App } from "berthjs";
const app = new App("versions");
export const f = app.function().webEndpoint(() => ${JSON.stringify(answer)});
`;

/**
 * Bytes of every file under `dir`, but for the SQLite write-ahead log
 * (`wal`: SQLite bounds it itself, checkpointing at ~4 MiB; the version
 * rows, ~1 KiB each, are in it until then).
 */
function du(dir: string, wal = false): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const isWal = entry.name.endsWith("-wal") || entry.name.endsWith("-shm");
    if (entry.isDirectory()) total += du(path, wal);
    else if (entry.isFile() && isWal === wal) total += statSync(path).size;
  }
  return total;
}

const count = (dir: string) => (existsSync(dir) ? readdirSync(dir).length : 0);

test("100 deploys: bundles and run folders of the last 10 versions are kept, $BERTH_HOME stays flat, a pruned version's rollback says it is gone", async (t) => {
  const platform = await startPlatform(t);
  const bundle = await bundleApp(tempApp(t, "versions.ts", APP("v")));
  const sizes: Record<number, number> = {};
  const walSizes: Record<number, number> = {};
  for (let n = 1; n <= 100; n += 1) {
    // A distinct bundle per version, as a real edit makes: the same code with a comment that differs.
    const code = Buffer.concat([bundle.code, Buffer.from(`\n// version ${n}\n`)]);
    const hash = (await import("../src/control/store/file-blobs.js")).sha256(code);
    await platform.client.uploadBlob(hash, code);
    const result = await platform.client.deploy({ bundleHash: hash, manifest: bundle.manifest, ephemeral: false }, () => {});
    assert.equal(result.version, n);
    if (n === 1) assert.equal(await (await request(result.functions[0]!.url)).text(), '"v"');
    if (n % 10 === 0) sizes[n] = du(platform.home);
    if (n % 10 === 0) walSizes[n] = du(platform.home, true);
  }
  t.diagnostic(`$BERTH_HOME without the WAL, by versions deployed: ${JSON.stringify(sizes)}; the WAL: ${JSON.stringify(walSizes)}`);
  assert.equal(count(join(platform.home, "blobs", "sha256")), 10, "the bundles of the last 10 versions");
  assert.equal(count(join(platform.home, "run")), 10, "the run folders of the last 10 versions");
  assert.ok(sizes[100]! < sizes[10]! + 256 * 1024, `100 versions take about the room of 10: ${JSON.stringify(sizes)}`);

  // The current version still serves; the last 10 roll back; older ones are gone, and the error says so.
  const url = (await platform.client.listApps())[0]!.functions[0]!.url;
  assert.equal((await request(url)).status, 200);
  const back = await platform.client.rollback("versions", 91, () => {});
  assert.equal(back.version, 101);
  await assert.rejects(platform.client.rollback("versions", 3, () => {}), /version 3 of app "versions" is gone: .*last 10 versions.*--keep-versions/);
});

test("a crash loop leaves no sockets behind: each is removed when its container ends", async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(
    await platform.deploy(
      tempApp(
        t,
        "crash.ts",
        `import { App } from "berthjs";
const app = new App("crashing");
export const f = app.function().webEndpoint(() => { setTimeout(() => process.exit(3), 10); return "bye"; });
`,
      ),
    ),
    "f",
  );
  for (let i = 0; i < 10; i += 1) {
    const response = await request(url);
    await response.body?.cancel();
  }
  await waitFor("the crashes to be noticed", async () => (await platform.client.stats("crashing")).functions[0]!.pools[0]!.ready === 0 || undefined, 10_000);
  // This process's platform keeps its containers' sockets in tmpdir()/berth-run-<pid>-<start time>-<n>.
  const folders = readdirSync(tmpdir()).filter((name) => name.startsWith(`berth-run-${process.pid}-`));
  assert.equal(folders.length, 1, "the platform's socket folder");
  const sockets = readdirSync(join(tmpdir(), folders[0]!)).filter((file) => file.endsWith(".sock"));
  assert.deepEqual(sockets, [], "no socket of an ended container is left");
});

test("berth serve leaves nothing behind: reloads and Ctrl-C keep no bundle or run folder of the app", async (t) => {
  const home = tempHome(t);
  const file = tempApp(t, "served.ts", APP("first"));
  const serve = berth(t, ["serve", file, "--port", "0", "--no-typecheck"], { BERTH_HOME: home });
  await serve.waitFor(/Watching for changes/, 60_000);
  for (let n = 2; n <= 4; n += 1) {
    writeFileSync(file, APP(`reload ${n}`));
    await serve.waitFor(new RegExp(`Reloaded \\(version ${n}\\)`), 60_000);
  }
  serve.child.kill("SIGINT");
  assert.equal(await serve.exited, 0, serve.output());
  // What stays is what serve shares with a server on the same home: the image cache, tokens and secrets (state.db, secrets.key),
  // and the home's node id (node-id).
  const shared = /^(images|state\.db(-wal|-shm)?|secrets\.key|config\.json|node-id)$/;
  const left = readdirSync(home).filter((name) => !shared.test(name));
  const leftovers = left.flatMap((name) => (statSync(join(home, name)).isDirectory() ? listAll(join(home, name)).map((f) => `${name}/${f}`) : [name]));
  assert.deepEqual(leftovers, [], "no bundle, run folder or socket of the served app");
});

test("serve --server: when the served app stops, the server drops its bundles and run folders", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(t, "served.ts", APP("first"));
  await platform.deploy(file, { ephemeral: true });
  writeFileSync(file, APP("second"));
  await platform.deploy(file, { ephemeral: true });
  assert.equal(count(join(platform.home, "blobs", "sha256")), 2);
  await platform.client.stopApp("versions", true);
  assert.equal(count(join(platform.home, "blobs", "sha256")), 0, "its bundles are gone");
  assert.equal(count(join(platform.home, "run")), 0, "its run folders are gone");
});

/** Files (not folders) under `dir`, as paths relative to it. */
function listAll(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listAll(join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  );
}
