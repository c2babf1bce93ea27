/**
 * Test support for the real `berth` command: spawns `bin/berth.js` with its
 * own BERTH_HOME, collects its output, waits for lines, and kills it (and
 * its process group) after the test whatever happened.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { REPO } from "./platform.js";
import { TEST_IMAGE_CACHE } from "./sandbox.js";

export interface CliProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output (already written or to come), from character `from` on. */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** The commands each test started that may still run, so a home is removed only once none of them writes to it. */
const started = new WeakMap<TestContext, Set<() => Promise<void>>>();

/** Kills what `t` started and waits for it: `after` hooks run in the order they were added, a home's usually before its server's. */
async function endCommands(t: TestContext): Promise<void> {
  await Promise.all([...(started.get(t) ?? [])].map((end) => end()));
}

export function tempHome(t: TestContext): string {
  const home = mkdtempSync(join(tmpdir(), "berth-cli-"));
  t.after(async () => {
    await endCommands(t);
    // What a command outside this test's reach still writes goes when the test file's process exits.
    const remove = () => rmSync(home, { recursive: true, force: true, maxRetries: 3 });
    try {
      remove();
    } catch {
      process.once("exit", remove);
    }
  });
  return home;
}

export function berth(t: TestContext, args: string[], env: Record<string, string> = {}): CliProcess {
  return spawnCli(t, process.execPath, [join(REPO, "bin", "berth.js"), ...args], { cwd: REPO, env });
}

/** Any command (`npx berth ...` in another project, too), with the same output collection and cleanup as `berth`. */
export function spawnCli(t: TestContext, command: string, args: string[], options: { cwd: string; env?: Record<string, string> }): CliProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    // `serve` runs the sandbox where it can: on the test image store, so the Debian base is built once per machine.
    env: { ...process.env, NO_COLOR: "1", BERTH_IMAGE_CACHE: TEST_IMAGE_CACHE, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let text = "";
  const listeners = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      text += chunk;
      for (const listener of listeners) listener();
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const end = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
      await exited;
    }
  };
  if (!started.has(t)) started.set(t, new Set());
  started.get(t)!.add(end);
  t.after(end);
  return {
    child,
    output: () => text,
    exited,
    // Wide: a first `serve` bundles, type-checks and starts a platform, on a machine other work may load.
    waitFor(pattern, timeoutMs = 90_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.slice(from).match(pattern);
          if (match) {
            cleanup();
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${text}`));
        }, timeoutMs);
        const onExit = () => {
          check();
          cleanup();
          reject(new Error(`berth exited before printing ${pattern}; output:\n${text}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off("exit", onExit);
        };
        listeners.add(check);
        child.once("exit", onExit);
        check();
      });
    },
  };
}
