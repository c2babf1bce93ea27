/**
 * Chaos under load: what a real `berth server` (a child process, state in
 * a throwaway home, loopback only) costs its clients when things go wrong,
 * as requests sent and failed by status or connection error:
 *
 *   (a) kill -9 of a random serving container every second for 30 s;
 *   (b) 10 redeploys of the app, one a second;
 *   (c) SIGTERM of the server (graceful: requests in flight finish, later
 *       connections are refused, which is counted apart from failures).
 *
 * The load is closed-loop: `--clients` clients send the next request as
 * soon as they have an answer, on kept-alive connections, to a function
 * that answers after 20 ms (3 to 6 containers of 10 slots). Bounded (about
 * a minute and a half in all), it never fails on numbers: it prints a table.
 * The server runs the process runtime, whose containers are host processes
 * the bench can pick and kill by the pid they answer with.
 *
 *   node --import tsx bench/chaos.ts [--clients 16] [--kill-seconds 30] [--redeploys 10] [--berth bin/berth.js]
 *
 * `--berth` runs another checkout's CLI (built), to compare before/after.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";
import { bundleApp } from "../src/bundler/bundle.js";
import { ApiClient } from "../src/cli/client.js";
import { printTable } from "./support/table.js";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "16" },
    "kill-seconds": { type: "string", default: "30" },
    redeploys: { type: "string", default: "10" },
    berth: { type: "string", default: resolve(import.meta.dirname, "..", "bin", "berth.js") },
  },
});
const CLIENTS = Number(values.clients);
const KILL_SECONDS = Number(values["kill-seconds"]);
const REDEPLOYS = Number(values.redeploys);
const BERTH = resolve(values.berth);
const REPO = resolve(import.meta.dirname, "..");

const source = (generation: number) => `
import { App } from "berthjs";
const app = new App("chaos");
export const work = app.function({ minContainers: 3, maxContainers: 6, concurrency: { maxInputs: 10 } }).webEndpoint(async () => {
  await new Promise((resolve) => setTimeout(resolve, 20));
  return { pid: process.pid, generation: ${generation} };
});
`;

interface Server {
  child: ChildProcess;
  /** Everything it printed. */
  output(): string;
  port: number;
  client: ApiClient;
  exited: Promise<number | null>;
}

