/**
 * What the sandbox runtime costs besides cold starts:
 *
 * 1. Memory per idle container: `containers` idle containers of the hello
 *    function on each runtime, in one run. For each container, the
 *    proportional set size (PSS: shared pages divided among their users) of
 *    every host process that is part of it (sandbox: bwrap's monitor, the
 *    namespace's first process, the agent, slirp4netns; process: the agent),
 *    and, for sandboxes, what its cgroup is charged.
 * 2. Image builds: `Image.debianSlim()` into an empty image store (debootstrap
 *    and the Node layer), the same again from cache, and one `aptInstall`
 *    layer on top.
 *
 *   npx tsx bench/sandbox.ts [containers=8] [--no-builds]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { LayeredImageBuilder } from "../src/image/layered-builder.js";
import { ImageStore } from "../src/image/store.js";
import type { RuntimeName } from "../src/server/runtime.js";
import { CgroupTree, detectCgroups } from "../src/sandbox/cgroups.js";
import { sandboxSupport } from "../src/sandbox/tools.js";
import { benchPlatform } from "./support/run.js";
import { printTable } from "./support/table.js";

const containers = Number(process.argv.slice(2).find((arg) => /^\d+$/.test(arg)) ?? 8);
const builds = !process.argv.includes("--no-builds");
const MiB = 1024 * 1024;

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function pids(): number[] {
  return readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number);
}

/** Proportional set size of a process, in bytes. */
function pss(pid: number): number {
  const match = /^Pss:\s+(\d+) kB$/m.exec(read(`/proc/${pid}/smaps_rollup`));
  return match ? Number(match[1]) * 1024 : 0;
}

function parent(pid: number): number {
  return Number(read(`/proc/${pid}/stat`).replace(/^.*\) /s, "").split(" ")[1]);
}

function cmdline(pid: number): string[] {
  return read(`/proc/${pid}/cmdline`).split("\0").filter(Boolean);
}

/** Processes of this run's sandboxes, per sandbox (named by its cgroup); with each sandbox's cgroup charge. */
function sandboxes(): Array<{ processes: number[]; charged: number }> {
  const detected = detectCgroups();
  if (!detected.ok) throw new Error(detected.problem);
  const memoryRoot = detected.layout.version === 1 ? detected.layout.dirs.memory : detected.layout.dir;
  const tree = readdirSync(memoryRoot).find((name) => name.startsWith(`berth-${process.pid}-`));
  if (!tree) return [];
  const all = pids();
  return readdirSync(join(memoryRoot, tree), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith("build-"))
    .map((entry) => {
      const dir = join(memoryRoot, tree, entry.name);
      const inside = read(join(dir, "cgroup.procs")).split("\n").filter(Boolean).map(Number);
      const first = inside.find((pid) => !inside.includes(parent(pid)));
      // Outside the cgroup: bwrap's monitor (the first process's parent) and the slirp4netns attached to it.
      const monitor = first === undefined ? [] : [parent(first)];
      const slirp = all.filter((pid) => first !== undefined && cmdline(pid)[0]?.endsWith("slirp4netns") && cmdline(pid).includes(String(first)));
      return {
        processes: [...inside, ...monitor, ...slirp],
        charged: Number(read(join(dir, detected.layout.version === 1 ? "memory.usage_in_bytes" : "memory.current"))),
      };
    });
}

async function idleMemory(runtime: RuntimeName): Promise<{ perContainer: number[]; charged: number[] }> {
  const platform = await benchPlatform(0, runtime);
  try {
    const before = new Set(pids());
    // `containers` requests at once of a function that takes one at a time: that many containers, then idle.
    await Promise.all(
      Array.from({ length: containers }, () =>
        request(`http://127.0.0.1:${platform.server.port}/?wait=1`, { headers: { host: platform.hosts.slow! } }).then((r) => r.body.text()),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    if (runtime === "sandbox") {
      const found = sandboxes().filter((sandbox) => sandbox.processes.length > 0);
      return { perContainer: found.map((s) => s.processes.reduce((sum, pid) => sum + pss(pid), 0)), charged: found.map((s) => s.charged) };
    }
    const agents = pids().filter((pid) => !before.has(pid) && parent(pid) === process.pid && cmdline(pid).some((arg) => arg.endsWith("agent.mjs")));
    return { perContainer: agents.map(pss), charged: [] };
  } finally {
    await platform.close();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const mib = (bytes: number) => (bytes / MiB).toFixed(1);

if (!sandboxSupport().ok) throw new Error("the sandbox runtime cannot run here");
const load = loadavg()[0]!.toFixed(2);
const processMemory = await idleMemory("process");
const sandboxMemory = await idleMemory("sandbox");
printTable(
  `Memory of an idle container of the hello function (${containers} containers per runtime, one run, load average ${load})`,
  ["runtime", "containers", "PSS per container, median MiB", "cgroup charge per container, median MiB"],
  [
    ["process (the agent)", String(processMemory.perContainer.length), mib(median(processMemory.perContainer)), "-"],
    ["sandbox (bwrap + agent + slirp4netns)", String(sandboxMemory.perContainer.length), mib(median(sandboxMemory.perContainer)), mib(median(sandboxMemory.charged))],
    ["sandbox overhead over process", "", mib(median(sandboxMemory.perContainer) - median(processMemory.perContainer)), ""],
  ],
);

if (builds) {
  const support = sandboxSupport();
  const detected = detectCgroups();
  if (!support.ok || !detected.ok) throw new Error("unreachable");
  const cgroups = new CgroupTree(detected.layout);
  const store = mkdtempSync(join(tmpdir(), "berth-bench-images-"));
  const builder = new LayeredImageBuilder({
    store: new ImageStore(store),
    tools: support.tools,
    cgroups,
    blobPath: () => undefined,
    caFile: process.env.BERTH_BUILD_CA_FILE || process.env.NODE_EXTRA_CA_CERTS || undefined,
  });
  const time = async (spec: Parameters<typeof builder.build>[0]) => {
    const t0 = performance.now();
    await builder.build(spec, () => {});
    return (performance.now() - t0) / 1000;
  };
  try {
    const buildLoad = loadavg()[0]!.toFixed(2);
    const cold = await time({ base: "debian-slim", steps: [] });
    const cached = await time({ base: "debian-slim", steps: [] });
    const apt = await time({ base: "debian-slim", steps: [{ kind: "apt", packages: ["python3"] }] });
    const aptCached = await time({ base: "debian-slim", steps: [{ kind: "apt", packages: ["python3"] }] });
    printTable(
      `Image builds into an empty image store (load average ${buildLoad})`,
      ["build", "seconds"],
      [
        ["Image.debianSlim(), cold: debootstrap minbase + the Node layer", cold.toFixed(1)],
        ["Image.debianSlim(), from cache", cached.toFixed(3)],
        [".aptInstall(\"python3\"), one new layer on the cached base", apt.toFixed(1)],
        [".aptInstall(\"python3\"), from cache", aptCached.toFixed(3)],
      ],
    );
  } finally {
    await cgroups.close();
    rmSync(store, { recursive: true, force: true });
  }
}
