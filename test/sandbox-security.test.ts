/**
 * Security of the sandbox runtime, tried as an attacker would, against the
 * real server (tokens required, two workspaces, member tokens): a function
 * of workspace "alpha" goes after the server's state directory, another
 * workspace's container (its environment, its socket, its processes), the
 * control API and the gateway on the host's loopback, the file system
 * outside its /tmp, and tries to outlive its container; an image build step
 * goes after the state directory and the server's environment; and a memory
 * bomb, a fork bomb and a /tmp filler each hit their limit while another
 * function keeps answering 200.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import type { Response } from "undici";
import { ApiClient } from "../src/cli/client.js";
import { request, tempApp, type TestPlatform } from "./support/platform.js";
import { sandboxTest, startSandboxPlatform } from "./support/sandbox.js";
import { sleep, waitFor } from "./support/wait.js";

/** The victim, in workspace "beta": a secret in its environment, proxy auth in front of it. */
const victimSource = `import { App, Secret } from "berthjs";
const app = new App("victim");
export const vault = app
  .function({ secrets: [Secret.fromName("vault-key")] })
  .fetchApp({ requiresProxyAuth: true }, () => ({ fetch: () => new Response("the vault's contents") }));
export const bystander = app.function({ concurrency: { maxInputs: 100 } }).webEndpoint(() => "still here");
`;

/** The attacker, in workspace "alpha": each attack is a query, its findings the answer. */
const attackerSource = `import { spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { App } from "berthjs";

const app = new App("attacker");

function attempt(action: () => unknown): string {
  try {
    const result = action();
    return typeof result === "string" ? "read: " + result.slice(0, 200) : "ok";
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

function reach(url: string): Promise<string> {
  return fetch(url, { signal: AbortSignal.timeout(3000) }).then(
    (response) => "answered " + response.status,
    (error: Error) => "failed: " + ((error.cause as NodeJS.ErrnoException | undefined)?.code ?? error.name),
  );
}

function connectTo(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.write("GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n");
      socket.once("data", (data) => resolve("answered: " + data.toString().split("\\r\\n")[0]));
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
  });
}

export const attack = app.function({ timeout: 60 }).webEndpoint(async ({ query }) => {
  const q = query as Record<string, string>;
  const targets = JSON.parse(q.targets ?? "{}");
  switch (q.what) {
    case "home":
      return Object.fromEntries(
        ["config.json", "secrets.key", "state.db", "blobs"].map((name) => [name, attempt(() => (name === "blobs" ? readdirSync(targets.home + "/blobs").join() : readFileSync(targets.home + "/" + name, "utf8")))]),
      );
    case "environ": {
      const pids = readdirSync("/proc").filter((name) => /^\\d+$/.test(name));
      const leaks = pids.filter((pid) => attempt(() => readFileSync("/proc/" + pid + "/environ", "utf8")).includes(targets.secret));
      return { pids, leaks, hostPid: attempt(() => readFileSync("/proc/" + targets.victimPid + "/environ", "utf8")) };
    }
    case "socket":
      return { victim: await connectTo(targets.socket) };
    case "loopback":
      return Object.fromEntries(await Promise.all(targets.urls.map(async (url: string) => [url, await reach(url)])));
    case "signal":
      return { kill: attempt(() => process.kill(targets.victimPid, "SIGKILL")), killAll: attempt(() => process.kill(-1, 0)) };
    case "write":
      return Object.fromEntries(
        ["/tmp/mine", "/escape", "/etc/escape", "/usr/escape", "/berth/escape", "/berth/app/app.mjs", "/var/tmp/escape", "/root/escape", "/dev/escape", "/home/escape"].map(
          (path) => [path, attempt(() => writeFileSync(path, "x"))],
        ),
      );
    case "linger": {
      const child = spawn("sleep", [targets.marker], { detached: true, stdio: "ignore" });
      child.unref();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const running = readdirSync("/proc").some((pid) => attempt(() => readFileSync("/proc/" + pid + "/cmdline", "utf8")).includes(targets.marker));
      return { spawned: child.pid !== undefined, running };
    }
    default:
      return "unknown attack";
  }
});
`;

interface Setup {
  platform: TestPlatform;
  alpha: ApiClient;
  beta: ApiClient;
  secret: string;
}

async function setUp(t: TestContext): Promise<Setup> {
  const platform = await startSandboxPlatform(t, { requireAuth: true });
  const admin = platform.client;
  const alpha = new ApiClient(platform.server.url, undefined, (await admin.createToken({ kind: "api", workspace: "alpha" })).token);
  const beta = new ApiClient(platform.server.url, undefined, (await admin.createToken({ kind: "api", workspace: "beta" })).token);
  const secret = `vault-${randomBytes(16).toString("hex")}`;
  await beta.createSecret("vault-key", { VAULT_KEY: secret });
  return { platform, alpha, beta, secret };
}