/** Runs `berth server` on `home`; the child is killed if it never comes up. */
async function startServer(home: string): Promise<Server> {
  // Rate limiting off (a real limit would answer this much load from one client 429); the grace is the default 30 s where supported.
  // The process runtime: a container reports its host pid there, which (a) kills (a sandbox's agent sees its own namespace's pid).
  const child = spawn(process.execPath, [BERTH, "server", "--port", "0", "--runtime", "process", "--rate-limit", "1000000", "--burst", "1000000"], {
    env: { ...process.env, BERTH_HOME: home, NO_COLOR: "1", BERTH_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((done) =>
    child.once("exit", (code, signal) => {
      if (signal) output += `\n(berth server ended by ${signal})\n`;
      done(code);
    }),
  );
  let output = "";
  const port = await new Promise<number>((found, failed) => {
    const giveUp = setTimeout(() => {
      child.kill("SIGKILL");
      failed(new Error(`berth server did not start within 60 s:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on http:\/\/localhost:(\d+)/.exec(output);
      if (match) {
        clearTimeout(giveUp);
        found(Number(match[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then(() => failed(new Error(`berth server exited:\n${output}`)));
  });
  // A fresh server saves its admin token for the local CLI just after it says it listens.
  let token: string | undefined;
  for (let tries = 0; tries < 200 && !token; tries += 1) {
    try {
      token = (JSON.parse(readFileSync(join(home, "config.json"), "utf8")) as { tokens: Record<string, string> }).tokens[`http://localhost:${port}`];
    } catch {
      await sleep(50);
    }
  }
  return { child, port, exited, output: () => output, client: new ApiClient(`http://127.0.0.1:${port}`, undefined, token) };
}

async function deploy(server: Server, dir: string, generation: number): Promise<string> {
  const file = join(dir, "chaos.ts");
  writeFileSync(file, source(generation));
  const bundle = await bundleApp(file);
  await server.client.uploadBlob(bundle.hash, bundle.code);
  const result = await server.client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {});
  return new URL(result.functions[0]!.url).host;
}

/** What a scenario's clients saw: answers by status, connection failures by code, and the containers that answered lately. */
class Tally {
  sent = 0;
  readonly outcomes = new Map<string, number>();
  readonly recentPids = new Set<number>();

  count(outcome: string): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }

  get ok(): number {
    return this.outcomes.get("200") ?? 0;
  }

  /** Everything but 200, and but `expected` (e.g. connections refused after SIGTERM, which are no failure). */
  failures(expected: string[] = []): string {
    const failed = [...this.outcomes].filter(([outcome]) => outcome !== "200" && !expected.includes(outcome));
    return failed.length === 0 ? "none" : failed.map(([outcome, n]) => `${outcome} ×${n}`).join(", ");
  }
}

/** Closed-loop clients until `stop` is called (or, with `untilRefused`, until each is refused a connection). */
function load(port: number, host: string, tally: Tally, options: { untilRefused?: boolean } = {}): { stop(): Promise<void> } {
  const agent = new Agent({ keepAliveTimeout: 60_000, connections: CLIENTS });
  let stopped = false;
  const client = async () => {
    while (!stopped) {
      tally.sent += 1;
      try {
        const response = await request(`http://127.0.0.1:${port}/`, { headers: { host }, dispatcher: agent });
        const text = await response.body.text();
        tally.count(String(response.statusCode));
        if (response.statusCode === 200) tally.recentPids.add((JSON.parse(text) as { pid: number }).pid);
      } catch (error) {
        const code = (error as { code?: string }).code ?? (error as Error).message;
        tally.count(code);
        if (code === "ECONNREFUSED") {
          if (options.untilRefused) return;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }
  };
  const clients = Promise.all(Array.from({ length: CLIENTS }, client));
  return {
    async stop() {
      stopped = true;
      await clients;
      await agent.close();
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A process's parent pid (field 4 of /proc/<pid>/stat), or undefined once it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "berth-chaos-"));
  const dir = mkdtempSync(join(REPO, "bench", ".tmp-"));
  const rows: (string | number)[][] = [];
  let server: Server | undefined;
  try {
    server = await startServer(home);
    let host = await deploy(server, dir, 0);
    // Warm: the minContainers are up.
    for (let i = 0; i < 20; i += 1) await (await request(`http://127.0.0.1:${server.port}/`, { headers: { host } })).body.text();

    // (a) kill -9 a random container that served lately, every second.
    const kills = new Tally();
    const killLoad = load(server.port, host, kills);
    let killed = 0;
    for (let second = 0; second < KILL_SECONDS; second += 1) {
      await sleep(1000);
      const pids = [...kills.recentPids];
      kills.recentPids.clear();
      const victim = pids[Math.floor(Math.random() * pids.length)];
      // Only a container of this server, still running: an ended container's pid may already be another process's.
      if (victim === undefined || parentOf(victim) !== server.child.pid) continue;
      process.kill(victim, "SIGKILL");
      killed += 1;
    }
    await killLoad.stop();
    rows.push([`(a) kill -9 of a random container every second for ${KILL_SECONDS} s (${killed} killed)`, kills.sent, kills.ok, kills.failures()]);

    // (b) redeploys under load.
    const redeploys = new Tally();
    const redeployLoad = load(server.port, host, redeploys);
    for (let generation = 1; generation <= REDEPLOYS; generation += 1) {
      await sleep(1000);
      host = await deploy(server, dir, generation);
    }
    await sleep(1000);
    await redeployLoad.stop();
    rows.push([`(b) ${REDEPLOYS} redeploys, one a second`, redeploys.sent, redeploys.ok, redeploys.failures()]);

    // (c) SIGTERM under load: clients go on until the server refuses their connections.
    const term = new Tally();
    const termLoad = load(server.port, host, term, { untilRefused: true });
    await sleep(3000);
    const signalled = performance.now();
    server.child.kill("SIGTERM");
    const code = await server.exited;
    const exitMs = performance.now() - signalled;
    if (code !== 0) console.error(`berth server exited with ${code} after SIGTERM; its output:\n${server.output()}`);
    await termLoad.stop();
    const refused = term.outcomes.get("ECONNREFUSED") ?? 0;
    rows.push([
      `(c) SIGTERM of the server (exit ${code} after ${(exitMs / 1000).toFixed(1)} s; ${refused} connections refused after it, not counted)`,
      term.sent - refused,
      term.ok,
      term.failures(["ECONNREFUSED"]),
    ]);
    server = undefined;
  } catch (error) {
    if (server) console.error(`berth server's output:\n${server.output()}`);
    throw error;
  } finally {
    if (server) {
      server.child.kill("SIGKILL");
      await server.exited;
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
  printTable(
    `Chaos under load: ${CLIENTS} closed-loop clients, a 20 ms function (${BERTH === resolve(REPO, "bin", "berth.js") ? "this checkout" : BERTH}); load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
    ["scenario", "sent", "200", "failed (by status or connection error)"],
    rows,
  );
}

await main();
