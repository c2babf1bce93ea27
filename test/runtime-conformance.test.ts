/**
 * The runtime driver conformance suite: what every driver must do, run
 * against `process` and `sandbox` alike (the `kubernetes` driver joins it
 * later). Drivers are driven directly, below the platform: start and
 * readiness, the Unix socket endpoint, logs line by line, stop with grace
 * and the exit hook, a kill at the startup timeout with everything the
 * container started, exits however they happen, and an environment that is
 * exactly the spec's.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "undici";
import { bundleApp } from "../src/bundler/bundle.js";
import { ImageStore } from "../src/image/store.js";
import { LayeredImageBuilder } from "../src/image/layered-builder.js";
import { ProcessDriver } from "../src/runtime/process-driver.js";
import { SandboxDriver } from "../src/runtime/sandbox-driver.js";
import type { Container, ContainerImage, ContainerSpec, LogSink, LogStream, RuntimeDriver } from "../src/runtime/types.js";
import { CgroupTree, detectCgroups } from "../src/sandbox/cgroups.js";
import { sandboxSupport } from "../src/sandbox/tools.js";
import { REPO } from "./support/platform.js";
import { sandboxUnavailable, TEST_BUILD_CA, TEST_IMAGE_CACHE } from "./support/sandbox.js";
import { waitFor } from "./support/wait.js";

interface Subject {
  driver: RuntimeDriver;
  image: ContainerImage;
  cwd: string;
  close(): Promise<void>;
}

const subjects: Record<string, () => Promise<Subject>> = {
  process: async () => ({ driver: new ProcessDriver({ warmAgents: 1 }), image: { id: "host" }, cwd: tmpdir(), close: async () => {} }),
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

/** Host processes whose command line is exactly `sleep <marker>`: what a container left behind. */
function sleepers(marker: string): number[] {
  return readdirSync("/proc").flatMap((pid) => {
    if (!/^\d+$/.test(pid)) return [];
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8") === `sleep\0${marker}\0` ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
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
      assert.deepEqual(seen.env, { PATH: "/usr/local/bin:/usr/bin:/bin", ONLY_THIS: "yes" });
      assert.deepEqual(seen.childEnv, ["ONLY_THIS=yes", "PATH=/usr/local/bin:/usr/bin:/bin"]);
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
      const marker = `${1000 + Math.floor(Math.random() * 100_000)}.${process.pid}`;
      const started = subject.driver.start(spec("neverReady", { startupTimeoutMs: 1500, params: { marker } }), log);
      await waitFor("the container's child process", () => sleepers(marker).length > 0 || undefined, 10_000);
      await assert.rejects(started, /did not become ready within 1\.5 s \(startupTimeout\)/);
      await waitFor("no process of the container left", () => sleepers(marker).length === 0 || undefined, 10_000);
    });

    test("an exit is reported however it happens: a crash with its code, a kill", async () => {
      const crashing = await subject.driver.start(spec("crash"), log);
      await get(crashing);
      assert.equal((await crashing.exited).code, 3);

      const killed = await subject.driver.start(spec("chatty"), log);
      const exit = await killed.stop(0);
      assert.ok(exit.signal === "SIGKILL" || (exit.code !== null && exit.code !== 0), JSON.stringify(exit));
    });
  });
}
