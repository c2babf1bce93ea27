/**
 * Layered images on the sandbox runtime, end to end: each step a layer built
 * in a build sandbox and cached by (parent, step), progress with timings,
 * nothing built the second time, a failing step named with its command and
 * output; what the steps made is what the container finds (apt and npm
 * packages, files from this machine, variables, working directory); `berth
 * image export` writes an OCI layout that umoci unpacks (verifying every
 * digest); `berth image list` and `prune` through the real CLI.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { bundleApp } from "../src/bundler/bundle.js";
import { findExecutable } from "../src/sandbox/tools.js";
import { berth } from "./support/cli.js";
import { request, tempApp } from "./support/platform.js";
import { privateImageCache, sandboxTest, startSandboxPlatform } from "./support/sandbox.js";

test("each step is a layer built once: progress with timings, then nothing rebuilt; the container finds what the steps made", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const marker = randomBytes(6).toString("hex");
  const local = mkdtempSync(join(tmpdir(), "berth-local-"));
  t.after(() => rmSync(local, { recursive: true, force: true }));
  writeFileSync(join(local, "config.json"), JSON.stringify({ marker }));
  mkdirSync(join(local, "static", "css"), { recursive: true });
  writeFileSync(join(local, "static", "index.html"), "<h1>static</h1>");
  writeFileSync(join(local, "static", "css", "site.css"), "body {}");
  writeFileSync(join(local, "static", "run.sh"), "#!/bin/sh\necho ran\n");
  chmodSync(join(local, "static", "run.sh"), 0o755);
  symlinkSync("index.html", join(local, "static", "home.html"));
  const source = (name: string) => `import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import isNumber from "is-number";
import { App, Image } from "berthjs";

const image = Image.debianSlim()
  .aptInstall("jq")
  .npmInstall("is-number@7.0.0")
  .workdir("/srv/app")
  .addLocalFile(${JSON.stringify(join(local, "config.json"))}, "/srv/app/config.json")
  .addLocalDir(${JSON.stringify(join(local, "static"))}, "/srv/app/static")
  .runCommands("echo ${marker} > built.txt", "mkdir -p data && echo second > data/second.txt")
  .env({ MODE: "layered" });

const app = new App(${JSON.stringify(name)}, { image });

export const look = app.function().webEndpoint(() => ({
  cwd: process.cwd(),
  mode: process.env.MODE,
  built: readFileSync("built.txt", "utf8").trim(),
  second: readFileSync("data/second.txt", "utf8").trim(),
  config: JSON.parse(readFileSync("/srv/app/config.json", "utf8")),
  static: [readFileSync("static/index.html", "utf8"), readFileSync("static/css/site.css", "utf8"), readFileSync("static/home.html", "utf8")],
  script: execFileSync("./static/run.sh", { encoding: "utf8" }).trim(),
  jq: execFileSync("jq", ["-n", "1 + 1"], { encoding: "utf8" }).trim(),
  isNumber: isNumber("42"),
}));
`;
  const progress: string[] = [];
  const first = await platform.deploy(tempApp(t, "layers.ts", source("layers-one")), { progress: (line) => progress.push(line) });
  const built = progress.join("\n");
  assert.match(built, /step 6\/7 runCommands echo [0-9a-f]+ > built\.txt && mkdir -p data/);
  assert.match(built, /step 6\/7 runCommands .*: done in \d+\.\d s/);
  assert.match(built, /step 4\/7 addLocalFile \/srv\/app\/config\.json/);
  assert.match(built, /step 5\/7 addLocalDir \/srv\/app\/static/);
  assert.match(built, /image [0-9a-f]{12} ready \(\d layers? built in \d+\.\d s\)/);

  const seen = (await (await request(platform.url(first, "look"))).json()) as Record<string, unknown>;
  assert.deepEqual(seen, {
    cwd: "/srv/app",
    mode: "layered",
    built: marker,
    second: "second",
    config: { marker },
    static: ["<h1>static</h1>", "body {}", "<h1>static</h1>"],
    script: "ran",
    jq: "2",
    isNumber: true,
  });

  // The same spec in another app builds nothing.
  const again: string[] = [];
  const second = await platform.deploy(tempApp(t, "layers.ts", source("layers-two")), { progress: (line) => again.push(line) });
  assert.equal(again.filter((line) => /^ {2}step /.test(line)).length, 7, again.join("\n"));
  assert.ok(again.filter((line) => /^ {2}step /.test(line)).every((line) => line.endsWith(": cached")), again.join("\n"));
  assert.match(again.join("\n"), /ready \(cached\)/);
  assert.equal((await request(platform.url(second, "look"))).status, 200);

  // A changed local file is a new layer from that step on; the steps before it stay cached.
  writeFileSync(join(local, "config.json"), JSON.stringify({ marker, changed: true }));
  const changed: string[] = [];
  await platform.deploy(tempApp(t, "layers.ts", source("layers-two")), { progress: (line) => changed.push(line) });
  assert.match(changed.join("\n"), /step 3\/7 workdir \/srv\/app: cached/);
  assert.match(changed.join("\n"), /step 4\/7 addLocalFile \/srv\/app\/config\.json: done in/);
});

test("a failing step fails the deploy with build_failed naming the step, its command and its output; the app keeps its version", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const app = (steps: string) => `import { App, Image } from "berthjs";
const app = new App("failing", { image: Image.debianSlim()${steps} });
export const f = app.function().webEndpoint(() => "ok");
`;
  const good = await platform.deploy(tempApp(t, "good.ts", app("")));
  const failure = await platform
    .deploy(tempApp(t, "bad.ts", app(`.env({ A: "1" }).runCommands("echo about to fail ${randomBytes(3).toString("hex")}", "exit 7")`)))
    .then(
      () => assert.fail("the deploy succeeded"),
      (error: Error) => error,
    );
  assert.equal((failure as { code?: string }).code, "build_failed");
  assert.match(failure.message, /^image build failed at step 2\/2 runCommands echo about to fail \w+ && exit 7: the step exited with code 7/);
  assert.match(failure.message, /\ncommand: echo about to fail \w+ && exit 7\n/);
  assert.match(failure.message, /last output:\n {2}\+ echo about to fail \w+\n {2}about to fail \w+\n {2}\+ exit 7/);
  assert.equal((await request(platform.url(good, "f"))).status, 200, "the previous version still serves");

  // A copy step is an uploaded archive: naming another blob (here the app's own bundle) is refused, not unpacked.
  const bundle = await bundleApp(tempApp(t, "good.ts", app("")));
  await platform.client.uploadBlob(bundle.hash, bundle.code);
  const manifest = structuredClone(bundle.manifest);
  manifest.functions[0]!.image.steps.push({ kind: "copy", blob: bundle.hash, target: "/stolen.js", directory: false });
  await assert.rejects(
    platform.client.deploy({ bundleHash: bundle.hash, manifest, ephemeral: false }, () => {}),
    /the files for \/stolen\.js \(blob [0-9a-f]{12}\) are not a tar archive/,
  );
});

test("berth image export writes an OCI layout that umoci unpacks; image list shows usage; prune removes what nothing runs", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t, { requireAuth: true, imageCache: privateImageCache(t) });
  const token = platform.server.bootstrapToken!;
  const cli = (...args: string[]) => berth(t, [...args, "--server", platform.server.url, "--token", token]);
  const marker = randomBytes(6).toString("hex");
  const result = await platform.deploy(
    tempApp(
      t,
      "exported.ts",
      `import isNumber from "is-number";
import { App, Image } from "berthjs";
const app = new App("exported", { image: Image.debianSlim().npmInstall("is-number@7.0.0").runCommands("echo ${marker} > /marker").env({ FLAVOUR: "oci" }) });
export const check = app.function().webEndpoint(() => isNumber(1));
`,
    ),
  );
  assert.equal((await request(platform.url(result, "check"))).status, 200);
  await platform.deploy(
    tempApp(t, "other.ts", `import { App, Image } from "berthjs";
const app = new App("short-lived", { image: Image.debianSlim().runCommands("echo ${marker} other > /other") });
export const f = app.function().webEndpoint(() => "ok");
`),
  );

  const out = join(mkdtempSync(join(tmpdir(), "berth-oci-")), "layout");
  t.after(() => rmSync(join(out, ".."), { recursive: true, force: true }));
  const exported = cli("image", "export", "exported", "check", out);
  assert.equal(await exported.exited, 0, exported.output());
  assert.match(exported.output(), /✓ Exported exported\/check to .*: OCI image layout, tag "exported-check", 5 layers/);

  // The layout, checked by hand: every blob is named by its digest, the config lists one diff id per layer.
  const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8")) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
  assert.deepEqual(JSON.parse(readFileSync(join(out, "oci-layout"), "utf8")), { imageLayoutVersion: "1.0.0" });
  assert.equal(index.manifests[0]!.annotations["org.opencontainers.image.ref.name"], "exported-check");
  const blob = (digest: string) => {
    const bytes = readFileSync(join(out, "blobs", "sha256", digest.slice(7)));
    assert.equal(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, digest);
    return bytes;
  };
  const manifest = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
  const config = JSON.parse(blob(manifest.config.digest).toString()) as {
    config: { Env: string[]; WorkingDir: string; Labels: Record<string, string> };
    rootfs: { diff_ids: string[] };
  };
  for (const layer of manifest.layers) assert.equal(blob(layer.digest).length, layer.size);
  assert.equal(config.rootfs.diff_ids.length, manifest.layers.length);
  assert.ok(config.config.Env.includes("FLAVOUR=oci"));
  assert.equal(config.config.Labels["berth.node.version"], process.version);
  assert.equal(config.config.Labels["berth.function"], "check");

  // umoci verifies each blob's digest and each layer's diff id as it unpacks.
  const umoci = findExecutable("umoci");
  if (umoci || process.env.BERTH_REQUIRE_SANDBOX) {
    assert.ok(umoci, "umoci is installed where sandbox tests are required (apt-get install umoci)");
    const bundle = join(out, "..", "bundle");
    const unpacked = spawnSync(umoci, ["unpack", "--image", `${out}:exported-check`, bundle], { encoding: "utf8" });
    assert.equal(unpacked.status, 0, unpacked.stderr);
    const rootfs = join(bundle, "rootfs");
    assert.equal(readFileSync(join(rootfs, "marker"), "utf8").trim(), marker);
    assert.ok(existsSync(join(rootfs, "berth", "node_modules", "is-number", "package.json")));
    assert.ok(existsSync(join(rootfs, "usr", "local", "bin", "node")));
    assert.ok(existsSync(join(rootfs, "etc", "debian_version")));
    assert.ok(readFileSync(join(rootfs, "berth", "app", "app.mjs"), "utf8").includes("exported"));
  } else {
    t.diagnostic("umoci is not installed: the layout was checked by its digests only (apt-get install umoci)");
  }

  // list: both images, with the apps running them; prune: only what nothing runs goes.
  const listed = cli("image", "list", "--json");
  assert.equal(await listed.exited, 0, listed.output());
  const images = JSON.parse(listed.output()) as Array<{ id: string; usedBy: string[]; steps: string[] }>;
  const exportedImage = images.find((image) => image.usedBy.includes("test/exported"));
  const otherImage = images.find((image) => image.usedBy.includes("test/short-lived"));
  assert.ok(exportedImage && otherImage, listed.output());
  assert.deepEqual(exportedImage.steps, ["npmInstall is-number@7.0.0", `runCommands echo ${marker} > /marker`, "env FLAVOUR"]);
  const table = cli("image", "list");
  assert.equal(await table.exited, 0);
  assert.match(table.output(), /IMAGE\s+SIZE\s+LAYERS\s+LAST USED\s+USED BY\s+STEPS/);

  await platform.client.stopApp("short-lived");
  const pruned = cli("image", "prune");
  assert.equal(await pruned.exited, 0, pruned.output());
  assert.match(pruned.output(), /✓ Removed \d+ image\(s\) and [1-9]\d* layer\(s\)/);
  const after = JSON.parse(await (async () => {
    const again = cli("image", "list", "--json");
    await again.exited;
    return again.output();
  })()) as Array<{ id: string }>;
  assert.ok(after.some((image) => image.id === exportedImage.id), "the running app's image stays");
  assert.ok(!after.some((image) => image.id === otherImage.id), "the stopped app's image is gone");
  assert.equal((await request(platform.url(result, "check"))).status, 200);
});
