/**
 * The runtime driver conformance suite: what every driver must do, run
 * against `process` and `sandbox` alike (the `kubernetes` driver joins it
 * later). Drivers are driven directly, below the platform: start and
 * readiness, the Unix socket endpoint, logs line by line, stop with grace
 * and the exit hook, a kill at the startup timeout with everything the
 * container started, exits however they happen, and an environment that is
 * exactly the spec's. And the faults every driver handles alike: a kill from
 * outside takes all the container started, a start killed from outside is
 * not the function's failure, and the agent answers probes from its event
 * loop (blocked, lingering or free).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "undici";
import { bundleApp } from "../src/bundler/bundle.js";
import { ImageStore } from "../src/image/store.js";
import { LayeredImageBuilder } from "../src/image/layered-builder.js";
import { RUN_ENV } from "../src/lifetime/run.js";
import { RunScope } from "../src/lifetime/scope.js";
import { ProcessDriver } from "../src/runtime/process-driver.js";
import { SandboxDriver } from "../src/runtime/sandbox-driver.js";
import { isStartupInterrupted, type Container, type ContainerImage, type ContainerSpec, type LogSink, type LogStream, type RuntimeDriver } from "../src/runtime/types.js";
import { CgroupTree, detectCgroups } from "../src/sandbox/cgroups.js";
import { sandboxSupport } from "../src/sandbox/tools.js";
import { REPO } from "./support/platform.js";
import { sandboxUnavailable, TEST_BUILD_CA, TEST_IMAGE_CACHE } from "./support/sandbox.js";
import { processesRunning, waitFor } from "./support/wait.js";

interface Subject {
  driver: RuntimeDriver;
  image: ContainerImage;
  cwd: string;
  /** Variables the driver adds to the spec's environment: the process runtime's `BERTH_RUN` mark, which its cleanup finds processes by. */
  marks: string[];
  close(): Promise<void>;
}

const subjects: Record<string, () => Promise<Subject>> = {
  process: async () => {
    const scope = new RunScope();
    return { driver: new ProcessDriver({ warmAgents: 1, scope }), image: { id: "host" }, cwd: tmpdir(), marks: [RUN_ENV], close: () => scope.close() };
  },
  sandbox: async () => {
    const support = sandboxSupport();
    const detected = detectCgroups();
    if (!support.ok || !detected.ok) throw new Error("unreachable: checked by sandboxUnavailable");
    const cgroups = new CgroupTree(detected.layout);
    const builder = new LayeredImageBuilder({ store: new ImageStore(TEST_IMAGE_CACHE), tools: support.tools, cgroups, blobPath: () => undefined, caFile: TEST_BUILD_CA });
    const built = await builder.build({ base: "debian-slim", steps: [] }, () => {});
    const driver = new SandboxDriver({ tools: support.tools, cgroups, warmPerImage: 1 });
    return {
      driver,
      image: { id: built.id, rootfs: built.rootfs },
      cwd: "/",
      marks: [],
      close: () => cgroups.close(),
    };
  },
};

let bundlePath: string;
const work = mkdtempSync(join(tmpdir(), "berth-conformance-"));

before(async () => {
  const bundle = await bundleApp(join(REPO, "test", "fixtures", "runtime-app.ts"));
  bundlePath = join(work, "app.mjs");
  writeFileSync(bundlePath, bundle.code);
});
after(() => rmSync(work, { recursive: true, force: true }));

/** The parent of a host process, as this (the host's) pid namespace sees it: field 4 of `/proc/<pid>/stat`. */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/** A marker no other test run shares: the argument of the `sleep` a fixture starts. */
const newMarker = () => `${1000 + Math.floor(Math.random() * 100_000)}.${process.pid}`;

/** Sends a request the test gives up on (as the gateway does at a call's timeout): the connection closes after `ms`. */
async function abandon(container: Container, path: string, ms: number): Promise<void> {
  assert.ok("socketPath" in container.endpoint);
  const client = new Client("http://container", { socketPath: container.endpoint.socketPath });
  try {
    await client.request({ path, method: "GET", signal: AbortSignal.timeout(ms) }).catch(() => {});
  } finally {
    await client.destroy();
  }
}


