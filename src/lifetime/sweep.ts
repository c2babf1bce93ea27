/**
 * The sweep a platform runs as it starts: whatever a dead run left behind
 * (processes still carrying its mark, its socket folders, temporary files
 * it was writing) is ended and removed, so nothing of a crashed server
 * survives into the next one. What belongs to a run that still goes (another
 * server on the same machine or the same home) is left alone.
 */
import { readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killMarked, waitGone } from "./processes.js";
import { currentRun, isRunAlive, tagRunOf, tempRunOf } from "./run.js";
import { SCOPE_DIR } from "./scope.js";

export interface SweepReport {
  /** Pids of a dead run's processes that were killed. */
  processes: number[];
  /** Socket folders and temporary files removed. */
  paths: string[];
}

/**
 * Kills the processes of dead runs, removes their socket folders, and
 * removes their temporary files found directly in `tempRoots` (folders
 * where files are written aside and renamed into place).
 */
export async function sweepDeadRuns(tempRoots: string[]): Promise<SweepReport> {
  const dead = new Map<string, boolean>();
  const isDead = (run: string | undefined) => {
    if (run === undefined || run === currentRun) return false;
    let answer = dead.get(run);
    if (answer === undefined) dead.set(run, (answer = !isRunAlive(run)));
    return answer;
  };
  const processes = killMarked((tag) => isDead(tagRunOf(tag)));
  await waitGone(processes, 2000);
  const paths: string[] = [];
  const remove = (path: string) => {
    rmSync(path, { recursive: true, force: true });
    paths.push(path);
  };
  for (const name of list(tmpdir())) {
    const run = SCOPE_DIR.exec(name)?.[1];
    if (isDead(run)) remove(join(tmpdir(), name));
  }
  for (const root of tempRoots) for (const name of list(root)) if (isDead(tempRunOf(name))) remove(join(root, name));
  return { processes, paths };
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
