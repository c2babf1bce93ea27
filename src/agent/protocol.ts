/**
 * Messages between a runtime driver and the agent in a container, over the
 * process IPC channel. Small and closed: the agent is told once what to load
 * and when to stop; it reports readiness or why it could not start.
 */

/** Where the gateway reaches a ready container. */
export type ContainerEndpoint = { socketPath: string } | { host: string; port: number };

export interface LoadMessage {
  type: "load";
  /** Absolute path of the user's ES module bundle. */
  bundlePath: string;
  /** Export name of the function to serve. */
  functionName: string;
  /** Working directory of the container (holds the image's node_modules). */
  cwd: string;
  /** Unix socket to listen on (fetch and node functions). */
  socketPath: string;
  /** Environment variables added before the bundle is imported. */
  env: Record<string, string>;
  /** Parameter set of this container's pool. */
  params: Record<string, unknown>;
  /** Milliseconds a `server` function's port may take to accept connections. */
  startupTimeoutMs: number;
}

export interface StopMessage {
  type: "stop";
  /** Milliseconds in-flight requests and the `exit` hook get before the agent exits anyway. */
  graceMs: number;
}

/**
 * Sent after the platform gave up on a call (its timeout passed): the agent
 * answers with a `ProbeReply` of the same `id` once it runs at most
 * `inFlight` calls, or after `graceMs`, whichever is first. An agent whose
 * event loop is blocked cannot answer at all, which is the point.
 */
export interface ProbeMessage {
  type: "probe";
  id: number;
  /** Calls the platform still has in flight on this container. */
  inFlight: number;
  /** Milliseconds to wait for abandoned calls to end. */
  graceMs: number;
}

export type DriverMessage = LoadMessage | StopMessage | ProbeMessage;

export interface ProbeReply {
  type: "probe";
  id: number;
  /** Calls the agent runs now; more than the probe's `inFlight` means an abandoned call is still running. */
  running: number;
}

export type AgentMessage =
  | { type: "idle" }
  | { type: "ready"; endpoint: ContainerEndpoint }
  | { type: "failed"; message: string }
  | ProbeReply;
