/**
 * Starts a bubblewrap sandbox and hands back its process, before its command
 * runs: bwrap reports the sandbox's first process (`--info-fd`), which joins
 * the sandbox's cgroup, and only then is the command let go (`--block-fd`),
 * so every process the command ever starts is counted and can be killed.
 *
 * Descriptors of the bwrap process: 0 /dev/null (stdin reads EOF), 1 and 2
 * pipes (output), 3 the control channel or nothing, 4 info, 5 block, then one
 * per data file, then the user namespace to join, if any. bwrap closes 4, 5
 * and the data files itself; the command inherits only 0-3.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import type { Duplex, Readable, Writable } from "node:stream";
import { bwrapArgs, type SandboxArgs } from "./bwrap-args.js";
import type { Cgroup } from "./cgroups.js";

export interface LaunchOptions {
  bwrap: string;
  sandbox: Omit<SandboxArgs, "infoFd" | "blockFd" | "dataFiles" | "userNamespace"> & {
    /** Read-only files created from these contents. */
    dataFiles: Array<{ content: string; target: string }>;
  };
  /** A descriptor of a prepared user namespace (`/proc/<pid>/ns/user`) to join; absent: bwrap makes one. */
  userNamespaceFd?: number;
  /** Host user bwrap runs as (containers: an unprivileged uid of their own). Absent: the server's. */
  runAs?: { uid: number; gid: number };
  /** Give the command a control channel at its descriptor 3. */
  control: boolean;
  /** The cgroup every process of the sandbox belongs to. */
  cgroup: Cgroup;
}

export interface LaunchedSandbox {
  /** The bwrap process (outside the namespaces). Its exit code is the command's. */
  child: ChildProcess;
  /** Host pid of the sandbox's first process: its namespaces are the sandbox's. */
  pid: number;
  /** The command's descriptor 3, when `control` was asked for. */
  control?: Duplex;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

const FIRST_DATA_FD = 6;

export async function launchSandbox(options: LaunchOptions): Promise<LaunchedSandbox> {
  const dataFds = options.sandbox.dataFiles.map((file, index) => ({ fd: FIRST_DATA_FD + index, target: file.target }));
  const usernsFd = options.userNamespaceFd === undefined ? undefined : FIRST_DATA_FD + dataFds.length;
  const args = bwrapArgs({
    ...options.sandbox,
    dataFiles: dataFds,
    userNamespace: usernsFd === undefined ? "new" : { fd: usernsFd },
    infoFd: 4,
    blockFd: 5,
  });
  const stdio: StdioOptions = ["ignore", "pipe", "pipe", options.control ? "pipe" : "ignore", "pipe", "pipe"];
  for (let i = 0; i < dataFds.length; i += 1) stdio.push("pipe");
  if (options.userNamespaceFd !== undefined) stdio.push(options.userNamespaceFd);
  const child = spawn(options.bwrap, args, {
    stdio,
    env: {},
    // A session of its own: the terminal's Ctrl-C reaches the server, which drains its containers.
    detached: true,
    ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
  });
  child.on("error", () => {});
  // A sandbox that dies resets its pipes; that shows as its exit, not as an error of ours.
  for (const stream of child.stdio) stream?.on("error", () => {});
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  for (const [index, file] of options.sandbox.dataFiles.entries()) (child.stdio[FIRST_DATA_FD + index] as Writable).end(file.content);

  let stderr = "";
  const collect = (chunk: Buffer) => (stderr = (stderr + chunk.toString("utf8")).slice(-4000));
  child.stderr!.on("data", collect);
  try {
    const pid = await readChildPid(child.stdio[4] as Readable, exited, () => stderr);
    try {
      options.cgroup.addProcess(pid);
    } catch (error) {
      // Most likely the sandbox already failed to set up (ESRCH): bwrap's own message says why.
      throw await setupFailure(exited, () => stderr, error as Error);
    }
    (child.stdio[5 as number] as Writable).end("x");
    return { child, pid, control: options.control ? (child.stdio[3] as Duplex) : undefined, exited };
  } catch (error) {
    killSandbox(child);
    throw error;
  } finally {
    child.stderr!.off("data", collect);
  }
}

/** bwrap writes `{"child-pid": N, ...}` and closes the descriptor; a bwrap that fails to set up closes it with nothing. */
function readChildPid(info: Readable, exited: Promise<unknown>, stderr: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = "";
    info.setEncoding("utf8");
    info.on("data", (chunk: string) => (text += chunk));
    info.once("end", () => {
      try {
        const pid = (JSON.parse(text) as { "child-pid"?: unknown })["child-pid"];
        if (typeof pid === "number" && Number.isInteger(pid) && pid > 0) return resolve(pid);
      } catch {}
      void setupFailure(exited, stderr).then(reject);
    });
  });
}

/** Waits (briefly) for bwrap to exit and write why it failed. */
async function setupFailure(exited: Promise<unknown>, stderr: () => string, cause?: Error): Promise<Error> {
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 500))]);
  const why = stderr().trim().split("\n").at(-1) || cause?.message || "bwrap exited";
  return new Error(`the sandbox did not start: ${why}`);
}

/** SIGKILLs bwrap; with `--die-with-parent` its sandbox, and the pid namespace with every process in it, goes too. */
export function killSandbox(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid!, "SIGKILL");
  } catch {}
}
