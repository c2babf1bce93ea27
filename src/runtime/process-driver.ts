/**
 * The `process` runtime: each container is a Node child process running the
 * agent, serving on a Unix socket. Zero setup, no isolation beyond a process.
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
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { AGENT_MAIN } from "../paths.js";
import type { AgentMessage, DriverMessage, LoadMessage } from "../agent/protocol.js";
import { diesWithParent, killGroup, killMarked, waitGone } from "../lifetime/processes.js";
import { RUN_ENV } from "../lifetime/run.js";
import type { RunScope } from "../lifetime/scope.js";
import {
  type Container,
  type ContainerEndpoint,
  type ContainerExit,
  type ContainerSpec,
  type LogSink,
  type ProbeResult,
  type RuntimeDriver,
  startupFailure,
  startupInterrupted,
} from "./types.js";

/** Milliseconds past startupTimeout the agent gets to report its own, more specific, start-up error. */
const AGENT_REPORT_GRACE_MS = 1000;

/** Milliseconds an ended container's processes get to be gone (reaped) before `exited` resolves anyway. */
const REAP_MS = 2000;

/** Variables a container inherits from the platform's environment; nothing else leaks in. */
const INHERITED_ENV = ["PATH", "HOME", "LANG", "TZ", "TMPDIR", "NODE_OPTIONS"];

export interface ProcessDriverOptions {
  /** Generic agents kept started ahead of demand. Default 2. */
  warmAgents?: number;
  /** Marks the agents and holds their socket folder; the platform closes it after the driver. */
  scope: RunScope;
}

interface Agent {
  child: ChildProcess;
  /** Its `BERTH_RUN` mark: what it and the processes it starts carry. */
  tag: string;
  idle: Promise<void>;
  /** Resolves once the agent has exited and everything it started is gone. */
  exited: Promise<ContainerExit>;
  log?: LogSink;
  /** The socket it serves on once loaded, removed when it ends. */
  socketPath?: string;
  /** The driver itself killed or stopped it: its end is no one else's doing. */
  ending: boolean;
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
    agent.log = log;
    this.running.add(agent);
    void agent.exited.then(() => this.running.delete(agent));
    try {
      await agent.idle;
      const endpoint = await this.load(agent, spec);
      return {
        id: spec.id,
        endpoint,
        exited: agent.exited,
        stop: (graceMs) => this.stopAgent(agent, graceMs),
        probe: (inFlight, graceMs) => probeAgent(agent, inFlight, graceMs),
      };
    } catch (error) {
      // The whole group: a server the user's start code spawned must not outlive a failed start.
      end(agent);
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
    await Promise.all(all.map((agent) => this.stopAgent(agent, 0)));
  }

