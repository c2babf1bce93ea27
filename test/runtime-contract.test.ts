/**
 * The runtime contract of a sandboxed container, after Knative's runtime
 * conformance tests (test/conformance/runtime in knative/serving): what a
 * function can count on finding, checked from inside a container deployed
 * to a real platform: a writable /tmp, a read-only /proc/sys, the standard
 * devices and no console, stdin at EOF, PORT for a web server, its identity
 * in BERTH_APP / BERTH_FUNCTION / BERTH_VERSION, and a memory limit that
 * lets 100 MB through under 256 MiB and kills the container at 500 MB.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { detectCgroups } from "../src/sandbox/cgroups.js";
import { request, tempApp } from "./support/platform.js";
import { sandboxTest, startSandboxPlatform } from "./support/sandbox.js";
import { stats, waitFor, waitForLog } from "./support/wait.js";

const source = `import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { App } from "berthjs";

const app = new App("contract");

function attempt(action: () => unknown): string {
  try {
    action();
    return "ok";
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

export const inspect = app.function().webEndpoint(() => {
  const buffer = Buffer.alloc(16);
  return {
    tmp: attempt(() => {
      writeFileSync("/tmp/probe", "written");
      if (readFileSync("/tmp/probe", "utf8") !== "written") throw new Error("read back something else");
    }),
    procSys: attempt(() => writeFileSync("/proc/sys/kernel/hostname", "changed")),
    devices: ["/dev/null", "/dev/zero", "/dev/urandom"].map((path) => [path, existsSync(path)]),
    console: existsSync("/dev/console"),
    stdinBytes: readSync(0, buffer, 0, buffer.length, null),
    zero: attempt(() => {
      const fd = openSync("/dev/zero", "r");
      readSync(fd, buffer);
      closeSync(fd);
    }),
    identity: [process.env.BERTH_APP, process.env.BERTH_FUNCTION, process.env.BERTH_VERSION],
  };
});

export const server = app.function().webServer({ port: 8080 }, () => {
  createServer((_req, res) => res.end(JSON.stringify({ port: process.env.PORT }))).listen(8080);
});

export const memory = app.function({ memory: 256, scaledownWindow: 600 }).webEndpoint(({ query }) => {
  const size = Number((query as { mb: string }).mb) * 1024 * 1024;
  const block = Buffer.alloc(size, 1);
  return { allocated: block.length };
});

// A child process over the limit: on cgroup v1 the kernel kills only it; berth then kills the container.
export const childMemory = app.function({ memory: 256, timeout: 60 }).webEndpoint(() => {
  const result = spawnSync(process.execPath, ["-e", "const a = []; for (;;) a.push(Buffer.alloc(16 << 20, 1));"]);
  return { childSignal: result.signal };
});

// Busy for 2 s of wall time; reports the CPU time it got.
export const busy = app.function({ cpu: 0.25 }).webEndpoint(() => {
  const start = process.cpuUsage();
  const until = Date.now() + 2000;
  while (Date.now() < until);
  const used = process.cpuUsage(start);
  return { cpuSeconds: (used.user + used.system) / 1e6 };
});
`;

test("a sandboxed container meets the runtime contract", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const result = await platform.deploy(tempApp(t, "contract.ts", source));
  const seen = (await (await request(platform.url(result, "inspect"))).json()) as Record<string, unknown>;
  assert.equal(seen.tmp, "ok", "/tmp is writable");
  assert.match(String(seen.procSys), /^(EROFS|EACCES|EPERM)$/, "/proc/sys is read-only");
  assert.deepEqual(seen.devices, [["/dev/null", true], ["/dev/zero", true], ["/dev/urandom", true]]);
  assert.equal(seen.zero, "ok");
  assert.equal(seen.console, false, "there is no /dev/console");
  assert.equal(seen.stdinBytes, 0, "stdin reads EOF");
  assert.deepEqual(seen.identity, ["contract", "inspect", String(result.version)]);

  const served = await request(platform.url(result, "server"));
  assert.equal(served.status, 200);
  assert.deepEqual(await served.json(), { port: "8080" });
});

test("memory: 100 MB under a 256 MiB limit works, 500 MB kills the container: 502, and the logs and stats say why", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "memory.ts", source)), "memory");
  const small = await request(`${url}?mb=100`);
  assert.equal(small.status, 200);
  assert.deepEqual(await small.json(), { allocated: 100 * 1024 * 1024 });

  const big = await request(`${url}?mb=500`);
  assert.equal(big.status, 502);
  assert.equal(((await big.json()) as { error: { code: string } }).error.code, "upstream_failed");
  await waitForLog(platform, "contract", /killed: out of memory \(limit 256 MiB\)/);
  const lastError = await waitFor("the OOM in app stats", async () =>
    (await stats(platform, "contract")).find((fn) => fn.function === "memory")?.pools[0]?.lastError?.match(/out of memory \(limit 256 MiB\)/)?.[0],
  );
  assert.equal(lastError, "out of memory (limit 256 MiB)");

  // The function carries on in a new container.
  const again = await request(`${url}?mb=10`);
  assert.equal(again.status, 200);
});

test("memory: a child process over the limit takes its whole container down (502, out of memory in the logs)", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "memory.ts", source)), "childMemory");
  const response = await request(url);
  assert.equal(response.status, 502);
  await response.text();
  await waitForLog(platform, "contract", /killed: out of memory \(limit 256 MiB\)/);
});

test("cpu: 0.25 caps a busy container at a quarter of a core", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "cpu.ts", source)), "busy");
  const { cpuSeconds } = (await (await request(url)).json()) as { cpuSeconds: number };
  // 2 s of wall time under a 0.25-core quota: about 0.5 s of CPU. Uncapped on an idle core it would be about 2 s.
  // One-sided: a loaded machine can only lower the figure, never raise it past the cap.
  assert.ok(cpuSeconds < 0.8, `${cpuSeconds} s of CPU in 2 s`);
  // And the kernel says so: the container's group has the quota and was throttled.
  const groups = containerCpuGroups().filter((group) => group.quota === "25000");
  assert.equal(groups.length, 1, JSON.stringify(containerCpuGroups()));
  // A container that never reached its quota (a machine busy with other work) had nothing to throttle.
  assert.ok(groups[0]!.throttled > 0 || cpuSeconds < 0.4, `the container ran ${cpuSeconds} s of CPU and was never throttled`);
});

/** The CPU cgroups of this process's containers: their quota per 100 ms period, and how often they were throttled. */
function containerCpuGroups(): Array<{ quota: string; throttled: number }> {
  const detected = detectCgroups();
  if (!detected.ok) return [];
  const root = detected.layout.version === 1 ? detected.layout.dirs.cpu : detected.layout.dir;
  const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8").trim() : "");
  return readdirSync(root)
    .filter((name) => name.startsWith(`berth-${process.pid}-`))
    .flatMap((tree) =>
      readdirSync(join(root, tree), { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => {
          const dir = join(root, tree, entry.name);
          const quota = detected.layout.version === 1 ? read(join(dir, "cpu.cfs_quota_us")) : read(join(dir, "cpu.max")).split(" ")[0]!;
          return { quota, throttled: Number(/nr_throttled (\d+)/.exec(read(join(dir, "cpu.stat")))?.[1] ?? 0) };
        }),
    );
}