async function get(container: Container, path = "/"): Promise<{ status: number; body: string }> {
  assert.ok("socketPath" in container.endpoint, "the endpoint is a Unix socket");
  const client = new Client("http://container", { socketPath: container.endpoint.socketPath });
  try {
    const response = await client.request({ path, method: "GET" });
    return { status: response.statusCode, body: await response.body.text() };
  } finally {
    await client.close();
  }
}

for (const [name, makeSubject] of Object.entries(subjects)) {
  const skip = name === "sandbox" ? sandboxUnavailable() : undefined;
  describe(`runtime driver: ${name}`, { skip }, () => {
    let subject: Subject;
    let lines: Array<{ line: string; stream: LogStream }>;
    let pending: Record<LogStream, string>;
    /** The platform cuts output into lines; here, a plain splitter does. */
    const log: LogSink = {
      write(chunk, stream) {
        pending[stream] += chunk.toString("utf8");
        for (let end = pending[stream].indexOf("\n"); end >= 0; end = pending[stream].indexOf("\n")) {
          lines.push({ line: pending[stream].slice(0, end), stream });
          pending[stream] = pending[stream].slice(end + 1);
        }
      },
      end(stream) {
        if (pending[stream]) lines.push({ line: pending[stream], stream });
        pending[stream] = "";
      },
    };

    before(async () => {
      subject = await makeSubject();
    });
    after(async () => {
      await subject.driver.close();
      await subject.close();
    });

    const spec = (functionName: string, overrides: Partial<ContainerSpec> = {}): ContainerSpec => {
      lines = [];
      pending = { stdout: "", stderr: "" };
      return {
        id: `c-${functionName}-${Math.random().toString(36).slice(2, 8)}`,
        functionName,
        bundlePath,
        image: subject.image,
        cwd: subject.cwd,
        env: { PATH: "/usr/local/bin:/usr/bin:/bin", ONLY_THIS: "yes" },
        params: {},
        startupTimeoutMs: 20_000,
        limits: { memoryMiB: 512, cpu: null },
        network: false,
        ...overrides,
      };
    };

    test("start resolves once the container is ready; it serves HTTP on a Unix socket", async () => {
      const container = await subject.driver.start(spec("chatty"), log);
      assert.deepEqual(await get(container), { status: 200, body: '"logged"' });
      await container.stop(5000);
    });

    test("the environment is exactly the spec's, in the agent and in the processes it starts", async () => {
      const container = await subject.driver.start(spec("inspect"), log);
      const seen = JSON.parse((await get(container)).body) as { env: Record<string, string>; childEnv: string[]; cwd: string };
      const marked = (name: string) => subject.marks.includes(name);
      assert.deepEqual(Object.keys(seen.env).filter(marked).sort(), [...subject.marks].sort(), "the driver's marks, and only those, are added");
      assert.deepEqual(Object.fromEntries(Object.entries(seen.env).filter(([name]) => !marked(name))), { PATH: "/usr/local/bin:/usr/bin:/bin", ONLY_THIS: "yes" });
      assert.deepEqual(
        seen.childEnv.filter((line) => !marked(line.split("=")[0]!)),
        ["ONLY_THIS=yes", "PATH=/usr/local/bin:/usr/bin:/bin"],
      );
      assert.equal(seen.cwd, subject.cwd);
      await container.stop(5000);
    });

    test("logs arrive line by line, from stdout and stderr", async () => {
      const container = await subject.driver.start(spec("chatty"), log);
      await get(container);
      await waitFor("three log lines", () => lines.length >= 3 || undefined);
      assert.deepEqual(
        lines.map(({ line, stream }) => `${stream}: ${line}`).sort(),
        ["stderr: err one", "stdout: out one", "stdout: out two"],
      );
      await container.stop(5000);
    });

    test("stop drains, runs the exit hook within the grace period, and resolves with the exit", async () => {
      const container = await subject.driver.start(spec("withExit"), log);
      const exit = await container.stop(5000);
      assert.equal(exit.code, 0);
      assert.ok(lines.some(({ line }) => line === "exit hook ran"), JSON.stringify(lines));
      assert.deepEqual(await container.exited, exit);
    });

    test("a container not ready by its startup timeout is killed with every process it started", async () => {
      const marker = newMarker();
      const started = subject.driver.start(spec("neverReady", { startupTimeoutMs: 1500, params: { marker } }), log);
      await waitFor("the container's child process", () => processesRunning("sleep", marker).length > 0 || undefined, 10_000);
      await assert.rejects(started, /did not become ready within 1\.5 s \(startupTimeout\)/);
      await waitFor("no process of the container left", () => processesRunning("sleep", marker).length === 0 || undefined, 10_000);
    });

    test("an exit is reported however it happens: a crash with its code, a kill", async () => {
      const crashing = await subject.driver.start(spec("crash"), log);
      await get(crashing);
      assert.equal((await crashing.exited).code, 3);

      const killed = await subject.driver.start(spec("chatty"), log);
      const exit = await killed.stop(0);
      assert.ok(exit.signal === "SIGKILL" || (exit.code !== null && exit.code !== 0), JSON.stringify(exit));
    });
    test("a container killed from outside (kill -9 of its agent, as the OOM killer does) takes every process it started along", async () => {
      const marker = newMarker();
      const container = await subject.driver.start(spec("withChild", { params: { marker } }), log);
      await waitFor("the container's child process", () => processesRunning("sleep", marker)[0], 10_000);
      const [sleeper] = processesRunning("sleep", marker);
      process.kill(parentOf(sleeper!), "SIGKILL");
      const exit = await container.exited;
      assert.ok(exit.signal === "SIGKILL" || exit.code === 128 + 9, JSON.stringify(exit));
      assert.deepEqual(processesRunning("sleep", marker), [], "exited resolves only once everything the container started is gone");
    });

    test("a start killed from outside is told apart from the function's failure (startupInterrupted: retried at once, no backoff)", async () => {
      const marker = newMarker();
      const started = subject.driver.start(spec("neverReady", { params: { marker } }), log);
      await waitFor("the container's child process", () => processesRunning("sleep", marker)[0], 10_000);
      process.kill(parentOf(processesRunning("sleep", marker)[0]!), "SIGKILL");
      const error = await started.then(
        () => assert.fail("the start should fail"),
        (reason: unknown) => reason,
      );
      assert.ok(isStartupInterrupted(error), String(error));
      assert.match(String(error), /killed during start-up/);
      await waitFor("no process of the container left", () => processesRunning("sleep", marker).length === 0 || undefined, 10_000);

      // A failure of the function's own is not: it backs off.
      const crashing = subject.driver.start(spec("neverReady", { startupTimeoutMs: 500, params: { marker: newMarker() } }), log);
      const failure = await crashing.then(
        () => assert.fail("the start should fail"),
        (reason: unknown) => reason,
      );
      assert.ok(!isStartupInterrupted(failure), String(failure));
    });

    test("probe: an idle container answers `ended`, a blocked event loop `unresponsive`, a call that ignores its abort `lingering`", async () => {
      const spinning = await subject.driver.start(spec("spin"), log);
      assert.equal(await spinning.probe(0, 500), "ended");
      assert.deepEqual(await get(spinning, "/?ok=1"), { status: 200, body: '"ok"' });
      await abandon(spinning, "/", 300);
      const started = Date.now();
      assert.equal(await spinning.probe(0, 500), "unresponsive");
      assert.ok(Date.now() - started < 5000, "the verdict comes within the grace and its margin");
      await spinning.stop(0);

      const lingering = await subject.driver.start(spec("linger"), log);
      await abandon(lingering, "/", 200);
      assert.equal(await lingering.probe(0, 300), "lingering", "the abandoned call runs on past the grace");
      assert.equal(await lingering.probe(0, 5000), "ended", "and ends on its own within 3 s");
      await lingering.stop(0);
    });
  });
}
