/**
 * Messages between a runtime driver and the agent in a container, one JSON
 * object per line over the container's descriptor 3 (see channel.ts). Small
 * and closed: the agent is told once what to load and when to stop; it
 * reports that it is idle (started, generic), ready, or why it could not
 * start. Everything the agent sends is untrusted by the driver.
 */

/**
 * Where the gateway reaches a ready container: its HTTP socket (for
 * WebSocket upgrades, and every request of a user's own server), and, for
 * `fetch` and `node` handlers, the multiplexed socket its requests take
 * (src/mux); or a user's server on the host's network.
 */
export type ContainerEndpoint = { socketPath: string; muxSocketPath?: string } | { host: string; port: number };

export interface LoadMessage {
  type: "load";
  /** Path of the user's ES module bundle, as the container sees it. */
  bundlePath: string;
  /** Export name of the function to serve. */
  functionName: string;
  /** Working directory of the container. */
  cwd: string;
  /** Unix socket to listen on, as the container sees it. */
  socketPath: string;
  /** Unix socket to listen on for the multiplexed wire (src/mux), as the container sees it; used by `fetch` and `node` handlers. */
  muxSocketPath: string;
  /** The container's whole environment: the agent's own is replaced by it before the bundle is imported. */
  env: Record<string, string>;
  /** Parameter set of this container's pool. */
  params: Record<string, unknown>;
  /** Milliseconds a `server` function's port may take to accept connections. */
  startupTimeoutMs: number;
  /**
   * The container has a network namespace of its own: a `webServer` port is
   * nobody else's (no cross-container port lock), and the gateway, outside
   * that namespace, reaches it through `socketPath`, relayed to the port.
   */
  isolatedNetwork: boolean;
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

/** Checks a message from an agent; anything else is a protocol violation. */
export function parseAgentMessage(value: unknown): AgentMessage | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const message = value as Record<string, unknown>;
  if (message.type === "idle") return { type: "idle" };
  if (message.type === "failed" && typeof message.message === "string") return { type: "failed", message: message.message.slice(0, 4000) };
  if (message.type === "probe" && Number.isSafeInteger(message.id) && Number.isSafeInteger(message.running) && (message.running as number) >= 0) {
    return { type: "probe", id: message.id as number, running: message.running as number };
  }
  if (message.type === "ready" && typeof message.endpoint === "object" && message.endpoint !== null) {
    const endpoint = message.endpoint as Record<string, unknown>;
    if (typeof endpoint.socketPath === "string") {
      const mux = typeof endpoint.muxSocketPath === "string" ? { muxSocketPath: endpoint.muxSocketPath } : {};
      return { type: "ready", endpoint: { socketPath: endpoint.socketPath, ...mux } };
    }
    if (typeof endpoint.host === "string" && Number.isInteger(endpoint.port)) {
      return { type: "ready", endpoint: { host: endpoint.host, port: endpoint.port as number } };
    }
  }
  return undefined;
}

/** The request header by which the gateway tells the container each request's id (the same value as on the response). */
export const REQUEST_ID_HEADER = "berth-request-id";

/**
 * What a request id may look like; anything else in the header is ignored.
 * The gateway's are `<8 hex>-<base 36 counter>`.
 */
export const REQUEST_ID_PATTERN = /^[0-9a-z-]{1,64}$/;

/**
 * How the agent labels a line written while a request is being served: the
 * line starts with RS, the request id, US (`\x1e<id>\x1f`). The platform
 * strips the label and keeps the id with the line. Whatever runs in the
 * container can write one too: it only ever labels that app's own lines.
 */
export const REQUEST_LABEL_START = "\x1e";
export const REQUEST_LABEL_END = "\x1f";
