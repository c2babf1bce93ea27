/**
 * The image builder's pure parts: what each step runs (user input only as
 * arguments, never in the script), how it changes the image's config, layer
 * keys, the SDK's checks of image steps, and the tar writer, read back by the
 * system's tar (long names, big ids, links, modes).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { debootstrapProgress } from "../src/image/base.js";
import { layerKey, planStep, type ImageConfig } from "../src/image/steps.js";
import { TarWriter, writeTree } from "../src/image/tar.js";
import { Image } from "../src/sdk/image.js";

const config: ImageConfig = { env: { PATH: "/usr/bin" }, workdir: "/", labels: {} };

test("steps: user input travels as arguments; env and workdir change the config; copies read their archive", () => {
  const apt = planStep({ kind: "apt", packages: ["python3", "curl=7.88.1-10+deb12u5"] }, config);
  assert.deepEqual(apt.args, ["python3", "curl=7.88.1-10+deb12u5"]);
  assert.match(apt.script!, /apt-get install -y -q --no-install-recommends -- "\$@"/);
  assert.equal(apt.description, "aptInstall python3 curl=7.88.1-10+deb12u5");

  const evil = "x; rm -rf / #";
  const run = planStep({ kind: "run", commands: [evil] }, config);
  assert.ok(!run.script!.includes(evil), "a command is an argument, not part of the script");
  assert.deepEqual(run.args, [evil]);
  assert.equal(run.display, evil);

  const npm = planStep({ kind: "npm", packages: ["hono@4"] }, config);
  assert.match(npm.script!, /cd \/berth; npm install .* -- "\$@"/);

  const env = planStep({ kind: "env", vars: { MODE: "prod" } }, config);
  assert.equal(env.script, undefined, "configuration only: no layer of files");
  assert.deepEqual(env.config.env, { PATH: "/usr/bin", MODE: "prod" });

  const workdir = planStep({ kind: "workdir", path: "app" }, { ...config, workdir: "/srv" });
  assert.equal(workdir.config.workdir, "/srv/app");
  assert.deepEqual(workdir.args, ["/srv/app"]);

  const dir = planStep({ kind: "copy", blob: "a".repeat(64), target: "/srv/static", directory: true }, config);
  assert.equal(dir.input, "a".repeat(64));
  assert.match(dir.script!, /tar -xf \/tmp\/berth-input\.tar --no-same-owner -C "\$1"/);
  const file = planStep({ kind: "copy", blob: "b".repeat(64), target: "/srv/config.json", directory: false }, config);
  assert.match(file.script!, /-C "\$\(dirname -- "\$1"\)"/);

  assert.throws(() => planStep({ kind: "local", source: "/x", target: "/y", directory: false }, config), /without being uploaded/);
});

test("layer keys: the same (parent, step) is the same layer; anything else is another", () => {
  const step = { kind: "run", commands: ["echo hi"] };
  assert.equal(layerKey("p", step), layerKey("p", { kind: "run", commands: ["echo hi"] }));
  assert.notEqual(layerKey("p", step), layerKey("q", step));
  assert.notEqual(layerKey("p", step), layerKey("p", { kind: "run", commands: ["echo ho"] }));
  assert.match(layerKey(null, step), /^[0-9a-f]{64}$/);
});

test("the SDK checks image steps when the app is imported", () => {
  assert.throws(() => Image.debianSlim().aptInstall("python3; rm -rf /"), /aptInstall: "python3; rm -rf \/" is not a Debian package name/);
  assert.throws(() => Image.debianSlim().npmInstall("--registry=http://evil"), /is an option, not a package/);
  assert.throws(() => Image.debianSlim().env({ "BAD NAME": "x" }), /not a valid environment variable name/);
  assert.throws(() => Image.debianSlim().addLocalFile("./a", "relative/path"), /needs an absolute path inside the image/);
  assert.throws(() => Image.debianSlim().workdir(""), /workdir needs a path/);
  const spec = Image.debianSlim().aptInstall("python3").addLocalDir("./public", "/srv/public/").toSpec();
  assert.deepEqual(spec.steps[0], { kind: "apt", packages: ["python3"] });
  assert.equal(spec.steps[1]!.kind, "local");
  assert.equal((spec.steps[1] as { target: string }).target, "/srv/public");
});

test("tar: the system's tar reads back names past 100 bytes, big ids, hard and symbolic links, modes and content", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "berth-tar-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, "tree");
  const deep = join(tree, "a".repeat(60), "b".repeat(60));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, "long-name.txt"), "deep");
  writeFileSync(join(tree, "script.sh"), "#!/bin/sh\n");
  chmodSync(join(tree, "script.sh"), 0o4755);
  linkSync(join(tree, "script.sh"), join(tree, "hardlink.sh"));
  symlinkSync("script.sh", join(tree, "link"));
  writeFileSync(join(tree, "big.bin"), Buffer.alloc(70_000, 7));

  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (chunk: Buffer) => chunks.push(chunk));
  const writer = new TarWriter(out);
  await writeTree(writer, tree, { ids: () => [1_600_000_123, 5] });
  await writer.finish();
  const archive = Buffer.concat(chunks);
  assert.equal(archive.length % 512, 0);
  writeFileSync(join(dir, "tree.tar"), archive);

  const listing = spawnSync("tar", ["-tvf", join(dir, "tree.tar"), "--numeric-owner"], { encoding: "utf8" });
  assert.equal(listing.status, 0, listing.stderr);
  assert.match(listing.stdout, /-rwsr-xr-x 1600000123\/5 .* hardlink\.sh\n/);
  assert.match(listing.stdout, /hrwsr-xr-x .* script\.sh link to hardlink\.sh/);
  assert.match(listing.stdout, /lrwxrwxrwx .* link -> script\.sh/);
  assert.match(listing.stdout, new RegExp(`${"a".repeat(60)}/${"b".repeat(60)}/long-name\\.txt`));

  const into = join(dir, "out");
  mkdirSync(into);
  const extracted = spawnSync("tar", ["-xf", join(dir, "tree.tar"), "-C", into]);
  assert.equal(extracted.status, 0, String(extracted.stderr));
  assert.equal(readFileSync(join(into, "a".repeat(60), "b".repeat(60), "long-name.txt"), "utf8"), "deep");
  assert.deepEqual(readFileSync(join(into, "big.bin")), Buffer.alloc(70_000, 7));
});

test("debootstrap's output is cut to its phases and a count every 25 packages; warnings and errors pass whole", () => {
  const printed: string[] = [];
  const progress = debootstrapProgress((line) => printed.push(line));
  const packages = Array.from({ length: 30 }, (_, i) => `pkg${i}`);
  progress("I: Retrieving InRelease ");
  for (const name of packages) {
    progress(`I: Retrieving ${name} 1.0-1`);
    progress(`I: Validating ${name} 1.0-1`);
  }
  progress("W: Cannot check Release signature; keyring file not available");
  for (const name of packages) progress(`I: Extracting ${name}...`);
  progress("I: Installing core packages...");
  progress("I: Unpacking the base system...");
  progress("E: Couldn't download packages: tzdata");
  assert.deepEqual(printed, [
    "I: Retrieving InRelease ",
    "I: Retrieving packages...",
    "I: Retrieving packages: 25",
    "W: Cannot check Release signature; keyring file not available",
    "I: Extracting packages...",
    "I: Extracting packages: 25",
    "I: Installing core packages...",
    "I: Unpacking the base system...",
    "E: Couldn't download packages: tzdata",
  ]);
});
