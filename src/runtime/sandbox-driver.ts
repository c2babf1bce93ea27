/**
 * The `sandbox` runtime: each container is a bubblewrap sandbox on its
 * image's read-only root filesystem (see src/sandbox for the mechanics):
 * mount, pid, IPC, UTS, network and user namespaces of its own, a host uid of
 * its own, cgroup limits, a size-limited /tmp, outbound network through
 * slirp4netns (or none), and nothing of the host, the server or other
 * containers in reach. What it sees of berth:
 *
 *   /berth/agent.mjs   the agent, read-only (one file, dist/agent.mjs)
 *   /berth/app/app.mjs the bundle, read-only, copied in when the sandbox is given a function
 *   /berth/sock/       the only directory shared with the host: the agent's socket
 *
 * The socket directory is the container's until its agent is ready; then it
 * is sealed (owned by root, read-only for the container) and the socket is
 * checked to be a socket the container made, so the gateway can never be
 * pointed at another container's socket through a link planted there.
 *
 * Cold starts: a sandbox is started generic (agent idle, network attached)
 * and only later given a function, so the driver keeps `warmPerImage` spares
 * for each of the `warmImages` most recently used (image, network) pairs; a
 * start then pays for the bundle's import and little else.
 */
import type { ChildProcess } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { randomBytes } from "node:crypto";
import { BerthError, messageOf, systemCode } from "../errors/codes.js";
import { AGENT_BUNDLE } from "../paths.js";
import type { CgroupLimits, CgroupTree, Cgroup } from "../sandbox/cgroups.js";
import { allocateContainerUid, CONTAINER_UID_INSIDE, releaseContainerUid, SANDBOX_GROUP } from "../sandbox/ids.js";
import { killSandbox, launchSandbox } from "../sandbox/launch.js";
import { attachNetwork, SANDBOX_RESOLV_CONF, type NetworkAttachment } from "../sandbox/network.js";
import type { SandboxTools } from "../sandbox/tools.js";
import { AgentHandle } from "./agent-handle.js";
import {
  startupFailure,
  type Container,
  type ContainerEndpoint,
  type ContainerExit,
  type ContainerImage,
  type ContainerSpec,
  type LogSink,
  type RuntimeDriver,
} from "./types.js";

const MiB = 1024 * 1024;

export interface SandboxDriverOptions {
  tools: SandboxTools;
  cgroups: CgroupTree;
  /** Generic sandboxes kept started per recently used image. Default 2. */
  warmPerImage?: number;
  /** How many recently used (image, network) pairs keep spares. Default 4. */
  warmImages?: number;
  /** Size of each container's writable /tmp, in MiB. Default 512. */
  tmpMiB?: number;
  /** Processes and threads a container may have at once. Default 512. */
  pids?: number;
  /** Memory limit (MiB) of a spare until it is given a function with its own. Default 1024. */
  spareMemoryMiB?: number;
}

/** A container's /dev/shm, in MiB (POSIX shared memory; counted against its memory limit like /tmp). */
const SHM_MiB = 64;
/** How often live containers are checked for running out of memory (cgroup v1: their processes wait at the limit until then). */
const OOM_CHECK_MS = 250;

/** The agent is in a sandbox at these paths; the image's node layer made them exist. */
const INSIDE = {
  node: "/usr/local/bin/node",
  agent: "/berth/agent.mjs",
  appDir: "/berth/app",
  bundle: "/berth/app/app.mjs",
  sockDir: "/berth/sock",
  socket: "/berth/sock/agent.sock",
  muxSocket: "/berth/sock/mux.sock",
};

const HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\tberth\n";

interface Sandbox {
  uid: number;
  dir: string;
  cgroup: Cgroup;
  /** Resolves with the agent once it is idle and the network (if any) attached; rejects with why the sandbox could not get there. */
  prepared: Promise<AgentHandle>;
  /** Resolves when the sandbox is gone and cleaned up. */
  exited: Promise<ContainerExit>;
  /** Ends the sandbox and everything in it. */
  kill(): void;
  /** Where its output goes once it is given a function. */
  log?: LogSink;
  memoryMiB: number;
  /** Set when the driver kills the sandbox for a reason its exit code cannot tell. */
  killedFor?: string;
  alive: boolean;
  /** kill() was called, perhaps before bwrap was even running. */
  killed: boolean;
  network?: NetworkAttachment;
}

