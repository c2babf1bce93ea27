/**
 * The `process` runtime: each container is a Node child process running the
 * agent, serving on a Unix socket. Zero setup, no isolation beyond a process.
 *
 * Cold starts: a fresh `node` costs ~90 ms before any user code runs, so the
 * driver keeps `warmAgents` generic agents started ahead of time; a start
 * takes one (only the user's import and `enter` remain) and a replacement is
 * spawned in the background.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { AGENT_MAIN } from "../paths.js";
import type { AgentMessage, DriverMessage, LoadMessage } from "../agent/protocol.js";
import {
  type Container,
  type ContainerEndpoint,
  type ContainerExit,
  type ContainerSpec,
  type LogSink,
  type ProbeResult,
  type RuntimeDriver,
  startupFailure,
} from "./types.js";


/** Milliseconds past startupTimeout the agent gets to report its own, more specific, start-up error. */
const AGENT_REPORT_GRACE_MS = 1000;

/** Variables a container inherits from the platform's environment; nothing else leaks in. */
const INHERITED_ENV = ["PATH", "HOME", "LANG", "TZ", "TMPDIR", "NODE_OPTIONS"];

export interface ProcessDriverOptions {
  /** Generic agents kept started ahead of demand. Default 2. */
  warmAgents?: number;
}

interface Agent {
  child: ChildProcess;
  idle: Promise<void>;
  exited: Promise<ContainerExit>;
  log?: LogSink;
}

export class ProcessDriver implements RuntimeDriver {
  readonly name = "process";
  private readonly socketDir = mkdtempSync(join(tmpdir(), "berth-"));
  private readonly warm: Agent[] = [];
  private readonly running = new Set<Agent>();
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
      killGroup(agent.child);
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
    rmSync(this.socketDir, { recursive: true, force: true });
  }

  private load(agent: Agent, spec: ContainerSpec): Promise<ContainerEndpoint> {
    const message: LoadMessage = {
      type: "load",
      bundlePath: spec.bundlePath,
      functionName: spec.functionName,
      cwd: spec.cwd,
      socketPath: join(this.socketDir, `${spec.id}.sock`),
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
        reject(startupFailure(`container exited during start-up (${signal ?? `code ${code}`})`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        agent.child.off("message", onMessage);
        agent.child.off("exit", onExit);
      };
      agent.child.on("message", onMessage);
      agent.child.once("exit", onExit);
      sendTo(agent.child, message);
    });
  }

  private async stopAgent(agent: Agent, graceMs: number): Promise<ContainerExit> {
    const { child } = agent;
    if (child.exitCode === null && child.signalCode === null) {
      if (graceMs > 0 && child.connected) {
        sendTo(child, { type: "stop", graceMs });
        const timer = setTimeout(() => killGroup(child), graceMs + 2000);
        timer.unref();
        void agent.exited.then(() => clearTimeout(timer));
      } else {
        killGroup(child);
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
    const child = fork(AGENT_MAIN, [], {
      env,
      // Not the platform's own flags (a TypeScript loader, test-runner options): the agent is plain compiled JS.
      execArgv: [],
      detached: true,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "json",
    });
    // Errors of a child (a failed send, a failed kill) end in its exit, which `exited` reports.
    child.on("error", () => {});
    const agent: Agent = {
      child,
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
      exited: new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal }))),
    };
    agent.idle.catch(() => {});
    for (const [stream, source] of [["stdout", child.stdout], ["stderr", child.stderr]] as const) {
      createInterface({ input: source!, crlfDelay: Infinity }).on("line", (line) => agent.log?.(line, stream));
    }
    // A spare that dies is only dropped: refilling here could spin if agents die at birth; the next start refills.
    void agent.exited.then(() => {
      const index = this.warm.indexOf(agent);
      if (index >= 0) this.warm.splice(index, 1);
    });
    return agent;
  }
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
    sendTo(child, { type: "probe", id, inFlight, graceMs });
  });
}

/** A dying agent's IPC pipe can break under a send; its exit is reported through `exited`, so the error is only swallowed. */
function sendTo(child: ChildProcess, message: DriverMessage): void {
  child.send(message, (error) => {
    if (error) killGroup(child);
  });
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
}
