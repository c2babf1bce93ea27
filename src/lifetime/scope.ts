/**
 * A scope: what one platform (one `berth server`, one embedded `berth
 * serve`) starts and writes outside its state directory, so that all of it
 * ends with the platform however the platform ends. It marks the processes
 * started in it (`env`), owns a socket folder in the system's temporary
 * directory, and keeps a janitor: a small shell process in its own session
 * that holds a pipe from the platform's process and, when that pipe closes
 * (the platform exited, crashed or was killed with `kill -9`), ends every
 * process still carrying the scope's mark and removes the scope's folders.
 * Containers are also started to die with their parent (processes.ts), so a
 * blocked one goes at once; the janitor catches what they started.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killMarked, waitGone } from "./processes.js";
import { currentRun, RUN_ENV } from "./run.js";

/**
 * Waits for end of input (the platform is gone), then kills every process
 * whose environment has `BERTH_RUN=<prefix>...` (a few rounds, for processes
 * forked meanwhile), then removes the folders. `grep -z` reads each
 * NUL-separated variable as a line; the prefix has no regex metacharacters.
 */
const JANITOR = `
cat >/dev/null 2>&1
prefix=$1; shift
for round in 1 2 3; do
  pids=$(grep -lsz "^${RUN_ENV}=$prefix" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)
  [ -z "$pids" ] && break
  kill -9 $pids 2>/dev/null
  sleep 0.2
done
rm -rf -- "$@"
`;

/** Folder name of a scope's sockets: `berth-run-<run>-<scope>` in the temporary directory (sweep.ts finds dead ones by it). */
export const SCOPE_DIR = /^berth-run-(\d+-\d+)-\d+$/;

let scopes = 0;

export class RunScope {
  /** `<run>/<n>/`: the start of the mark of every process of this scope. */
  readonly prefix: string;
  /** Where containers' sockets go; removed with the scope. Short, since a socket path is limited to ~100 bytes. */
  readonly socketDir: string;
  private readonly dirs: string[];
  private readonly janitor: ChildProcess | undefined;
  private names = 0;

  /** `dirs`: more folders that belong to this scope alone and go with it (an embedded platform's throwaway state). */
  constructor(dirs: string[] = []) {
    scopes += 1;
    this.prefix = `${currentRun}/${scopes}/`;
    this.socketDir = join(tmpdir(), `berth-run-${currentRun}-${scopes}`);
    mkdirSync(this.socketDir, { recursive: true, mode: 0o700 });
    this.dirs = [this.socketDir, ...dirs];
    this.janitor = startJanitor(this.prefix, this.dirs);
  }

  /** The environment variable that marks a process as this scope's; `kind` says what it is in a listing (`agent`, `build`). */
  env(kind: string): Record<string, string> {
    this.names += 1;
    return { [RUN_ENV]: `${this.prefix}${kind}${this.names}` };
  }

  /** Whether a mark (`BERTH_RUN` value) is this scope's. */
  owns(tag: string): boolean {
    return tag.startsWith(this.prefix);
  }

  /** Ends every process of the scope that still runs, removes its folders and dismisses the janitor. */
  async close(): Promise<void> {
    await waitGone(killMarked((tag) => this.owns(tag)), 2000);
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    // Closing its input lets it run its (now empty-handed) cleanup and exit.
    this.janitor?.stdin?.end();
  }
}

function startJanitor(prefix: string, dirs: string[]): ChildProcess | undefined {
  try {
    // Without the mark (it would kill itself), in its own session (Ctrl-C in a terminal reaches the platform, not it).
    const env = { ...process.env };
    delete env[RUN_ENV];
    const janitor = spawn("sh", ["-c", JANITOR, "berth-janitor", prefix, ...dirs], { detached: true, stdio: ["pipe", "ignore", "ignore"], env });
    janitor.on("error", () => {});
    janitor.stdin?.on("error", () => {});
    // Neither the process nor its pipe may keep the platform's process alive.
    janitor.unref();
    if (janitor.stdin instanceof Socket) janitor.stdin.unref();
    return janitor;
  } catch {
    return undefined;
  }
}