  private load(agent: Agent, spec: ContainerSpec): Promise<ContainerEndpoint> {
    agent.socketPath = join(this.scope.socketDir, `${spec.id}.sock`);
    const message: LoadMessage = {
      type: "load",
      bundlePath: spec.bundlePath,
      functionName: spec.functionName,
      cwd: spec.cwd,
      socketPath: agent.socketPath,
      env: spec.env,
      params: spec.params,
      startupTimeoutMs: spec.startupTimeoutMs,
    };
    return new Promise((resolve, reject) => {
      // The agent enforces startupTimeout itself and says why (e.g. which port never opened); this is the backstop for an agent that hangs.
      const timer = setTimeout(() => {
        cleanup();
        reject(startupFailure(`container did not become ready within ${spec.startupTimeoutMs / 1000} s (startupTimeout)`));
      }, spec.startupTimeoutMs + AGENT_REPORT_GRACE_MS);
      const onMessage = (reply: AgentMessage) => {
        if (reply.type === "ready") {
          cleanup();
          resolve(reply.endpoint);
        } else if (reply.type === "failed") {
          cleanup();
          reject(startupFailure(`container failed to start: ${reply.message}`));
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        cleanup();
        // A signal the driver did not send came from outside (an operator, the OOM killer): not the function's failure.
        if (signal !== null && !agent.ending) reject(startupInterrupted(`container was killed during start-up (${signal})`));
        else reject(startupFailure(`container exited during start-up (${signal ?? `code ${code}`})`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        agent.child.off("message", onMessage);
        agent.child.off("exit", onExit);
      };
      agent.child.on("message", onMessage);
      agent.child.once("exit", onExit);
      sendTo(agent, message);
    });
  }

  private async stopAgent(agent: Agent, graceMs: number): Promise<ContainerExit> {
    const { child } = agent;
    if (child.exitCode === null && child.signalCode === null) {
      if (graceMs > 0 && child.connected) {
        agent.ending = true;
        sendTo(agent, { type: "stop", graceMs });
        const timer = setTimeout(() => end(agent), graceMs + 2000);
        timer.unref();
        void agent.exited.then(() => clearTimeout(timer));
      } else {
        end(agent);
      }
    }
    return agent.exited;
  }

  private refill(): void {
    while (!this.closed && this.warm.length < this.warmTarget) this.warm.push(this.spawnAgent());
  }

  private spawnAgent(): Agent {
    const env: Record<string, string> = {};
    for (const key of INHERITED_ENV) if (process.env[key] !== undefined) env[key] = process.env[key]!;
    Object.assign(env, this.scope.env("agent"));
    // Not the platform's own flags (a TypeScript loader, test-runner options): the agent is plain compiled JS.
    const { command, args } = diesWithParent(process.execPath, [AGENT_MAIN]);
    const child = spawn(command, args, {
      env,
      // Its own process group, which holds whatever the user's code starts.
      detached: true,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "json",
    });
    // Errors of a child (a failed send, a failed kill) end in its exit, which `exited` reports.
    child.on("error", () => {});
    const agent: Agent = {
      child,
      tag: env[RUN_ENV]!,
      ending: false,
      idle: new Promise((resolve, reject) => {
        const onMessage = (message: AgentMessage) => {
          if (message.type === "idle") {
            child.off("message", onMessage);
            resolve();
          }
        };
        child.on("message", onMessage);
        child.once("exit", () => reject(startupFailure("the container's agent exited before it was ready")));
      }),
      exited: new Promise((resolve) => {
        child.once("exit", (code, signal) => {
          void reap(agent).then(() => resolve({ code, signal }));
        });
      }),
    };
    agent.idle.catch(() => {});
    for (const [stream, source] of [["stdout", child.stdout!], ["stderr", child.stderr!]] as const) {
      source.on("data", (chunk: Buffer) => agent.log?.write(chunk, stream));
      source.on("end", () => agent.log?.end(stream));
    }
    // A spare that dies is only dropped: refilling here could spin if agents die at birth; the next start refills.
    void agent.exited.then(() => {
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
async function reap(agent: Agent): Promise<void> {
  killGroup(agent.child.pid ?? 0);
  await waitGone(
    killMarked((tag) => tag === agent.tag),
    REAP_MS,
  );
  if (agent.socketPath) rmSync(agent.socketPath, { force: true });
}

/** Kills the agent and its group at once. */
function end(agent: Agent): void {
  agent.ending = true;
  killGroup(agent.child.pid ?? 0);
  agent.child.kill("SIGKILL");
}

/** Milliseconds past a probe's grace that an agent's answer may take before its loop counts as blocked. */
const PROBE_MARGIN_MS = 1000;
let nextProbeId = 0;

function probeAgent(agent: Agent, inFlight: number, graceMs: number): Promise<ProbeResult> {
  const { child } = agent;
  if (child.exitCode !== null || child.signalCode !== null || !child.connected) return Promise.resolve("unresponsive");
  nextProbeId += 1;
  const id = nextProbeId;
  return new Promise((resolve) => {
    const finish = (result: ProbeResult) => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      resolve(result);
    };
    const onMessage = (message: AgentMessage) => {
      if (message.type === "probe" && message.id === id) finish(message.running > inFlight ? "lingering" : "ended");
    };
    const onExit = () => finish("unresponsive");
    const timer = setTimeout(() => finish("unresponsive"), graceMs + PROBE_MARGIN_MS);
    child.on("message", onMessage);
    child.once("exit", onExit);
    sendTo(agent, { type: "probe", id, inFlight, graceMs });
  });
}

/** A dying agent's IPC pipe can break under a send; its exit is reported through `exited`, so the error only ends it. */
function sendTo(agent: Agent, message: DriverMessage): void {
  agent.child.send(message, (error) => {
    if (error) end(agent);
  });
}
