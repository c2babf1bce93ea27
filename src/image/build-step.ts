/**
 * Runs one image step in a build sandbox and captures what it changed as a
 * layer. The parent layer's root file system is the lower layer of an
 * overlay mount (made by the server, which is root); the step writes into
 * its upper directory, which becomes the new layer's diff.
 *
 * The sandbox (src/sandbox, the same mechanics as a container's): a user
 * namespace in which the step is root but which is nobody on the host
 * (sandbox/userns.ts), its own pid/mount/IPC/UTS/network namespaces, outbound
 * network through slirp4netns (package registries) with the host's loopback
 * cut, cgroup limits, a fresh /tmp, and an environment of exactly the
 * image's variables plus a few build defaults: nothing of the server's.
 */
import { chownSync, chmodSync, copyFileSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CgroupTree } from "../sandbox/cgroups.js";
import type { SandboxMount } from "../sandbox/bwrap-args.js";
import { killSandbox, launchSandbox } from "../sandbox/launch.js";
import { attachNetwork, SANDBOX_RESOLV_CONF, type NetworkAttachment } from "../sandbox/network.js";
import type { SandboxTools } from "../sandbox/tools.js";
import { createMappedUserNamespace } from "../sandbox/userns.js";
import { IMAGE_ID_BASE } from "../sandbox/ids.js";
import { readLines } from "../sandbox/lines.js";
import { run } from "./store.js";
import { BUILD_INPUT, type ImageConfig } from "./steps.js";

const MiB = 1024 * 1024;
/** Where a build step finds the extra certificate authorities (on its tmpfs, so in no layer). */
const BUILD_CA = "/tmp/berth-build-ca.pem";

/** A build step's limits: generous (compilers, npm), but bounded. */
const BUILD_LIMITS = { memoryBytes: 4096 * MiB, cpu: null, pids: 4096 };
const BUILD_TMP_MiB = 2048;
/** A step still running after this is killed: builds must end. */
const BUILD_TIMEOUT_MS = 60 * 60 * 1000;
/** Lines of output kept to show with a failure. */
const TAIL_LINES = 30;

/**
 * What root inside a build step may do, within its own user namespace: what
 * package managers need (apt drops to its `_apt` user, dpkg chowns files),
 * as in Docker's default set; nothing that reaches the host.
 */
const BUILD_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_SETFCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
];

/** Defaults every build step gets under the image's own variables. */
const BUILD_ENV = {
  HOME: "/root",
  DEBIAN_FRONTEND: "noninteractive",
  npm_config_cache: "/tmp/.npm",
  npm_config_update_notifier: "false",
};

export interface BuildStepOptions {
  tools: SandboxTools;
  cgroups: CgroupTree;
  /** The parent layer's whole file system (read-only lower layer). */
  lower: string;
  /** A scratch directory of the store's (removed by the caller); the diff is made in it. */
  work: string;
  script: string;
  args: string[];
  config: ImageConfig;
  /** Host path of a file the step reads at BUILD_INPUT. */
  input?: string;
  /** Host path of extra certificate authorities build steps trust (a TLS-intercepting proxy's); see LayeredBuilderOptions.caFile. */
  caFile?: string;
  /** Each line of output, as it comes. */
  onLine(line: string): void;
}

export class BuildStepError extends Error {
  constructor(
    message: string,
    /** The last lines of the step's output. */
    readonly tail: string[],
  ) {
    super(message);
  }
}

/** Runs the step; returns the directory holding its diff (inside `work`). */
export async function runBuildStep(options: BuildStepOptions): Promise<string> {
  const upper = join(options.work, "upper");
  const overlayWork = join(options.work, "overlay-work");
  const merged = join(options.work, "merged");
  for (const dir of [upper, overlayWork, merged]) mkdirSync(dir);
  // The merged root takes the upper directory's owner and mode: the parent's root directory's.
  const root = lstatSync(options.lower);
  chownSync(upper, root.uid, root.gid);
  chmodSync(upper, root.mode & 0o7777);
  await run("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    // No redirects, metacopy or index: the upper directory must be a plain diff (files, dirs, whiteouts).
    `lowerdir=${options.lower},upperdir=${upper},workdir=${overlayWork},redirect_dir=off,metacopy=off,index=off,xino=off`,
    merged,
  ]);
  let opaque: string[] = [];
  try {
    // Copied next to the build, where the sandbox's user may read them (the originals may be in a home only root can enter).
    const mounts = [];
    if (options.input) mounts.push({ source: readable(options.input, join(options.work, "input.tar")), target: BUILD_INPUT, writable: false });
    if (options.caFile) mounts.push({ source: readable(options.caFile, join(options.work, "ca.pem")), target: BUILD_CA, writable: false });
    await sandboxed(options, merged, mounts);
    opaque = findOpaqueDirectories(options.lower, upper, merged);
  } finally {
    await run("umount", [merged]).catch(() => run("umount", ["-l", merged]));
  }
  toOciWhiteouts(upper, opaque);
  const diff = join(options.work, "diff");
  renameSync(upper, diff);
  return diff;
}

function readable(source: string, copy: string): string {
  copyFileSync(source, copy);
  chmodSync(copy, 0o644);
  return copy;
}

