/**
 * Test support: a real PostgreSQL server of its own for a test (Debian's
 * `postgresql` package; `.ci/run` installs it). The cluster is created with
 * `initdb` in a temporary directory and served by `pg_ctl` on a free
 * loopback port; as root, both run as `nobody`, because PostgreSQL refuses
 * to run as root. `close()` stops it and removes the directory; a watchdog
 * process does the same if the test process dies without cleaning up, so
 * no server outlives its test run. `stop()` and `start()` take the server
 * down and bring it back on the same port (outage tests).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import pg from "pg";
import { freePort } from "./ports.js";

export interface TestPostgres {
  /** `postgres://berth@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** A fresh, empty database on this server; returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown: clients are disconnected). */
  stop(): void;
  /** Starts it again on the same port and data. */
  start(): void;
  close(): void;
}

const NOBODY = { uid: 65534, gid: 65534 };

/** Where Debian puts the server binaries (`/usr/lib/postgresql/<major>/bin`), newest first; else the PATH. */
export function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => existsSync(join(root, name, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0]) return join(root, versions[0], "bin");
  const which = spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" });
  if (which.status === 0) return join(which.stdout.trim(), "..");
  throw new Error("PostgreSQL is not installed: `apt-get install -y postgresql` (.ci/run does it)");
}


/** Starts a server for this test (or this `describe`, given its `after`); it is gone after it. */
export async function startPostgres(t: TestContext | { after(fn: () => unknown): void }): Promise<TestPostgres> {
  const server = await launchPostgres();
  t.after(() => server.close());
  return server;
}

export async function launchPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  const root = process.getuid?.() === 0;
  const as = root ? NOBODY : {};
  const dir = mkdtempSync(join(tmpdir(), "berth-pg-"));
  const data = join(dir, "data");
  if (root) chownSync(dir, NOBODY.uid, NOBODY.gid);
  const port = await freePort();
  const run = (tool: string, args: string[]) =>
    execFileSync(join(bin, tool), args, { ...as, cwd: dir, stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
  run("initdb", ["-D", data, "-U", "berth", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]);
  // Unix sockets in the data directory only; TCP on loopback only; no fsync: a test server loses nothing it needs.
  const options = `-p ${port} -k ${data} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  const start = () => run("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-o", options, "-w", "-t", "60", "start"]);
  const stop = () => {
    try {
      run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
    } catch {
      // Already stopped.
    }
  };
  start();
  const watchdog = spawnWatchdog(dir, data, bin, root);
  const url = `postgres://berth@127.0.0.1:${port}/postgres`;
  let closed = false;
  return {
    url,
    port,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, "")}"`);
      } finally {
        await client.end();
      }
      return `postgres://berth@127.0.0.1:${port}/${name}`;
    },
    stop,
    start,
    close() {
      if (closed) return;
      closed = true;
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        // Already stopped.
      }
      watchdog.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A detached shell that waits for this process to end, then stops the
 * server and removes its directory: the cleanup of a test run that was
 * killed before its `after` hooks ran.
 */
function spawnWatchdog(dir: string, data: string, bin: string, root: boolean) {
  const script = join(dir, "watchdog.sh");
  const asNobody = root ? "runuser -u nobody -- " : "";
  writeFileSync(
    script,
    `while kill -0 ${process.pid} 2>/dev/null && [ -d ${data} ]; do sleep 1; done
${asNobody}${join(bin, "pg_ctl")} -D ${data} -m immediate stop >/dev/null 2>&1
rm -rf ${dir}
`,
  );
  const child = spawn("sh", [script], { detached: true, stdio: "ignore" });
  child.unref();
  return child;
}
