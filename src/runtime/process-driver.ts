/**
 * The `process` runtime: each container is a Node child process running the
 * agent, serving on a Unix socket. Zero setup and no isolation: one trusted
 * user. The container runs as the server's user on the host's filesystem and
 * network; limits and `network: false` are not enforced. Its environment is
 * still exactly its spec's, and everything it starts is in its process group,
 * killed with it.
 *
 * Cold starts: a fresh `node` costs ~90 ms before any user code runs, so the
 * driver keeps `warmAgents` generic agents started ahead of time; a start
 * takes one (only the user's import and `enter` remain) and a replacement is
 * spawned in the background.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { AGENT_BUNDLE } from "../paths.js";
import { AgentHandle } from "./agent-handle.js";
import { startupFailure, type Container, type ContainerExit, type ContainerSpec, type LogSink, type RuntimeDriver } from "./types.js";

export interface ProcessDriverOptions {
  /** Generic agents kept started ahead of demand. Default 2. */
  warmAgents?: number;
}

export class ProcessDriver implements RuntimeDriver {
  readonly name = "process";
  private readonly socketDir = mkdtempSync(join(tmpdir(), "berth-"));
  private readonly warm: AgentHandle[] = [];
  private readonly running = new Set<AgentHandle>();
  private readonly warmTarget: number;
  private closed = false;

  constructor(options: ProcessDriverOptions = {}) {
    this.warmTarget = options.warmAgents ?? 2;
    this.refill();
  }

  async start(spec: ContainerSpec, log: LogSink): Promise<Container> {
    if (this.closed) throw startupFailure("the runtime is shutting down");
    const agent = this.warm.shift() ?? this.spawnAgent();
    agent.log = log;
    this.running.add(agent);
    void agent.exited.then(() => this.running.delete(agent));
    try {
      await agent.idle;
      const endpoint = await agent.load({
        type: "load",
        bundlePath: spec.bundlePath,
        functionName: spec.functionName,
        cwd: spec.cwd,
        socketPath: join(this.socketDir, `${spec.id}.sock`),
        env: spec.env,
        params: spec.params,
        startupTimeoutMs: spec.startupTimeoutMs,
        isolatedNetwork: false,
      });
      return { id: spec.id, endpoint, exited: agent.exited, stop: (graceMs) => agent.stop(graceMs) };
    } catch (error) {
      // The whole group: a server the user's start code spawned must not outlive a failed start.
      agent.kill();
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
    await Promise.all(all.map((agent) => agent.stop(0)));
    rmSync(this.socketDir, { recursive: true, force: true });
  }

  private refill(): void {
    while (!this.closed && this.warm.length < this.warmTarget) this.warm.push(this.spawnAgent());
  }

  private spawnAgent(): AgentHandle {
    const child = spawn(process.execPath, [AGENT_BUNDLE], {
      // Nothing of the server's environment: the agent replaces it with the container's spec anyway.
      env: {},
      detached: true,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
    });
    // Errors of a child (a failed send, a failed kill) end in its exit, which `exited` reports.
    child.on("error", () => {});
    const killGroup = () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    // The agent leads its process group: whatever the user's code started there goes when it does, however it ends.
    const exited = new Promise<ContainerExit>((resolve) =>
      child.once("exit", (code, signal) => {
        killGroup();
        resolve({ code, signal });
      }),
    );
    const agent = new AgentHandle({ child, control: child.stdio[3] as Duplex, exited, kill: killGroup });
    // A spare that dies is only dropped: refilling here could spin if agents die at birth; the next start refills.
    void agent.exited.then(() => {
      const index = this.warm.indexOf(agent);
      if (index >= 0) this.warm.splice(index, 1);
    });
    return agent;
  }
}
