/**
 * The driver's side of one agent, whatever runs it (a child process, a
 * sandbox): its control channel, its output line by line, waiting for it to
 * be idle or ready, and stopping it with a grace period. Drivers differ only
 * in how they start an agent and how they end it; both use this.
 *
 * Everything that comes out of a container is untrusted: messages are
 * checked (protocol.ts) and bounded (channel.ts), output goes on as bytes to
 * the platform, which cuts it into bounded lines (logs/lines.ts), and a
 * container that breaks the protocol is killed.
 */
import type { ChildProcess } from "node:child_process";
import type { Duplex } from "node:stream";
import { Channel } from "../agent/channel.js";
import { parseAgentMessage, type AgentMessage, type ContainerEndpoint, type DriverMessage, type LoadMessage } from "../agent/protocol.js";
import { startupFailure, startupInterrupted, type ContainerExit, type LogSink, type ProbeResult } from "./types.js";

/** Milliseconds past startupTimeout the agent gets to report its own, more specific, start-up error. */
const AGENT_REPORT_GRACE_MS = 1000;
/** Milliseconds past the grace period before a stopping container is killed. */
const STOP_BACKSTOP_MS = 2000;
/** Longest control message an agent may send (its messages are a few hundred bytes). */
const MAX_AGENT_MESSAGE = 64 * 1024;
/** Characters of stderr kept for the message of a container that dies before it has a log. */
const STDERR_TAIL = 2000;
/** Milliseconds past a probe's grace that an agent's answer may take before its loop counts as blocked. */
const PROBE_MARGIN_MS = 1000;

export interface AgentProcess {
  child: ChildProcess;
  /** The agent's descriptor 3. */
  control: Duplex;
  /** Ends the container and every process in it, at once. */
  kill(): void;
  /** Resolves when the container has ended, with why when the driver knows. */
  exited: Promise<ContainerExit>;
}

export class AgentHandle {
  /** Resolves when the agent has started and waits for a function; rejects if it dies first. */
  readonly idle: Promise<void>;
  readonly exited: Promise<ContainerExit>;
  /** Where output goes; set when the agent is given to a container (a warm spare has none yet). */
  log?: LogSink;
  private readonly channel: Channel;
  private readonly listeners = new Set<(message: AgentMessage) => void>();
  private violation: string | undefined;
  /** The driver itself stopped or killed it: its end is no one else's doing. */
  private ending = false;
  private probes = 0;
  /** The end of what the container wrote to stderr: why it died, when it dies before anyone reads its logs. */
  private stderrTail = "";

  constructor(private readonly agent: AgentProcess) {
    this.exited = agent.exited;
    let resolveIdle!: () => void;
    let rejectIdle!: (error: Error) => void;
    this.idle = new Promise((resolve, reject) => ((resolveIdle = resolve), (rejectIdle = reject)));
    this.idle.catch(() => {});
    this.listeners.add((message) => {
      if (message.type === "idle") resolveIdle();
    });
    void agent.exited.then((exit) => rejectIdle(this.startError("the container's agent exited before it was ready", exit)));
    this.channel = new Channel(
      agent.control,
      {
        onMessage: (value) => {
          const message = parseAgentMessage(value);
          if (!message) return this.breach("a control message of unknown shape");
          for (const listener of [...this.listeners]) listener(message);
        },
        onClose: (violation) => {
          if (violation) this.breach(violation);
        },
      },
      MAX_AGENT_MESSAGE,
    );
    for (const [stream, source] of [["stdout", agent.child.stdout], ["stderr", agent.child.stderr]] as const) {
      if (!source) continue;
      source.on("data", (chunk: Buffer) => {
        if (stream === "stderr") this.stderrTail = (this.stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL);
        this.log?.write(chunk, stream);
      });
      source.on("end", () => this.log?.end(stream));
      source.on("error", () => {});
    }
  }

  get alive(): boolean {
    return this.agent.child.exitCode === null && this.agent.child.signalCode === null;
  }

