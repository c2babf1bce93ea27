/**
 * The container side of the contract between the SDK and the platform: what
 * the agent asks of a started function and what it gets back. These types
 * name Node's `http` module, so they stay out of the published SDK types
 * (only `FunctionDefinition.start`, an internal member, refers to them),
 * and a project without @types/node can still type-check against the SDK.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";

/** What the agent receives when it asks a function to start inside a container. */
export interface StartContext {
  /** Validated parameter values of this container's pool (empty when the function has none). */
  params: Record<string, unknown>;
}

/** What a started function hands the agent to serve. */
export type ContainerHandler =
  | { type: "fetch"; fetch(request: Request): Promise<Response> | Response; attach?: ServerHook }
  | { type: "node"; listener(req: IncomingMessage, res: ServerResponse): void; attach?: ServerHook }
  | { type: "port"; port: number };

/**
 * Called once with the container's HTTP server before it listens, so an app
 * can take its `upgrade` events (WebSockets: @hono/node-ws's
 * `injectWebSocket`, a `ws` server attached to the user's own `http.Server`).
 */
export type ServerHook = (server: Server) => void;

export interface StartedFunction {
  handler: ContainerHandler;
  /** Runs the function's `exit` hook; the agent bounds it by the grace period. */
  stop(): Promise<void>;
}