export class SandboxDriver implements RuntimeDriver {
  readonly name = "sandbox";
  private readonly root: string;
  private readonly agentFile: string;
  private readonly warm = new Map<string, Sandbox[]>();
  private readonly running = new Set<Sandbox>();
  /** Warm-pool keys, most recently used first. */
  private recent: string[] = [];
  private readonly images = new Map<string, { image: ContainerImage; network: boolean }>();
  private readonly oomTimer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: SandboxDriverOptions) {
    // bwrap runs as each container's own unprivileged uid, so every directory it reads mounts from must let the sandbox group through.
    sweepStaleRoots();
    this.root = mkdtempSync(join(tmpdir(), `berth-sandboxes-${process.pid}-`));
    chownSync(this.root, 0, SANDBOX_GROUP);
    chmodSync(this.root, 0o710);
    this.agentFile = join(this.root, "agent.mjs");
    copyFileSync(AGENT_BUNDLE, this.agentFile);
    chownSync(this.agentFile, 0, SANDBOX_GROUP);
    chmodSync(this.agentFile, 0o640);
    this.oomTimer = setInterval(() => this.checkOom(), OOM_CHECK_MS);
    this.oomTimer.unref();
  }

  prepare(image: ContainerImage, network: boolean): void {
    if (this.closed) return;
    this.touch(image, network);
    this.refill();
  }

  async start(spec: ContainerSpec, log: LogSink): Promise<Container> {
    if (this.closed) throw startupFailure("the runtime is shutting down");
    if (!spec.image.rootfs) throw startupFailure("the sandbox runtime needs an image with a root filesystem");
    const key = this.touch(spec.image, spec.network);
    let sandbox: Sandbox;
    try {
      sandbox = this.warm.get(key)?.shift() ?? this.spawn(key, spec.image.rootfs, spec.network);
    } catch (error) {
      throw startupFailure(`the sandbox could not start: ${messageOf(error)}`);
    }
    sandbox.log = log;
    this.running.add(sandbox);
    void sandbox.exited.then(() => this.running.delete(sandbox));
    try {
      const agent = await sandbox.prepared;
      this.limit(sandbox, spec);
      // The bundle, and its source map beside it if it has one (for stack traces in the user's files).
      for (const [source, target] of [[spec.bundlePath, "app.mjs"], [`${spec.bundlePath}.map`, "app.mjs.map"]] as const) {
        if (target === "app.mjs.map" && !existsSync(source)) continue;
        const copy = join(sandbox.dir, "app", target);
        copyFileSync(source, copy);
        chownSync(copy, sandbox.uid, SANDBOX_GROUP);
        chmodSync(copy, 0o400);
      }
      const reported = await agent.load({
        type: "load",
        bundlePath: INSIDE.bundle,
        functionName: spec.functionName,
        cwd: spec.cwd,
        socketPath: INSIDE.socket,
        muxSocketPath: INSIDE.muxSocket,
        env: spec.env,
        params: spec.params,
        startupTimeoutMs: spec.startupTimeoutMs,
        isolatedNetwork: true,
      });
      // The agent's word only says whether it serves the multiplexed socket (its handler's kind); the paths are ours.
      const muxOffered = "muxSocketPath" in reported && reported.muxSocketPath !== undefined;
      const endpoint = this.seal(sandbox, muxOffered);
      return {
        id: spec.id,
        endpoint,
        exited: sandbox.exited,
        stop: (graceMs) => agent.stop(graceMs),
        probe: (inFlight, graceMs) => agent.probe(inFlight, graceMs),
      };
    } catch (error) {
      sandbox.kill();
      if (error instanceof BerthError) throw error;
      throw startupFailure(`the sandbox could not start: ${messageOf(error)}`);
    } finally {
      this.refill();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.oomTimer);
    const all = [...[...this.warm.values()].flat(), ...this.running];
    this.warm.clear();
    for (const sandbox of all) sandbox.kill();
    await Promise.all(all.map((sandbox) => sandbox.exited));
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Marks (image, network) as just used; returns its warm-pool key. */
  private touch(image: ContainerImage, network: boolean): string {
    const key = `${image.id}:${network ? "net" : "nonet"}`;
    this.images.set(key, { image, network });
    this.recent = [key, ...this.recent.filter((k) => k !== key)];
    for (const old of this.recent.splice(this.options.warmImages ?? 4)) {
      for (const sandbox of this.warm.get(old) ?? []) sandbox.kill();
      this.warm.delete(old);
      this.images.delete(old);
    }
    return key;
  }

  private refill(): void {
    if (this.closed) return;
    for (const key of this.recent) {
      const spares = this.warm.get(key) ?? [];
      this.warm.set(key, spares);
      const { image, network } = this.images.get(key)!;
      try {
        while (spares.length < (this.options.warmPerImage ?? 2)) spares.push(this.spawn(key, image.rootfs!, network));
      } catch {
        // A start that cannot even be set up says why when a function asks for it; spares are not retried in a loop.
        return;
      }
    }
  }

  private spawn(key: string, rootfs: string, network: boolean): Sandbox {
    const name = randomBytes(6).toString("hex");
    const uid = allocateContainerUid();
    const dir = join(this.root, name);
    const memoryMiB = this.options.spareMemoryMiB ?? 1024;
    let cgroup: Cgroup;
    try {
      mkdirSync(join(dir, "app"), { recursive: true });
      mkdirSync(join(dir, "sock"));
      chownSync(dir, 0, SANDBOX_GROUP);
      chmodSync(dir, 0o710);
      chownSync(join(dir, "app"), 0, SANDBOX_GROUP);
      chmodSync(join(dir, "app"), 0o750);
      chownSync(join(dir, "sock"), uid, SANDBOX_GROUP);
      chmodSync(join(dir, "sock"), 0o700);
      cgroup = this.options.cgroups.create(name, this.cgroupLimits(memoryMiB, null));
      cgroup.stopWholeOnOutOfMemory();
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      releaseContainerUid(uid);
      throw error;
    }
    let resolveExited!: (exit: ContainerExit) => void;
    let bwrap: ChildProcess | undefined;
    const sandbox: Sandbox = {
      uid,
      dir,
      cgroup,
      memoryMiB,
      alive: true,
      killed: false,
      prepared: undefined as never,
      exited: new Promise((resolve) => (resolveExited = resolve)),
      kill() {
        sandbox.killed = true;
        if (bwrap) killSandbox(bwrap);
        cgroup.kill();
      },
    };
    let finished = false;
    const finish = async (exit: ContainerExit) => {
      if (finished) return;
      finished = true;
      sandbox.alive = false;
      const reason = sandbox.killedFor ?? (cgroup.outOfMemory() ? outOfMemory(sandbox.memoryMiB) : undefined);
      sandbox.network?.close();
      await cgroup.remove().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      releaseContainerUid(uid);
      resolveExited(reason ? { ...exit, reason } : exit);
    };
    sandbox.prepared = (async () => {
      const launched = await launchSandbox({
        bwrap: this.options.tools.bwrap,
        runAs: { uid, gid: SANDBOX_GROUP },
        control: true,
        cgroup,
        sandbox: {
          root: rootfs,
          rootWritable: false,
          mounts: [
            { source: this.agentFile, target: INSIDE.agent, writable: false },
            { source: join(dir, "app"), target: INSIDE.appDir, writable: false },
            { source: join(dir, "sock"), target: INSIDE.sockDir, writable: true },
          ],
          dataFiles: [{ content: HOSTS, target: "/etc/hosts" }, ...(network ? [{ content: SANDBOX_RESOLV_CONF, target: "/etc/resolv.conf" }] : [])],
          tmpfs: [
            { target: "/tmp", sizeBytes: (this.options.tmpMiB ?? 512) * MiB },
            { target: "/dev/shm", sizeBytes: SHM_MiB * MiB },
          ],
          uid: CONTAINER_UID_INSIDE,
          gid: CONTAINER_UID_INSIDE,
          capabilities: [],
          hostname: "berth",
          env: {},
          cwd: "/",
          command: [INSIDE.node, INSIDE.agent],
        },
      }).catch(async (error: Error) => {
        await finish({ code: null, signal: null });
        throw startupFailure(error.message);
      });
      bwrap = launched.child;
      void launched.exited.then(finish);
      // Killed while bwrap was starting (the driver closing): nothing must run on.
      if (sandbox.killed) killSandbox(launched.child);
      const agent = new AgentHandle({ child: launched.child, control: launched.control!, kill: () => sandbox.kill(), exited: sandbox.exited });
      agent.log = { write: (chunk, stream) => sandbox.log?.write(chunk, stream), end: (stream) => sandbox.log?.end(stream) };
      await agent.idle;
      // After the agent is up: bwrap sets up the namespace's loopback until just before it starts the command.
      if (network) sandbox.network = await attachNetwork(this.options.tools.slirp4netns, launched.pid);
      return agent;
    })();
    sandbox.prepared.catch(() => sandbox.kill());
    void sandbox.exited.then(() => {
      const spares = this.warm.get(key);
      const index = spares?.indexOf(sandbox) ?? -1;
      if (index >= 0) spares!.splice(index, 1);
    });
    return sandbox;
  }

  /** Applies the function's limits to a spare it takes (a spare runs under spareMemoryMiB until then). */
  private limit(sandbox: Sandbox, spec: ContainerSpec): void {
    try {
      sandbox.cgroup.setLimits(this.cgroupLimits(spec.limits.memoryMiB, spec.limits.cpu));
      sandbox.memoryMiB = spec.limits.memoryMiB;
    } catch (error) {
      throw startupFailure(`could not apply the limits (memory ${spec.limits.memoryMiB} MiB): ${(error as Error).message}`);
    }
  }

  private cgroupLimits(memoryMiB: number, cpu: number | null): CgroupLimits {
    return { memoryBytes: memoryMiB * MiB, cpu, pids: this.options.pids ?? 512 };
  }

  /**
   * Takes the socket directory away from the container and checks the socket
   * is one (not a link to somewhere else on the host) that the container made.
   */
  private seal(sandbox: Sandbox, withMux: boolean): ContainerEndpoint {
    const sockDir = join(sandbox.dir, "sock");
    chownSync(sockDir, 0, SANDBOX_GROUP);
    chmodSync(sockDir, 0o750);
    const socketPath = join(sockDir, basename(INSIDE.socket));
    const muxSocketPath = join(sockDir, basename(INSIDE.muxSocket));
    for (const path of withMux ? [socketPath, muxSocketPath] : [socketPath]) {
      const stat = lstatSync(path, { throwIfNoEntry: false });
      if (!stat?.isSocket() || stat.uid !== sandbox.uid) {
        throw startupFailure("container failed to start: its agent socket is not a socket it created");
      }
    }
    return withMux ? { socketPath, muxSocketPath } : { socketPath };
  }

  /** A container out of memory is killed whole, with its reason (see Cgroup.stopWholeOnOutOfMemory). */
  private checkOom(): void {
    for (const sandbox of this.running) {
      if (sandbox.killedFor || !sandbox.alive || !sandbox.cgroup.outOfMemory()) continue;
      // The pool logs why, with the exit's reason.
      sandbox.killedFor = outOfMemory(sandbox.memoryMiB);
      sandbox.kill();
    }
  }
}

/** Removes the sandbox directories of servers that died without cleaning up. */
function sweepStaleRoots(): void {
  for (const name of readdirSync(tmpdir())) {
    const match = /^berth-sandboxes-(\d+)-/.exec(name);
    if (!match) continue;
    try {
      process.kill(Number(match[1]), 0);
    } catch (error) {
      if (systemCode(error) === "ESRCH") rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

function outOfMemory(limitMiB: number): string {
  return `out of memory (limit ${limitMiB} MiB)`;
}