/** Sandboxes of this test process whose agent serves: their directories, newest last. */
function servingSandboxes(): string[] {
  return readdirSync(tmpdir())
    .filter((name) => name.startsWith(`berth-sandboxes-${process.pid}-`))
    .flatMap((root) => readdirSync(join(tmpdir(), root)).map((name) => join(tmpdir(), root, name)))
    .filter((dir) => existsSync(join(dir, "sock", "agent.sock")));
}

/** Host pids of the processes in a sandbox's cgroup (its directory's name is its cgroup's). */
function sandboxPids(dir: string): number[] {
  const name = dir.split("/").at(-1)!;
  return readdirSync("/proc").flatMap((pid) => {
    if (!/^\d+$/.test(pid)) return [];
    try {
      return readFileSync(`/proc/${pid}/cgroup`, "utf8").includes(`/${name}\n`) ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

function hostProcessesWith(marker: string): number[] {
  return readdirSync("/proc").flatMap((pid) => {
    if (!/^\d+$/.test(pid)) return [];
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker) ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

test("a function of one workspace cannot reach the server's state, other containers, the host's loopback or the file system", sandboxTest(), async (t) => {
  const { platform, alpha, beta, secret } = await setUp(t);
  const victim = await platform.deploy(tempApp(t, "victim.ts", victimSource), { client: beta });
  assert.equal((await request(platform.url(victim, "vault"))).status, 401, "the vault needs proxy auth");
  assert.equal((await request(platform.url(victim, "bystander"))).status, 200);
  // The bystander's container is the one serving now; the vault never started (the gateway refused).
  const [victimDir] = servingSandboxes();
  assert.ok(victimDir, "the victim's sandbox is serving");
  const victimSocket = join(victimDir, "sock", "agent.sock");
  const [victimPid] = sandboxPids(victimDir);
  assert.ok(victimPid, "the victim's processes are in its cgroup");

  const attackUrl = platform.url(await platform.deploy(tempApp(t, "attacker.ts", attackerSource), { client: alpha }), "attack");
  const gateway = platform.server.port;
  const attack = async (what: string, targets: Record<string, unknown>) => {
    const response = await request(`${attackUrl}?what=${what}&targets=${encodeURIComponent(JSON.stringify(targets))}`);
    assert.equal(response.status, 200, `${what}: ${await response.clone().text()}`);
    return (await response.json()) as Record<string, unknown>;
  };

  // $BERTH_HOME: the admin token, the secrets key, the database, the bundles.
  const home = await attack("home", { home: platform.home });
  for (const [file, result] of Object.entries(home)) assert.equal(result, "ENOENT", `${file}: ${String(result)}`);

  // Another container's environment: its pid is not in this pid namespace, and no process here holds the secret.
  const environ = await attack("environ", { secret, victimPid });
  assert.deepEqual(environ.leaks, []);
  assert.equal(environ.hostPid, "ENOENT");
  assert.ok((environ.pids as string[]).length < 10, `only the container's own processes are visible: ${String(environ.pids)}`);

  // Another container's socket, which answers without proxy auth: not in this mount namespace.
  assert.deepEqual(await attack("socket", { socket: victimSocket }), { victim: "ENOENT" });

  // The control API and the gateway on the host's loopback, directly or through slirp4netns's gateway address.
  const urls = [
    `http://127.0.0.1:${gateway}/api/health`,
    `http://localhost:${gateway}/api/health`,
    `http://[::1]:${gateway}/api/health`,
    `http://10.0.2.2:${gateway}/api/health`,
  ];
  const loopback = await attack("loopback", { urls });
  for (const url of urls) assert.match(String(loopback[url]), /^failed: /, `${url}: ${String(loopback[url])}`);

  // The victim's processes, by their host pid, and everything at once.
  const signal = await attack("signal", { victimPid });
  assert.equal(signal.kill, "ESRCH");
  assert.equal((await request(platform.url(victim, "bystander"))).status, 200, "the victim still answers");
  assert.ok(sandboxPids(victimDir).includes(victimPid), "the victim's process is alive");

  // Writes anywhere but its own /tmp.
  const writes = await attack("write", {});
  assert.equal(writes["/tmp/mine"], "ok");
  for (const [path, result] of Object.entries(writes)) {
    if (path !== "/tmp/mine") assert.match(String(result), /^(EROFS|EACCES|EPERM|ENOENT)$/, `${path}: ${String(result)}`);
  }

  // A process started to outlive the container dies with it.
  const marker = `${2000 + Math.floor(Math.random() * 100_000)}.${process.pid}`;
  const linger = await attack("linger", { marker });
  assert.deepEqual(linger, { spawned: true, running: true });
  assert.ok(hostProcessesWith(marker).length > 0, "the lingering process runs");
  await alpha.stopApp("attacker");
  await waitFor("no process of the stopped container left", () => hostProcessesWith(marker).length === 0 || undefined, 20_000);
});

test("a runCommands step sees neither the server's state directory nor its environment", sandboxTest(), async (t) => {
  const canary = `canary-${randomBytes(12).toString("hex")}`;
  process.env.BERTH_TEST_CANARY = canary;
  t.after(() => delete process.env.BERTH_TEST_CANARY);
  const { platform, alpha } = await setUp(t);
  const home = platform.home;
  const source = `import { App, Image } from "berthjs";
const image = Image.debianSlim().runCommands(
  "ls -la ${home} 2>&1 || true",
  "cat ${home}/config.json ${home}/secrets.key 2>&1 || true",
  "echo environment:; env; cat /proc/1/environ | tr '\\\\0' '\\\\n'",
  "echo ${randomBytes(4).toString("hex")}",
);
const app = new App("nosy-build", { image });
export const f = app.function().webEndpoint(() => "built");
`;
  const progress: string[] = [];
  await platform.deploy(tempApp(t, "nosy.ts", source), { client: alpha, progress: (line) => progress.push(line) });
  const output = progress.join("\n");
  assert.match(output, /environment:/, "the step ran and printed its environment");
  assert.match(output, new RegExp(`ls: cannot access '${home}': No such file or directory`));
  assert.ok(!output.includes(canary), "the server's environment is not in the build");
  assert.ok(!output.includes(platform.server.bootstrapToken!), "the admin token is not in the build output");
  assert.ok(!/BERTH_HOME|NODE_OPTIONS|BERTH_TEST/.test(output), output);
});

test("a memory bomb, a fork bomb and a /tmp filler each hit their limit while another function keeps answering 200", sandboxTest(), async (t) => {
  const { platform, alpha, beta } = await setUp(t);
  const bystander = platform.url(await platform.deploy(tempApp(t, "victim.ts", victimSource), { client: beta }), "bystander");
  const bombs = `import { spawn } from "node:child_process";
import { openSync, writeSync } from "node:fs";
import { App } from "berthjs";
const app = new App("bombs");
export const memory = app.function({ memory: 256 }).webEndpoint(() => {
  const hoard = [];
  for (;;) hoard.push(Buffer.alloc(16 * 1024 * 1024, 1));
});
export const fork = app.function({ timeout: 60 }).webEndpoint(async () => {
  spawn("sh", ["-c", "f() { f | f & }; f"], { stdio: "ignore" });
  // Then take slots until the kernel refuses one. Probing now and then raced the bomb, whose processes exit as soon
  // as they have forked: on a busy machine its count could hover below the limit through every probe.
  for (let i = 0; i < 4096; i += 1) {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    if (child.pid === undefined) {
      const error = await new Promise<NodeJS.ErrnoException>((resolve) => child.once("error", resolve));
      return { forkFailed: error.code };
    }
  }
  return { forkFailed: null };
});
export const filler = app.function({ timeout: 120 }).webEndpoint(() => {
  const fd = openSync("/tmp/filler", "w");
  const chunk = Buffer.alloc(1024 * 1024, 1);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (error) {
    return { code: (error as NodeJS.ErrnoException).code, mib: Math.round(written / 1024 / 1024) };
  }
});
`;
  const deployed = await platform.deploy(tempApp(t, "bombs.ts", bombs), { client: alpha });
  const checkBystander = async () => {
    const response = await request(bystander, { signal: AbortSignal.timeout(15_000) });
    assert.equal(response.status, 200);
    await response.text();
  };
  /** Calls a bomb while asking the bystander every 300 ms; every answer must be 200. */
  const whileBystanding = async (bomb: Promise<Response>) => {
    let done = false;
    const watching = (async () => {
      let asked = 0;
      while (!done || asked === 0) {
        await checkBystander();
        asked += 1;
        await sleep(300);
      }
      return asked;
    })();
    const response = await bomb.finally(() => (done = true));
    assert.ok((await watching) > 0);
    return response;
  };

  const memory = await whileBystanding(request(platform.url(deployed, "memory")));
  assert.equal(memory.status, 502);
  await memory.text();
  await waitFor("the OOM in the bombs' logs", async () => {
    const lines: string[] = [];
    await alpha.logs("bombs", {}, (entry) => lines.push(entry.line));
    return lines.some((line) => line.includes("killed: out of memory (limit 256 MiB)")) || undefined;
  }, 20_000);

  const fork = await whileBystanding(request(platform.url(deployed, "fork")));
  assert.equal(fork.status, 200);
  assert.deepEqual(await fork.json(), { forkFailed: "EAGAIN" });

  const filler = await whileBystanding(request(platform.url(deployed, "filler")));
  assert.equal(filler.status, 200);
  const filled = (await filler.json()) as { code: string; mib: number };
  assert.equal(filled.code, "ENOSPC");
  assert.ok(filled.mib <= 512, `at most the 512 MiB /tmp: ${filled.mib} MiB`);

  await checkBystander();
});