  /**
   * Tells the agent what to serve; resolves with the endpoint it reports
   * once ready, rejects with why it could not start (and kills it).
   */
  load(message: LoadMessage): Promise<ContainerEndpoint> {
    return new Promise<ContainerEndpoint>((resolve, reject) => {
      // The agent enforces startupTimeout itself and says why (e.g. which port never opened); this is the backstop for an agent that hangs.
      const timer = setTimeout(() => {
        cleanup();
        reject(startupFailure(`container did not become ready within ${message.startupTimeoutMs / 1000} s (startupTimeout)`));
      }, message.startupTimeoutMs + AGENT_REPORT_GRACE_MS);
      const listener = (reply: AgentMessage) => {
        if (reply.type === "ready") {
          cleanup();
          resolve(reply.endpoint);
        } else if (reply.type === "failed") {
          cleanup();
          reject(startupFailure(`container failed to start: ${reply.message}`));
        }
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      this.listeners.add(listener);
      void this.exited.then((exit) => {
        cleanup();
        reject(this.startError("container exited during start-up", exit));
      });
      this.send(message);
    }).catch((error: unknown) => {
      this.kill();
      throw error;
    });
  }

  /** Asks the agent to drain and run `exit` within `graceMs`; kills it after that (at once with 0). */
  stop(graceMs: number): Promise<ContainerExit> {
    if (this.alive) {
      this.ending = true;
      if (graceMs > 0) {
        this.send({ type: "stop", graceMs });
        const timer = setTimeout(() => this.kill(), graceMs + STOP_BACKSTOP_MS);
        timer.unref();
        void this.exited.then(() => clearTimeout(timer));
      } else {
        this.kill();
      }
    }
    return this.exited;
  }

  kill(): void {
    this.ending = true;
    this.agent.kill();
  }

  /**
   * After the platform gave up on a call: whether the agent answers, within
   * `graceMs` and a margin, that it runs at most `inFlight` calls (`ended`),
   * answers with more (`lingering`), or cannot answer (`unresponsive`: its
   * event loop is blocked, or it is gone). Never rejects.
   */
  probe(inFlight: number, graceMs: number): Promise<ProbeResult> {
    if (!this.alive) return Promise.resolve("unresponsive");
    this.probes += 1;
    const id = this.probes;
    return new Promise((resolve) => {
      const finish = (result: ProbeResult) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(result);
      };
      const listener = (message: AgentMessage) => {
        if (message.type === "probe" && message.id === id) finish(message.running > inFlight ? "lingering" : "ended");
      };
      const timer = setTimeout(() => finish("unresponsive"), graceMs + PROBE_MARGIN_MS);
      this.listeners.add(listener);
      void this.exited.then(() => finish("unresponsive"));
      this.send({ type: "probe", id, inFlight, graceMs });
    });
  }

  private send(message: DriverMessage): void {
    // A dying agent's channel can break under a write; its exit is reported through `exited`.
    this.channel.send(message, (error) => {
      if (error) this.kill();
    });
  }

  private breach(violation: string): void {
    if (this.violation) return;
    this.violation = violation;
    this.log?.write(Buffer.from(`\nberth: container killed: it sent ${violation}\n`), "stderr");
    this.kill();
  }

  /** Why a start failed when its container ended: killed by a signal nobody here sent (an operator, the kernel) is not the function's failure, so no backoff. */
  private startError(what: string, exit: ContainerExit): Error {
    if (!this.ending && !this.violation && exit.reason === undefined && killedBySignal(exit)) {
      return startupInterrupted(`container was killed during start-up (${describeSignal(exit)})`);
    }
    return startupFailure(this.diedMessage(what, exit));
  }

  private diedMessage(what: string, exit: ContainerExit): string {
    const lastError = this.stderrTail.trim().split("\n").at(-1)?.trim().slice(0, 500);
    const why = this.violation ? `: it sent ${this.violation}` : lastError && !this.log ? `: ${lastError}` : "";
    return `${what} (${describeExit(exit)})${why}`;
  }
}

/**
 * Whether a container ended by a signal: a process driver sees the agent's
 * own; a sandbox's bwrap reports its command's signal the way a shell does,
 * as the exit code 128 + the signal number.
 */
function killedBySignal(exit: ContainerExit): boolean {
  return exit.signal !== null || (exit.code !== null && exit.code > 128 && exit.code <= 128 + 64);
}

function describeSignal(exit: ContainerExit): string {
  return exit.signal ?? `code ${exit.code}, a signal`;
}

/** "out of memory (limit 256 MiB)", "SIGKILL", "code 3". */
export function describeExit(exit: ContainerExit): string {
  return exit.reason ?? exit.signal ?? `code ${exit.code}`;
}
