/**
 * The sandbox mechanics as pure logic: bubblewrap's command line for a
 * container and for a build step, cgroup detection from /proc's text and
 * the limit files written for v1 and v2 (v2 exercised on a directory
 * standing in for /sys/fs/cgroup, since this machine's controllers are v1),
 * output read line by line with a bound, and the agent's control channel.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type Socket } from "node:net";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { Channel } from "../src/agent/channel.js";
import { bwrapArgs, type SandboxArgs } from "../src/sandbox/bwrap-args.js";
import { CgroupTree, detectCgroups, limitWrites, parseOomKills, parseProcCgroup, parseUnderOom } from "../src/sandbox/cgroups.js";
import { readLines } from "../src/sandbox/lines.js";

const container: SandboxArgs = {
  root: "/images/layers/abc/rootfs",
  rootWritable: false,
  mounts: [
    { source: "/run/sandboxes/x/app", target: "/berth/app", writable: false },
    { source: "/run/sandboxes/x/sock", target: "/berth/sock", writable: true },
  ],
  dataFiles: [{ fd: 6, target: "/etc/hosts" }],
  tmpfs: [
    { target: "/tmp", sizeBytes: 512 * 1024 * 1024 },
    { target: "/dev/shm", sizeBytes: 64 * 1024 * 1024 },
  ],
  userNamespace: "new",
  uid: 1000,
  gid: 1000,
  capabilities: [],
  hostname: "berth",
  env: { PATH: "/usr/bin", SECRET: "not here" },
  cwd: "/",
  infoFd: 4,
  blockFd: 5,
  command: ["/usr/local/bin/node", "/berth/agent.mjs"],
};

/** The value after each occurrence of `flag`. */
function after(args: string[], flag: string, count = 1): string[][] {
  return args.flatMap((arg, index) => (arg === flag ? [args.slice(index + 1, index + 1 + count)] : []));
}

test("a container's bubblewrap: every namespace, a read-only root, sized tmpfs, read-only /dev, its own user, a clean environment", () => {
  const args = bwrapArgs(container);
  for (const flag of ["--die-with-parent", "--new-session", "--unshare-user", "--disable-userns", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]) {
    assert.ok(args.includes(flag), flag);
  }
  assert.ok(!args.includes("--share-net"), "never the host's network");
  assert.ok(!args.includes("--cap-add"), "no capabilities");
  assert.deepEqual(after(args, "--ro-bind", 2)[0], ["/images/layers/abc/rootfs", "/"]);
  assert.deepEqual(after(args, "--bind", 2), [["/run/sandboxes/x/sock", "/berth/sock"]], "the socket directory is the only writable mount");
  assert.deepEqual(after(args, "--size", 3), [
    [String(512 * 1024 * 1024), "--tmpfs", "/tmp"],
    [String(64 * 1024 * 1024), "--tmpfs", "/dev/shm"],
  ]);
  assert.ok(args.indexOf("--remount-ro") > args.indexOf("/dev/shm"), "/dev is made read-only after /dev/shm is mounted on it");
  assert.deepEqual(after(args, "--uid"), [["1000"]]);
  assert.ok(args.indexOf("--clearenv") < args.indexOf("--setenv"));
  assert.deepEqual(after(args, "--info-fd"), [["4"]]);
  assert.deepEqual(args.slice(args.indexOf("--") + 1), ["/usr/local/bin/node", "/berth/agent.mjs"]);
});

test("a build step's bubblewrap: a prepared user namespace, a writable root, the capabilities package managers need", () => {
  const args = bwrapArgs({ ...container, rootWritable: true, userNamespace: { fd: 7 }, uid: 0, gid: 0, capabilities: ["CAP_CHOWN", "CAP_SETUID"] });
  assert.deepEqual(after(args, "--userns"), [["7"]]);
  assert.ok(!args.includes("--unshare-user"));
  assert.deepEqual(after(args, "--bind", 2)[0], ["/images/layers/abc/rootfs", "/"]);
  assert.deepEqual(after(args, "--cap-add"), [["CAP_CHOWN"], ["CAP_SETUID"]]);
});