async function sandboxed(options: BuildStepOptions, merged: string, mounts: SandboxMount[]): Promise<void> {
  const userns = await createMappedUserNamespace(options.tools.setpriv, options.tools.unshare);
  const cgroup = options.cgroups.create(`build-${Date.now().toString(36)}`, BUILD_LIMITS);
  let network: NetworkAttachment | undefined;
  const tail: string[] = [];
  try {
    const launched = await launchSandbox({
      bwrap: options.tools.bwrap,
      userNamespaceFd: userns.fd,
      // The namespace's owner, whose uid is root inside it.
      runAs: { uid: IMAGE_ID_BASE, gid: IMAGE_ID_BASE },
      control: true,
      cgroup,
      sandbox: {
        root: merged,
        rootWritable: true,
        mounts,
        dataFiles: [{ content: SANDBOX_RESOLV_CONF, target: "/etc/resolv.conf" }],
        tmpfs: [
          { target: "/tmp", sizeBytes: BUILD_TMP_MiB * MiB },
          { target: "/dev/shm", sizeBytes: 64 * MiB },
        ],
        uid: 0,
        gid: 0,
        capabilities: BUILD_CAPABILITIES,
        hostname: "berth-build",
        env: {
          ...options.config.env,
          ...BUILD_ENV,
          ...buildOverrides(options.config.env),
          ...(options.caFile ? { NODE_EXTRA_CA_CERTS: BUILD_CA, SSL_CERT_FILE: BUILD_CA } : {}),
        },
        cwd: options.config.workdir,
        // The gate: say "started" on descriptor 3, wait for the network, then run the step without descriptor 3.
        command: ["/bin/sh", "-c", `echo started >&3; read -r go <&3; exec 3<&-; ${options.script}`, "sh", ...options.args],
      },
    });
    userns.close();
    for (const stream of [launched.child.stdout!, launched.child.stderr!]) {
      readLines(stream, (line) => {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        options.onLine(line);
      });
    }
    const control = launched.control!;
    await new Promise<void>((resolve, reject) => {
      control.once("data", () => resolve());
      void launched.exited.then(() => reject(new BuildStepError("the build sandbox exited before the step started", tail)));
    });
    network = await attachNetwork(options.tools.slirp4netns, launched.pid);
    control.write("go\n");
    const timer = setTimeout(() => killSandbox(launched.child), BUILD_TIMEOUT_MS);
    const exit = await launched.exited;
    clearTimeout(timer);
    if (exit.code !== 0) {
      const how = exit.code === null ? `was killed (${exit.signal})` : cgroup.outOfMemory() ? "ran out of memory (4096 MiB)" : `exited with code ${exit.code}`;
      throw new BuildStepError(`the step ${how}`, tail);
    }
  } finally {
    userns.close();
    network?.close();
    await cgroup.remove();
  }
}

/** The image's own HOME (/tmp at run time) would send root's files to the build's tmpfs: builds keep /root unless the image set another. */
function buildOverrides(env: Record<string, string>): Record<string, string> {
  return env.HOME && env.HOME !== "/tmp" ? { HOME: env.HOME } : {};
}

/**
 * Directories the step removed and made again hide everything below them
 * in the lower layer; overlayfs marks them with an xattr Node cannot read.
 * They are recognised instead by what the merged view no longer shows: an
 * upper directory whose lower twin has entries that are neither in the
 * merged view nor whited out individually.
 */
function findOpaqueDirectories(lower: string, upper: string, merged: string): string[] {
  const opaque: string[] = [];
  const walk = (relative: string) => {
    const upperNames = readdirSync(join(upper, relative));
    const lowerStat = lstatSync(join(lower, relative), { throwIfNoEntry: false });
    if (relative && lowerStat?.isDirectory()) {
      const mergedNames = new Set(readdirSync(join(merged, relative)));
      const whitedOut = new Set(upperNames.filter((name) => isWhiteout(join(upper, relative, name))));
      const hidden = readdirSync(join(lower, relative)).some((name) => !mergedNames.has(name) && !whitedOut.has(name));
      if (hidden) opaque.push(relative);
    }
    for (const name of upperNames) {
      if (lstatSync(join(upper, relative, name)).isDirectory()) walk(join(relative, name));
    }
  };
  walk("");
  return opaque;
}

function isWhiteout(path: string): boolean {
  const stat = lstatSync(path);
  return stat.isCharacterDevice() && stat.rdev === 0;
}

/** overlayfs whiteouts (0:0 character devices) become OCI's `.wh.<name>` files; opaque directories get `.wh..wh..opq`. */
function toOciWhiteouts(upper: string, opaque: string[]): void {
  const walk = (relative: string) => {
    for (const name of readdirSync(join(upper, relative))) {
      const path = join(upper, relative, name);
      if (isWhiteout(path)) {
        rmSync(path);
        marker(join(upper, relative, `.wh.${name}`));
      } else if (lstatSync(path).isDirectory()) {
        walk(join(relative, name));
      }
    }
  };
  walk("");
  for (const dir of opaque) marker(join(upper, dir, ".wh..wh..opq"));
}

/** An empty file owned by the image's root, like everything else in a layer. */
function marker(path: string): void {
  writeFileSync(path, "");
  chownSync(path, IMAGE_ID_BASE, IMAGE_ID_BASE);
}
