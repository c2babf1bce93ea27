/**
 * Finding and ending processes by the `BERTH_RUN` mark they inherited
 * (run.ts), and starting processes that die with their parent. Linux reads
 * `/proc`; elsewhere only process groups are available, so those functions
 * find nothing and the callers fall back on groups.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { RUN_ENV } from "./run.js";
import { systemCode } from "../errors/codes.js";

export interface ProcessInfo {
  pid: number;
  /** Its process group. */
  pgid: number;
  /** Its `BERTH_RUN` value, if its environment carries one. */
  tag?: string;
}

const MARK = `${RUN_ENV}=`;

/** Every process of the machine this process may look at, with its group and mark. */
export function listProcesses(): ProcessInfo[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const found: ProcessInfo[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      const info: ProcessInfo = { pid, pgid };
      // Another user's process, or one that just ended: unreadable, and not ours to end anyway.
      const environ = `\0${readFileSync(`/proc/${pid}/environ`, "latin1")}`;
      const at = environ.indexOf(`\0${MARK}`);
      if (at >= 0) {
        const from = at + 1 + MARK.length;
        const end = environ.indexOf("\0", from);
        info.tag = environ.slice(from, end < 0 ? undefined : end);
      }
      found.push(info);
    } catch {
      continue;
    }
  }
  return found;
}

/** Sends SIGKILL, ignoring a process that is already gone. */
export function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
}

/** Sends SIGKILL to a whole process group, ignoring one that is already gone. */
export function killGroup(pgid: number): void {
  if (pgid > 1) kill(-pgid);
}

/**
 * Ends every process whose mark `matches`, and the process groups they
 * lead (the processes they started in turn, even those that dropped the
 * mark from their environment). Returns the pids it ended.
 */
export function killMarked(matches: (tag: string) => boolean): number[] {
  const ended: number[] = [];
  for (const info of listProcesses()) {
    if (info.tag === undefined || !matches(info.tag)) continue;
    if (info.pgid === info.pid) killGroup(info.pgid);
    kill(info.pid);
    ended.push(info.pid);
  }
  return ended;
}

/** Resolves once none of `pids` runs any more, or after `timeoutMs` (an ended process waits for its parent to reap it). */
export async function waitGone(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let left = pids;
  while (left.length > 0 && Date.now() < deadline) {
    left = left.filter((pid) => running(pid));
    if (left.length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Whether a process exists (signal 0 only checks; EPERM: it exists, as another user's). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return systemCode(error) === "EPERM";
  }
}

/** A zombie (ended, not yet reaped) no longer runs, though `kill(pid, 0)` still finds it. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    try {
      process.kill(pid, 0);
      return process.platform !== "linux";
    } catch {
      return false;
    }
  }
}

let setpriv: string | null | undefined;

/**
 * `command args`, started so that the kernel kills it when the process
 * that started it dies, however that process ends (`PR_SET_PDEATHSIG`
 * through util-linux's `setpriv`, which then execs the command in the same
 * process). Where `setpriv` is missing (macOS), the command as it is.
 */
export function diesWithParent(command: string, args: string[]): { command: string; args: string[] } {
  setpriv ??= findSetpriv();
  return setpriv ? { command: setpriv, args: ["--pdeathsig", "KILL", "--", command, ...args] } : { command, args };
}

function findSetpriv(): string | null {
  if (process.platform !== "linux") return null;
  for (const path of ["/usr/bin/setpriv", "/bin/setpriv"]) {
    const probe = spawnSync(path, ["--pdeathsig", "KILL", "--", "true"], { stdio: "ignore" });
    if (probe.status === 0) return path;
  }
  return null;
}
