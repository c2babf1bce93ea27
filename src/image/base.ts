/**
 * The two layers under every image: Debian bookworm (debootstrap, minbase
 * variant), built once per image store, and Node.js (the host's own node
 * binary and npm, so a bookworm glibc fits; its version and hash are part of
 * the layer's key and recorded in the image's labels).
 *
 * Both are made by the server itself, from fixed inputs (the Debian archive
 * checks its signatures; node is the binary running this server), so unlike
 * user steps they do not run in a build sandbox. Their files are then
 * shifted into the image id range like every layer's.
 */
import { createHash } from "node:crypto";
import { createReadStream, chmodSync, cpSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { findExecutable } from "../sandbox/tools.js";
import { IMAGE_ID_BASE } from "../sandbox/ids.js";
import { run, type ImageStore } from "./store.js";
import { layerKey, type ImageConfig } from "./steps.js";

/** Bump when what the base layers contain changes, so old stores build new ones. */
const BASE_FORMAT = 1;

export const DEBIAN_SUITE = "bookworm";

/** The Debian mirror debootstrap downloads from (env BERTH_DEBIAN_MIRROR). */
export function debianMirror(): string {
  return process.env.BERTH_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
}

export function debianStep() {
  return { kind: "debootstrap", suite: DEBIAN_SUITE, variant: "minbase", mirror: debianMirror(), format: BASE_FORMAT };
}

/** The environment of every image: where programs are, a UTF-8 locale, and a writable HOME (/tmp: nothing else is writable at run time). */
export const BASE_CONFIG: ImageConfig = {
  env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", HOME: "/tmp" },
  workdir: "/",
  labels: {},
};

export type Progress = (line: string) => void;

/** Lines of one debootstrap phase (retrieving, extracting, unpacking ...) between two counts of it. */
const PHASE_COUNT_EVERY = 25;

/**
 * debootstrap's output, cut down for a terminal: it prints two or three
 * lines per package (about 300 for minbase). Each phase ("Retrieving",
 * "Extracting", "Unpacking" ...) is shown once as it begins and then as a
 * count every PHASE_COUNT_EVERY packages; everything else (warnings,
 * errors, the phases without a package) passes whole.
 */
export function debootstrapProgress(print: Progress): Progress {
  let phase: string | undefined;
  let count = 0;
  return (line) => {
    // One package per line: "Retrieving adduser 3.134", "Extracting adduser...". Phases ("Unpacking the base system...") have more words.
    const verb = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) [^ .]\S*?(?:\.\.\.| \S+)$/.exec(line)?.[1];
    if (!verb) return print(line);
    if (verb === "Validating") return;
    if (verb !== phase) {
      phase = verb;
      count = 0;
      print(`I: ${verb} packages...`);
    }
    count += 1;
    if (count % PHASE_COUNT_EVERY === 0) print(`I: ${verb} packages: ${count}`);
  };
}

