/**
 * The `process` runtime: each container is a Node child process running the
 * agent, serving on a Unix socket. Zero setup and no isolation: one trusted
 * user. The container runs as the server's user on the host's filesystem and
 * network; limits and `network: false` are not enforced. Its environment is
 * still exactly its spec's (and its `BERTH_RUN` mark), and everything it
 * starts is in its process group, killed with it.
 *
 * Cold starts: a fresh `node` costs ~90 ms before any user code runs, so the
 * driver keeps `warmAgents` generic agents started ahead of time; a start
 * takes one (only the user's import and `enter` remain) and a replacement is
 * spawned in the background.
 *
 * Lifetimes (the guarantees of types.ts, kept with what a plain process
 * has): each agent leads its own process group and carries its scope's mark
 * (lifetime/), so when it ends, however it ends, its group and every process
 * still marked as its own are killed before `exited` resolves; it is started
 * to die with the server (`PR_SET_PDEATHSIG`), even with a blocked event
 * loop; and the scope's janitor kills what the agents started if the server
 * dies first.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { AGENT_BUNDLE } from "../paths.js";
import { diesWithParent, killGroup, killMarked, waitGone } from "../lifetime/processes.js";
import { RUN_ENV } from "../lifetime/run.js";
import type { RunScope } from "../lifetime/scope.js";
import { AgentHandle } from "./agent-handle.js";
import { startupFailure, type Container, type ContainerExit, type ContainerSpec, type LogSink, type RuntimeDriver } from "./types.js";

/** Milliseconds an ended container's processes get to be gone (reaped) before `exited` resolves anyway. */
const REAP_MS = 2000;

export interface ProcessDriverOptions {
  /** Generic agents kept started ahead of demand. Default 2. */
  warmAgents?: number;
  /** Marks the agents and holds their socket folder; the platform closes it after the driver. */
  scope: RunScope;
}

/** A started agent and its `BERTH_RUN` mark: what it and the processes it starts carry. */
interface Agent {
  handle: AgentHandle;
  tag: string;
  /** The socket it serves on once loaded, removed when it ends. */
  socketPath?: string;
  muxSocketPath?: string;
}

export class ProcessDriver implements RuntimeDriver {
  readonly name = "process";
  private readonly warm: Agent[] = [];
  private readonly running = new Set<Agent>();
  private readonly warmTarget: number;
  private readonly scope: RunScope;
  private closed = false;

  constructor(options: ProcessDriverOptions) {
    this.warmTarget = options.warmAgents ?? 2;
    this.scope = options.scope;
    this.refill();
  }

  async start(spec: ContainerSpec, log: LogSink): Promise<Container> {
    if (this.closed) throw startupFailure("the runtime is shutting down");
    const agent = this.warm.shift() ?? this.spawnAgent();
    const { handle } = agent;
    handle.log = log;
    this.running.add(agent);
    void handle.exited.then(() => this.running.delete(agent));
    try {
      await handle.idle;
      agent.socketPath = join(this.scope.socketDir, `${spec.id}.sock`);
      agent.muxSocketPath = join(this.scope.socketDir, `${spec.id}.mux.sock`);
      const endpoint = await handle.load({
        type: "load",
        bundlePath: spec.bundlePath,
        functionName: spec.functionName,
        cwd: spec.cwd,
        socketPath: agent.socketPath,
        muxSocketPath: agent.muxSocketPath,
        // The mark goes on into the container's own environment, so what the user's code starts carries it too.
        env: { ...spec.env, [RUN_ENV]: agent.tag },
        params: spec.params,
        startupTimeoutMs: spec.startupTimeoutMs,
        isolatedNetwork: false,
      });
      return {
        id: spec.id,
        endpoint,
        exited: handle.exited,
        stop: (graceMs) => handle.stop(graceMs),
        probe: (inFlight, graceMs) => handle.probe(inFlight, graceMs),
      };
    } catch (error) {
      // The whole group: a server the user's start code spawned must not outlive a failed start.
      handle.kill();
      throw error;
    } finally {
      // Spares are replaced once this start is over, not as it begins: in a
      // burst of 10 starts they would otherwise compete for the CPU with the
      // containers the burst is waiting for.
      this.refill();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.warm, ...this.running];
    this.warm.length = 0;
    await Promise.all(all.map((agent) => agent.handle.stop(0)));
  }

  private refill(): void {
    while (!this.closed && this.warm.length < this.warmTarget) this.warm.push(this.spawnAgent());
  }

  private spawnAgent(): Agent {
    // Nothing of the server's environment but the mark: the agent replaces it with the container's spec anyway.
    const env = this.scope.env("agent");
    const tag = env[RUN_ENV]!;
    // Dies with the server even when the server's event loop is blocked or it is killed with kill -9.
    const { command, args } = diesWithParent(process.execPath, [AGENT_BUNDLE]);
    const child = spawn(command, args, {
      env,
      // Its own process group, which holds whatever the user's code starts.
      detached: true,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
    });
    // Errors of a child (a failed send, a failed kill) end in its exit, which `exited` reports.
    child.on("error", () => {});
    const kill = () => {
      killGroup(child.pid ?? 0);
      child.kill("SIGKILL");
    };
    const agent: Agent = { tag, handle: undefined as never };
    const exited = new Promise<ContainerExit>((resolve) =>
      child.once("exit", (code, signal) => {
        void reap(child.pid ?? 0, agent).then(() => resolve({ code, signal }));
      }),
    );
    agent.handle = new AgentHandle({ child, control: child.stdio[3] as Duplex, exited, kill });
    // A spare that dies is only dropped: refilling here could spin if agents die at birth; the next start refills.
    void exited.then(() => {
      const index = this.warm.indexOf(agent);
      if (index >= 0) this.warm.splice(index, 1);
    });
    return agent;
  }
}

/**
 * After an agent ended, however it ended: its process group, and every
 * process that still carries its mark (one that left the group, `setsid`),
 * are killed and awaited, and its socket is removed. A `kill -9` of the
 * agent (the OOM killer) thus takes the server its user code spawned along,
 * which would otherwise hold the function's port for good.
 */
async function reap(pgid: number, agent: Agent): Promise<void> {
  killGroup(pgid);
  await waitGone(
    killMarked((tag) => tag === agent.tag),
    REAP_MS,
  );
  for (const path of [agent.socketPath, agent.muxSocketPath]) if (path) rmSync(path, { force: true });
}
