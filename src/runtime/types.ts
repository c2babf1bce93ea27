/**
 * The runtime driver interface: how the platform starts and stops
 * containers. Drivers (`process` today; `sandbox` and `kubernetes` later)
 * know nothing of pools, routing or HTTP; they run one container per call and
 * hand back where to reach it.
 */
import type { ContainerEndpoint } from "../agent/protocol.js";
import { BerthError } from "../errors/codes.js";

export type { ContainerEndpoint };

export interface ContainerSpec {
  /** Unique id, used in logs and socket names. */
  id: string;
  /** Export name of the function in the bundle. */
  functionName: string;
  /** Absolute path of the bundle (an ES module). */
  bundlePath: string;
  /** Working directory: the image's files, with its node_modules beside the bundle. */
  cwd: string;
  /** Environment variables of the container (image env, function env, secrets). */
  env: Record<string, string>;
  /** Parameter set of the pool the container belongs to. */
  params: Record<string, unknown>;
  /** Milliseconds the container may take to become ready before it is killed. */
  startupTimeoutMs: number;
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
}

export interface Container {
  readonly id: string;
  readonly endpoint: ContainerEndpoint;
  /** Resolves when the container has ended, however it ended. */
  readonly exited: Promise<ContainerExit>;
  /** Asks the container to drain and run its exit hook within `graceMs`, then kills it. */
  stop(graceMs: number): Promise<ContainerExit>;
}

export interface RuntimeDriver {
  readonly name: string;
  /** Starts a container and resolves once it is ready for traffic; rejects with the reason it could not start (`startupFailure`). */
  start(spec: ContainerSpec, log: LogSink): Promise<Container>;
  /** Stops every container the driver started and any warm spares. */
  close(): Promise<void>;
}

/** Why a container could not start, as a `startup_failed` error: `message` is shown to clients (503) and users. */
export function startupFailure(message: string): BerthError {
  return new BerthError("startup_failed", message);
}