/** Builds the Debian layer unless the store has it; returns its key, and whether it was built now. */
export async function ensureDebianLayer(store: ImageStore, progress: Progress): Promise<{ key: string; built: boolean }> {
  const step = debianStep();
  const key = layerKey(null, step);
  const description = `debian ${DEBIAN_SUITE} (debootstrap --variant=minbase)`;
  const built = await store.lock(key, () => store.has(key), async () => {
    const debootstrap = findExecutable("debootstrap", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    if (!debootstrap) throw new Error("Image.debianSlim() needs debootstrap to build its base once: apt-get install debootstrap");
    const started = Date.now();
    progress(`  ${description}: building (once per image store; a few minutes)`);
    const work = store.tmpDir("debian");
    try {
      const target = join(work, "diff");
      await run(debootstrap, ["--variant=minbase", DEBIAN_SUITE, target, step.mirror], debootstrapProgress((line) => progress(`    ${line}`)));
      tidyDebian(target);
      shiftOwnership(target);
      store.commit(
        {
          key,
          parent: null,
          step,
          description,
          empty: false,
          config: { ...BASE_CONFIG, labels: { "berth.base": `debian ${DEBIAN_SUITE} minbase` } },
          createdAt: Date.now(),
          buildMs: Date.now() - started,
        },
        target,
      );
      return true;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
  return { key, built: built === true };
}

/**
 * What debootstrap leaves that an image should not carry: package caches and
 * lists (apt-get update fetches fresh ones), device nodes (a sandbox gets
 * its own /dev), the host's resolver and name. And what every sandbox binds
 * over: /etc/hosts and /etc/resolv.conf must exist as files.
 */
function tidyDebian(root: string): void {
  for (const dir of ["var/cache/apt/archives", "var/lib/apt/lists", "dev", "var/log"]) {
    for (const name of safeList(join(root, dir))) {
      if (name === "partial" || name === "lock") continue;
      rmSync(join(root, dir, name), { recursive: true, force: true });
    }
  }
  rmSync(join(root, "etc", "resolv.conf"), { force: true });
  writeFileSync(join(root, "etc", "resolv.conf"), "");
  writeFileSync(join(root, "etc", "hostname"), "berth\n");
  writeFileSync(join(root, "etc", "hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost\n");
  for (const file of ["etc/resolv.conf", "etc/hostname", "etc/hosts"]) chmodSync(join(root, file), 0o644);
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

const hashes = new Map<string, string>();

/** SHA-256 of the node binary, remembered per (path, size, mtime). */
async function fileHash(path: string): Promise<string> {
  const stat = statSync(path);
  const id = `${path}:${stat.size}:${stat.mtimeMs}`;
  const known = hashes.get(id);
  if (known) return known;
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const digest = hash.digest("hex");
  hashes.set(id, digest);
  return digest;
}

/** The npm that ships with this node (nodesource and nodejs.org layouts: <prefix>/lib/node_modules/npm). */
function hostNpm(): string | undefined {
  const dir = join(dirname(process.execPath), "..", "lib", "node_modules", "npm");
  return existsSync(join(dir, "package.json")) ? dir : undefined;
}

/** Builds the Node.js layer on `parent` unless the store has it; returns its key, and whether it was built now. */
export async function ensureNodeLayer(store: ImageStore, parent: string, progress: Progress): Promise<{ key: string; built: boolean }> {
  const npm = hostNpm();
  const npmVersion = npm ? (JSON.parse(readFileSync(join(npm, "package.json"), "utf8")) as { version: string }).version : null;
  const step = { kind: "node", version: process.version, sha256: await fileHash(process.execPath), npm: npmVersion, format: BASE_FORMAT };
  const key = layerKey(parent, step);
  const description = `node ${process.version}${npmVersion ? `, npm ${npmVersion}` : ""}`;
  const built = await store.lock(key, () => store.has(key), async () => {
    const started = Date.now();
    progress(`  ${description}: adding the host's node binary`);
    const work = store.tmpDir("node");
    try {
      const diff = join(work, "diff");
      mkdirSync(join(diff, "usr", "local", "bin"), { recursive: true });
      cpSync(process.execPath, join(diff, "usr", "local", "bin", "node"));
      chmodSync(join(diff, "usr", "local", "bin", "node"), 0o755);
      if (npm) {
        mkdirSync(join(diff, "usr", "local", "lib", "node_modules"), { recursive: true });
        cpSync(npm, join(diff, "usr", "local", "lib", "node_modules", "npm"), { recursive: true, verbatimSymlinks: true });
        symlinkSync("../lib/node_modules/npm/bin/npm-cli.js", join(diff, "usr", "local", "bin", "npm"));
        symlinkSync("../lib/node_modules/npm/bin/npx-cli.js", join(diff, "usr", "local", "bin", "npx"));
      }
      // berth's directory: npmInstall's packages, and the mount points of a container's agent, bundle and socket.
      mkdirSync(join(diff, "berth", "app"), { recursive: true });
      mkdirSync(join(diff, "berth", "sock"));
      writeFileSync(join(diff, "berth", "package.json"), `${JSON.stringify({ name: "berth-image", private: true }, null, 2)}\n`);
      writeFileSync(join(diff, "berth", "agent.mjs"), "");
      shiftOwnership(diff);
      const base = store.meta(parent).config;
      store.commit(
        {
          key,
          parent,
          step,
          description,
          empty: false,
          config: { ...base, labels: { ...base.labels, "berth.node.version": process.version } },
          createdAt: Date.now(),
          buildMs: Date.now() - started,
        },
        diff,
      );
      return true;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
  return { key, built: built === true };
}

/**
 * Moves every owner into the image id range (uid N → IMAGE_ID_BASE + N), as
 * the build sandbox's user namespace sees them. chown clears setuid bits, so
 * modes are put back.
 */
export function shiftOwnership(root: string): void {
  const shift = (path: string) => {
    const stat = lstatSync(path);
    if (stat.uid >= IMAGE_ID_BASE) return;
    lchownSync(path, IMAGE_ID_BASE + stat.uid, IMAGE_ID_BASE + stat.gid);
    if (!stat.isSymbolicLink()) chmodSync(path, stat.mode & 0o7777);
    if (stat.isDirectory()) for (const name of readdirSync(path)) shift(join(path, name));
  };
  shift(root);
}
