/**
 * Control groups: the memory, CPU and process limits of a sandbox, its OOM
 * kills, and a way to kill everything in it. Works on cgroup v1 (one
 * hierarchy per controller, as on this project's development machine) and
 * v2 (one unified hierarchy), whichever the host has the controllers on.
 *
 * Groups are made below the server's own cgroup, never beside it, so the
 * containers stay inside whatever limits the server itself runs under:
 * `<own>/berth-<pid>-<tag>/<sandbox>`. A server that died without cleaning up
 * leaves `berth-<pid>-*` behind; the next one removes them.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { systemCode } from "../errors/codes.js";

export interface CgroupLimits {
  /** Bytes of memory (no swap) before the kernel's OOM killer acts inside the group. */
  memoryBytes: number;
  /** CPU cores the group may use (0.5 = half a core), or null for no cap: fair shares with everyone else. */
  cpu: number | null;
  /** Processes and threads at once. */
  pids: number;
}

/** Where this process's cgroups are, per the host's cgroup version. */
export type CgroupLayout =
  | { version: 1; dirs: { memory: string; cpu: string; pids: string } }
  | { version: 2; dir: string };

export type CgroupDetection = { ok: true; layout: CgroupLayout } | { ok: false; problem: string };

/** CFS period for CPU quotas: 100 ms, the kernel's default; `cpu: 0.5` becomes 50 ms of CPU per 100 ms. */
export const CPU_PERIOD_US = 100_000;

interface Mount {
  root: string;
  point: string;
  type: string;
  superOptions: string[];
}

/** Parses /proc/self/mountinfo lines (fields before " - ": id, parent, dev, root, point, ...; after: type, source, options). */
export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    const separator = line.indexOf(" - ");
    if (separator < 0) continue;
    const before = line.slice(0, separator).split(" ");
    const after = line.slice(separator + 3).split(" ");
    mounts.push({ root: unescapeMount(before[3]!), point: unescapeMount(before[4]!), type: after[0]!, superOptions: (after[2] ?? "").split(",") });
  }
  return mounts;
}

function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Parses /proc/self/cgroup: `hierarchy:controllers:path` per line → path by controller ("" for v2's unified line). */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    if (match[1] === "") paths.set("", match[2]!);
    for (const controller of match[1]!.split(",")) if (controller) paths.set(controller, match[2]!);
  }
  return paths;
}

/**
 * Finds this process's cgroup directories. v1 when memory, cpu and pids each
 * have a v1 hierarchy (a "hybrid" host's cgroup2 mount then has none of
 * them); otherwise v2 when its root offers memory and pids.
 */