const V1_MOUNTINFO = `25 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 30 0:33 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const V1_CGROUP = `8:pids:/
4:memory:/process_api/fb27
1:cpu:/
0::/
`;

test("cgroups: v1 hierarchies win on a hybrid host; a pure v2 host is found by its controllers; none is a clear problem", () => {
  assert.deepEqual(detectCgroups(V1_MOUNTINFO, V1_CGROUP, () => ""), {
    ok: true,
    layout: { version: 1, dirs: { memory: "/sys/fs/cgroup/memory/process_api/fb27", cpu: "/sys/fs/cgroup/cpu", pids: "/sys/fs/cgroup/pids" } },
  });
  const v2 = `25 1 254:0 / / rw - ext4 /dev/vda rw\n30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n`;
  assert.deepEqual(detectCgroups(v2, "0::/system.slice/berth.service\n", () => "cpuset cpu io memory pids"), {
    ok: true,
    layout: { version: 2, dir: "/sys/fs/cgroup/system.slice/berth.service" },
  });
  const none = detectCgroups(v2, "0::/\n", () => "cpuset io");
  assert.equal(none.ok, false);
  assert.match(!none.ok ? none.problem : "", /memory, cpu and pids controllers/);
  assert.deepEqual([...parseProcCgroup("2:cpu,cpuacct:/a\n0::/b\n")], [["cpu", "/a"], ["cpuacct", "/a"], ["", "/b"]]);
});

test("cgroup limits: v1 memsw never below the limit, CPU quota per 100 ms period, pids; v2's single files", () => {
  const limits = { memoryBytes: 256 * 1024 * 1024, cpu: 0.5, pids: 512 };
  const growing = limitWrites(1, limits, { current: 128 * 1024 * 1024, memsw: true }).map((w) => w.file);
  assert.deepEqual(growing.slice(0, 2), ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]);
  const shrinking = limitWrites(1, limits, { current: 1024 * 1024 * 1024, memsw: true }).map((w) => w.file);
  assert.deepEqual(shrinking.slice(0, 2), ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]);
  assert.deepEqual(
    limitWrites(1, limits).filter((w) => w.controller !== "memory").map((w) => `${w.file}=${w.value}`),
    ["cpu.cfs_period_us=100000", "cpu.cfs_quota_us=50000", "pids.max=512"],
  );
  assert.equal(limitWrites(1, { ...limits, cpu: null }).find((w) => w.file === "cpu.cfs_quota_us")!.value, "-1");
  assert.deepEqual(
    limitWrites(2, limits, { swapMax: true }).map((w) => `${w.file}=${w.value}`),
    [`memory.max=${256 * 1024 * 1024}`, "memory.swap.max=0", "memory.oom.group=1", "cpu.max=50000 100000", "pids.max=512"],
  );
  assert.equal(limitWrites(2, { ...limits, cpu: null }).find((w) => w.file === "cpu.max")!.value, "max 100000");
  assert.equal(parseOomKills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 3);
  assert.equal(parseOomKills("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n"), 1);
  assert.equal(parseUnderOom("oom_kill_disable 1\nunder_oom 1\noom_kill 0\n"), true);
  assert.equal(parseUnderOom("oom_kill_disable 1\nunder_oom 0\noom_kill 0\n"), false);
});

test("a cgroup v2 tree: controllers handed down, one group per sandbox with its limit files, OOM kills read back", (t) => {
  const root = mkdtempSync(join(tmpdir(), "berth-fake-cgroup-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const own = join(root, "system.slice", "berth.service");
  mkdirSync(own, { recursive: true });
  writeFileSync(join(own, "cgroup.subtree_control"), "");
  const tree = new CgroupTree({ version: 2, dir: own });
  assert.equal(readFileSync(join(own, "cgroup.subtree_control"), "utf8"), "+memory +pids +cpu");
  const group = tree.create("sandbox1", { memoryBytes: 128 * 1024 * 1024, cpu: 2, pids: 64 });
  const parent = join(own, readdirSync(own).find((name) => name.startsWith("berth-"))!);
  const dir = join(parent, "sandbox1");
  assert.equal(readFileSync(join(parent, "cgroup.subtree_control"), "utf8"), "+memory +pids +cpu");
  assert.equal(readFileSync(join(dir, "memory.max"), "utf8"), String(128 * 1024 * 1024));
  assert.equal(readFileSync(join(dir, "memory.oom.group"), "utf8"), "1");
  assert.equal(readFileSync(join(dir, "cpu.max"), "utf8"), "200000 100000");
  assert.equal(readFileSync(join(dir, "pids.max"), "utf8"), "64");
  group.addProcess(4242);
  assert.equal(readFileSync(join(dir, "cgroup.procs"), "utf8"), "4242");
  writeFileSync(join(dir, "memory.events"), "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n");
  assert.equal(group.outOfMemory(), true);
});

test("output is read line by line; a line without end is cut at the bound instead of growing", async () => {
  const stream = new PassThrough();
  const lines: string[] = [];
  readLines(stream, (line) => lines.push(line), 10);
  stream.write("one\r\ntwo\nthr");
  stream.write("ee\n");
  stream.write("x".repeat(25));
  stream.end("\nlast");
  await new Promise((resolve) => stream.once("end", resolve));
  assert.deepEqual(lines, ["one", "two", "three", "xxxxxxxxxx", "xxxxxxxxxx", "xxxxx", "last"]);
});

test("the control channel carries JSON lines both ways and ends on a message too long or not JSON", async () => {
  /** Two ends of a Unix socket connection, like a container's descriptor 3 and its driver's end. */
  const pair = async (): Promise<[Socket, Socket]> => {
    const dir = mkdtempSync(join(tmpdir(), "berth-channel-"));
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, "s"), resolve));
    const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const client = connect(join(dir, "s"));
    const ends: [Socket, Socket] = [client, await accepted];
    server.close();
    rmSync(dir, { recursive: true, force: true });
    return ends;
  };
  const [driverEnd, agentEnd] = await pair();
  const received: unknown[] = [];
  let violation: string | undefined = "none yet";
  const driver = new Channel(driverEnd, { onMessage: (m) => received.push(m), onClose: (v) => (violation = v) }, 100);
  const agent = new Channel(agentEnd, { onMessage: () => {}, onClose: () => {} }, 1000);
  agent.send({ type: "idle" });
  agent.send({ type: "failed", message: "why" });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(received, [{ type: "idle" }, { type: "failed", message: "why" }]);
  agentEnd.write("x".repeat(150));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(violation, "a control message over 100 characters");
  driver.close();
  agent.close();

  const [driver2, agent2] = await pair();
  let second: string | undefined;
  new Channel(driver2, { onMessage: () => {}, onClose: (v) => (second = v) }, 100);
  agent2.write("{not json}\n");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(second, "a control message that is not JSON");
  agent2.destroy();
});
