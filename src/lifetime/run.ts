/**
 * Which run of berth made a process or a temporary file. Every process the
 * platform starts carries `BERTH_RUN=<run>/<scope>/<name>` in its
 * environment, and every temporary file or folder it writes carries `.<run>.`
 * in its name, where `<run>` is `<pid>-<start time>` of the server process:
 * a pair no other process on the machine has had since boot. So whatever a
 * run leaves behind (it was killed with `kill -9`, the machine lost power) is
 * told apart from the work of a run that is still going, which may share the
 * same machine and even the same `$BERTH_HOME` (`berth serve` next to
 * `berth server`), and is ended by the next run's sweep (sweep.ts).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { systemCode } from "../errors/codes.js";

/** The environment variable that marks every process the platform starts. */
export const RUN_ENV = "BERTH_RUN";

/**
 * A process's start time in clock ticks since boot (field 22 of
 * `/proc/<pid>/stat`), or undefined where there is no such process or no
 * `/proc` (macOS).
 */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may contain spaces: count from the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** This process's run: `<pid>-<start time>` (without `/proc`, the time this module loaded, in ms). */
export const currentRun = `${process.pid}-${startTimeOf(process.pid) ?? Date.now()}`;

const RUN = /^(\d+)-(\d+)$/;

/** Whether the process that is `run` still runs (its pid is taken by the same process, started at the same time). */
export function isRunAlive(run: string): boolean {
  const match = RUN.exec(run);
  if (!match) return false;
  const pid = Number(match[1]);
  const started = startTimeOf(pid);
  if (started !== undefined) return started === match[2];
  // No /proc entry: either no such process, or no /proc at all (then the pid alone must do).
  try {
    process.kill(pid, 0);
    return !isLinux();
  } catch (error) {
    return systemCode(error) === "EPERM" && !isLinux();
  }
}

function isLinux(): boolean {
  return process.platform === "linux";
}

/**
 * A name for a temporary file or folder that becomes `target` once
 * complete (by rename): `<target>.<run>.<random>.tmp`, so a sweep can tell
 * whether the run writing it is gone.
 */
export function tempPath(target: string): string {
  return `${target}.${currentRun}.${randomBytes(4).toString("hex")}.tmp`;
}

const TEMP = /\.(\d+-\d+)\.[0-9a-f]+\.tmp$/;

/** The run that wrote a temporary file named by `tempPath`, or undefined for any other name. */
export function tempRunOf(name: string): string | undefined {
  return TEMP.exec(name)?.[1];
}

/** The run in a process's `BERTH_RUN` value (`<run>/<scope>/<name>`). */
export function tagRunOf(tag: string): string | undefined {
  const run = tag.split("/")[0];
  return run && RUN.test(run) ? run : undefined;
}