export function detectCgroups(
  mountinfo = safeRead("/proc/self/mountinfo"),
  procCgroup = safeRead("/proc/self/cgroup"),
  readControllers = (dir: string) => safeRead(join(dir, "cgroup.controllers")),
): CgroupDetection {
  const mounts = parseMountinfo(mountinfo);
  const paths = parseProcCgroup(procCgroup);
  const v1 = (controller: string) => {
    const mount = mounts.find((m) => m.type === "cgroup" && m.superOptions.includes(controller));
    const path = paths.get(controller);
    if (!mount || path === undefined) return undefined;
    const relative = path.startsWith(mount.root) ? path.slice(mount.root.length) : path;
    return join(mount.point, relative);
  };
  const [memory, cpu, pids] = [v1("memory"), v1("cpu"), v1("pids")];
  if (memory && cpu && pids) return { ok: true, layout: { version: 1, dirs: { memory, cpu, pids } } };
  const unified = mounts.find((m) => m.type === "cgroup2");
  const path = paths.get("");
  if (unified && path !== undefined) {
    const controllers = readControllers(unified.point).split(/\s+/);
    if (controllers.includes("memory") && controllers.includes("pids")) {
      const relative = path.startsWith(unified.root) ? path.slice(unified.root.length) : path;
      return { ok: true, layout: { version: 2, dir: join(unified.point, relative) } };
    }
  }
  return {
    ok: false,
    problem: "no usable cgroups: the sandbox runtime needs the memory, cpu and pids controllers (cgroup v1 hierarchies or cgroup v2)",
  };
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * The files to write, in order, for `limits`. v1's memsw limit must never be
 * below the memory limit, so when the limit grows memsw goes first.
 * `current` is the group's present memory limit in bytes (v1 only).
 */
export function limitWrites(version: 1 | 2, limits: CgroupLimits, options: { current?: number; memsw?: boolean; swapMax?: boolean } = {}) {
  const writes: Array<{ controller: "memory" | "cpu" | "pids"; file: string; value: string }> = [];
  const memory = String(limits.memoryBytes);
  if (version === 1) {
    const memoryWrites = [{ controller: "memory" as const, file: "memory.limit_in_bytes", value: memory }];
    if (options.memsw) {
      const memsw = { controller: "memory" as const, file: "memory.memsw.limit_in_bytes", value: memory };
      if (options.current !== undefined && limits.memoryBytes > options.current) memoryWrites.unshift(memsw);
      else memoryWrites.push(memsw);
    }
    writes.push(...memoryWrites);
    writes.push({ controller: "cpu", file: "cpu.cfs_period_us", value: String(CPU_PERIOD_US) });
    writes.push({ controller: "cpu", file: "cpu.cfs_quota_us", value: limits.cpu === null ? "-1" : String(cpuQuota(limits.cpu)) });
    writes.push({ controller: "pids", file: "pids.max", value: String(limits.pids) });
  } else {
    writes.push({ controller: "memory", file: "memory.max", value: memory });
    if (options.swapMax) writes.push({ controller: "memory", file: "memory.swap.max", value: "0" });
    // One OOM kill takes the whole group, as v1's periodic check does for the container.
    writes.push({ controller: "memory", file: "memory.oom.group", value: "1" });
    writes.push({ controller: "cpu", file: "cpu.max", value: `${limits.cpu === null ? "max" : cpuQuota(limits.cpu)} ${CPU_PERIOD_US}` });
    writes.push({ controller: "pids", file: "pids.max", value: String(limits.pids) });
  }
  return writes;
}

/** Microseconds per period: at least 1 ms, the kernel's minimum quota. */
function cpuQuota(cores: number): number {
  return Math.max(1000, Math.round(cores * CPU_PERIOD_US));
}

/** Reads the OOM-kill counter: v1 `memory.oom_control` ("oom_kill N"), v2 `memory.events` ("oom_kill N"). */
export function parseOomKills(text: string): number {
  const match = /^oom_kill (\d+)$/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/** v1 `memory.oom_control`: "under_oom 1" while the group's processes wait at its limit (with the kernel's OOM killer off). */
export function parseUnderOom(text: string): boolean {
  return /^under_oom 1$/m.test(text);
}

/** The cgroups of one server: a parent group below its own, with one child per sandbox. */
export class CgroupTree {
  private readonly parents: string[];
  private readonly controllerDir: (controller: "memory" | "cpu" | "pids", parent: string) => string;

  constructor(private readonly layout: CgroupLayout) {
    const tag = `berth-${process.pid}-${randomBytes(3).toString("hex")}`;
    if (layout.version === 1) {
      const dirs = layout.dirs;
      for (const dir of new Set(Object.values(dirs))) sweepStale(dir);
      this.parents = [...new Set(Object.values(dirs))].map((dir) => join(dir, tag));
      this.controllerDir = (controller) => join(dirs[controller], tag);
    } else {
      sweepStale(layout.dir);
      enableV2Controllers(layout.dir);
      const parent = join(layout.dir, tag);
      this.parents = [parent];
      this.controllerDir = () => parent;
    }
    for (const parent of this.parents) mkdirSync(parent, { recursive: true });
    if (layout.version === 2) writeFileSync(join(this.parents[0]!, "cgroup.subtree_control"), "+memory +pids +cpu");
  }

  get version(): 1 | 2 {
    return this.layout.version;
  }

  create(name: string, limits: CgroupLimits): Cgroup {
    const dirs = {
      memory: join(this.controllerDir("memory", ""), name),
      cpu: join(this.controllerDir("cpu", ""), name),
      pids: join(this.controllerDir("pids", ""), name),
    };
    for (const dir of new Set(Object.values(dirs))) mkdirSync(dir, { recursive: true });
    const group = new Cgroup(this.layout.version, dirs);
    group.setLimits(limits);
    return group;
  }

  /** Removes the parent groups, killing anything still in them. */
  async close(): Promise<void> {
    for (let attempt = 0; attempt < 100 && this.parents.some((parent) => !removeTree(parent)); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export class Cgroup {
  private readonly unique: string[];

  constructor(
    private readonly version: 1 | 2,
    private readonly dirs: { memory: string; cpu: string; pids: string },
  ) {
    this.unique = [...new Set(Object.values(dirs))];
  }

  setLimits(limits: CgroupLimits): void {
    const memsw = this.version === 1 && existsSync(join(this.dirs.memory, "memory.memsw.limit_in_bytes"));
    const swapMax = this.version === 2 && existsSync(join(this.dirs.memory, "memory.swap.max"));
    const current = this.version === 1 ? Number(safeRead(join(this.dirs.memory, "memory.limit_in_bytes"))) : undefined;
    for (const write of limitWrites(this.version, limits, { current, memsw, swapMax })) {
      writeFileSync(join(this.dirs[write.controller], write.file), write.value);
    }
  }

  /** Moves a process (and its future children) into the group, on every controller. */
  addProcess(pid: number): void {
    for (const dir of this.unique) writeFileSync(join(dir, "cgroup.procs"), String(pid));
  }

  /**
   * Makes running out of memory stop the whole group rather than one of its
   * processes. v2 has it (memory.oom.group, written with the limits). v1
   * does not: there the kernel's OOM killer is turned off for the group, so
   * a process that hits the limit waits, and whoever watches `outOfMemory()`
   * kills the group (the sandbox driver, within a quarter of a second).
   */
  stopWholeOnOutOfMemory(): void {
    if (this.version === 1) writeFileSync(join(this.dirs.memory, "memory.oom_control"), "1");
  }

  /** Whether the group has run out of memory: a process OOM-killed, or (v1) waiting at its limit. */
  outOfMemory(): boolean {
    const text = safeRead(join(this.dirs.memory, this.version === 1 ? "memory.oom_control" : "memory.events"));
    return parseOomKills(text) > 0 || (this.version === 1 && parseUnderOom(text));
  }

  /** Bytes of memory the group uses now (page cache and tmpfs included). */
  memoryUsage(): number {
    return Number(safeRead(join(this.dirs.memory, this.version === 1 ? "memory.usage_in_bytes" : "memory.current"))) || 0;
  }

  /** SIGKILLs every process in the group. */
  kill(): void {
    if (this.version === 2 && existsSync(join(this.dirs.pids, "cgroup.kill"))) {
      try {
        writeFileSync(join(this.dirs.pids, "cgroup.kill"), "1");
        return;
      } catch {}
    }
    killProcs(this.dirs.pids);
  }

  /** Kills what is left and removes the group; waits (up to 5 s) for the kernel to let go of exiting processes. */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      this.kill();
      try {
        for (const dir of this.unique) if (existsSync(dir)) rmdirSync(dir);
        return;
      } catch (error) {
        if (systemCode(error) !== "EBUSY") throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function killProcs(dir: string): void {
  for (const pid of safeRead(join(dir, "cgroup.procs")).split("\n").filter(Boolean)) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {}
  }
}

/**
 * Kills what is in a group tree and removes it bottom-up. False while the
 * kernel still holds exiting processes there (EBUSY): try again shortly.
 */
function removeTree(dir: string): boolean {
  if (!existsSync(dir)) return true;
  let done = true;
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) done = removeTree(join(dir, entry.name)) && done;
  killProcs(dir);
  try {
    rmdirSync(dir);
    return done;
  } catch (error) {
    if (systemCode(error) === "ENOENT") return true;
    return false;
  }
}

/** Removes `berth-<pid>-*` groups of servers that are no longer running. */
function sweepStale(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    const match = /^berth-(\d+)-[0-9a-f]+$/.exec(name);
    if (!match || isAlive(Number(match[1]))) continue;
    removeTree(join(dir, name));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return systemCode(error) === "EPERM";
  }
}

/**
 * cgroup v2's "no internal processes" rule: controllers can be handed to
 * child groups only by a group with no processes of its own. A server in its
 * own (delegated) group moves itself into a leaf beside its sandboxes first.
 */
function enableV2Controllers(dir: string): void {
  const wanted = ["memory", "pids", "cpu"];
  const enabled = safeRead(join(dir, "cgroup.subtree_control")).split(/\s+/);
  if (wanted.every((c) => enabled.includes(c))) return;
  const enable = () => writeFileSync(join(dir, "cgroup.subtree_control"), wanted.map((c) => `+${c}`).join(" "));
  try {
    enable();
    return;
  } catch (error) {
    if (systemCode(error) !== "EBUSY") throw error;
  }
  const leaf = join(dir, `berth-server-${process.pid}`);
  mkdirSync(leaf, { recursive: true });
  writeFileSync(join(leaf, "cgroup.procs"), String(process.pid));
  try {
    enable();
  } catch (error) {
    throw new Error(
      `cgroup v2: cannot hand the memory, pids and cpu controllers below ${dir} (${(error as Error).message}); ` +
        "run berth in a cgroup of its own, e.g. systemd-run --scope -p Delegate=yes berth server",
      { cause: error },
    );
  }
}
