/**
 * The runtime driver interface: how the platform starts and stops
 * containers. Drivers (`process` and `sandbox` today, `kubernetes` later)
 * know nothing of pools, routing or HTTP; they run one container per call and
 * hand back where to reach it. test/runtime-conformance.test.ts is what every
 * driver must do.
 *
 * What every driver must guarantee, whatever isolates its containers (the
 * pools and the tests rely on these, not on how a driver keeps them):
 *
 * - **Nothing outlives its container.** Every process a container starts
 *   ends when the container ends, however it ends (its own exit, `stop`, a
 *   `kill -9` from outside, the OOM killer); `exited` resolves only once
 *   they are gone and the container's socket is removed.
 * - **Nothing outlives the server.** Containers end when the server process
 *   ends, even by `kill -9` (a blocked event loop included), and a driver
 *   created later on the same machine ends whatever an earlier, dead run left
 *   behind (processes, socket folders) before it starts anything.
 * - **Kills from outside are told apart.** A start that ends because the
 *   container was killed from outside (a signal the driver did not send)
 *   rejects with `startupInterrupted`, which pools retry at once; everything
 *   the function did itself (an exception, an exit code, `startupTimeout`)
 *   rejects with `startupFailure`, which pools back off from.
 * - **A container answers `probe`** from its agent's event loop, so a
 *   container whose loop is blocked is told from one that is merely busy.
 */
import type { ContainerEndpoint } from "../agent/protocol.js";
import { BerthError } from "../errors/codes.js";

export type { ContainerEndpoint };

/** The image a container runs, as built by the platform's image builder. */
export interface ContainerImage {
  /** Content id of the image: containers of one image share warm spares. */
  id: string;
  /**
   * Root filesystem (a host directory) for runtimes that isolate one; the
   * `process` runtime runs on the host's own and ignores it.
   */
  rootfs?: string;
}

/** Resource limits of one container. */
export interface ContainerLimits {
  /** Memory in MiB; over it the container is killed ("out of memory"). */
  memoryMiB: number;
  /** CPU cores (0.5 = half a core), or null for no cap (fair shares). */
  cpu: number | null;
}

export interface ContainerSpec {
  /** Unique id, used in logs and socket names. */
  id: string;
  /** Export name of the function in the bundle. */
  functionName: string;
  /** Host path of the bundle (an ES module). Its bare imports resolve from `node_modules` beside it (process) or from the image's `/berth/node_modules` (sandbox). */
  bundlePath: string;
  image: ContainerImage;
  /** Working directory, as the container sees it. */
  cwd: string;
  /** The container's whole environment: exactly these variables, nothing of the server's. */
  env: Record<string, string>;
  /** Parameter set of the pool the container belongs to. */
  params: Record<string, unknown>;
  /** Milliseconds the container may take to become ready before it is killed. */
  startupTimeoutMs: number;
  /** Enforced by runtimes that isolate containers; the `process` runtime cannot. */
  limits: ContainerLimits;
  /** Outbound network (never the host's loopback); false: none at all. Only isolating runtimes can cut it. */
  network: boolean;
}

export type LogStream = "stdout" | "stderr";

/**
 * Receives a container's output as raw bytes, as they arrive: the platform
 * cuts them into bounded lines, so a driver never buffers a line itself
 * (a container may write one without end).
 */
export interface LogSink {
  write(chunk: Buffer, stream: LogStream): void;
  /** The stream closed (the container is gone): a last line without a newline is complete. */
  end(stream: LogStream): void;
}

export interface ContainerExit {
  code: number | null;
  signal: string | null;
  /** Why the runtime ended it, when it knows better than the code: "out of memory (limit 256 MiB)". */
  reason?: string;
}

/**
 * What a container did about the calls the platform gave up on (their
 * `timeout` passed and the gateway closed their connection), as `probe`
 * finds out:
 * - `ended`: its agent answered and runs no more calls than the platform
 *   still has in flight on it;
 * - `lingering`: its agent answered, but a call the platform gave up on is
 *   still running after the grace (a handler that ignores `request.signal`);
 * - `unresponsive`: no answer within the grace (its event loop is blocked,
 *   or it is gone).
 */
export type ProbeResult = "ended" | "lingering" | "unresponsive";

export interface Container {
  readonly id: string;
  readonly endpoint: ContainerEndpoint;
  /** Resolves when the container has ended, however it ended, with every process it started, and its socket is removed. */
  readonly exited: Promise<ContainerExit>;
  /** Asks the container to drain and run its exit hook within `graceMs`, then kills it; 0 kills it at once. */
  stop(graceMs: number): Promise<ContainerExit>;
  /**
   * Asks the container's agent, after the platform gave up on a call, to
   * answer once it runs at most `inFlight` calls (those the platform still
   * has on it), waiting up to `graceMs` milliseconds for the abandoned ones to
   * end. Resolves within `graceMs` plus a second; never rejects.
   */
  probe(inFlight: number, graceMs: number): Promise<ProbeResult>;
}

export interface RuntimeDriver {
  readonly name: string;
  /**
   * Starts a container and resolves once it is ready for traffic; rejects
   * with the reason it could not start (`startupFailure`, or
   * `startupInterrupted` when it was killed from outside).
   */
  start(spec: ContainerSpec, log: LogSink): Promise<Container>;
  /** Says an image is about to be used (a deploy): a driver that keeps warm spares per image starts some now. */
  prepare?(image: ContainerImage, network: boolean): void;
  /** Stops every container the driver started and any warm spares, and removes what they left. */
  close(): Promise<void>;
}

/** Why a container could not start, as a `startup_failed` error: `message` is shown to clients (503) and users. */
export function startupFailure(message: string): BerthError {
  return new BerthError("startup_failed", message);
}

/**
 * A start cut short from outside (a signal the driver did not send: an
 * operator's `kill`, the OOM killer): not the function's fault, so pools
 * start a replacement at once instead of backing off.
 */
export function startupInterrupted(message: string): BerthError {
  return new BerthError("startup_failed", message, { details: { interrupted: true } });
}

/** Whether a start failed because the container was killed from outside (`startupInterrupted`). */
export function isStartupInterrupted(error: unknown): boolean {
  return error instanceof BerthError && error.code === "startup_failed" && error.details.interrupted === true;
}
