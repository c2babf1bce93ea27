/**
 * The agent: the small program every container runs. It starts generic (so a
 * runtime can keep a few warm and a cold start costs only the user's import),
 * is told once which bundle and function to load, runs `enter`, serves the
 * handler, reports readiness, and on stop drains in-flight requests and runs
 * `exit` within the grace period. It knows nothing of pools or the gateway.
 *
 * It talks to its driver over descriptor 3 (channel.ts); when that closes,
 * the driver is gone and the container ends with everything it started.
 */
import { Socket } from "node:net";
import { pathToFileURL } from "node:url";
import type { StartedFunction } from "../sdk/container.js";
import { isFunctionDefinition } from "../sdk/contract.js";
import { Channel } from "./channel.js";
import type { AgentMessage, DriverMessage, LoadMessage, ProbeMessage } from "./protocol.js";
import { claimPort, releasePort, waitForPort, watchPort } from "./port.js";
import { labelOutput } from "./request-output.js";
import { serveHandler, type Serving } from "./serve.js";
import { mapStackTraces } from "./stack-traces.js";

/** What the driver sends is trusted (a load message carries the whole environment); this only bounds a broken one. */
const MAX_DRIVER_MESSAGE = 64 * 1024 * 1024;

let started: StartedFunction | undefined;
let serving: Serving | undefined;
let stopping = false;

const channel = new Channel(
  new Socket({ fd: 3, readable: true, writable: true }),
  {
    onMessage: (message) => receive(message as DriverMessage),
    // The driver is gone: a container must not outlive its platform, and nobody is left to clean up after it.
    onClose: () => abandon(),
  },
  MAX_DRIVER_MESSAGE,
);

function send(message: AgentMessage): Promise<void> {
  return new Promise((resolve) => channel.send(message, () => resolve()));
}

/** The container's environment becomes exactly what the driver says, before any user code runs. */
function replaceEnvironment(env: Record<string, string>): void {
  for (const name of Object.keys(process.env)) delete process.env[name];
  Object.assign(process.env, env);
}

async function load(message: LoadMessage): Promise<void> {
  const deadline = Date.now() + message.startupTimeoutMs;
  replaceEnvironment(message.env);
  process.chdir(message.cwd);
  mapStackTraces(message.bundlePath, message.cwd);
  const module = (await import(pathToFileURL(message.bundlePath).href)) as Record<string, unknown>;
  const definition = module[message.functionName];
  if (!isFunctionDefinition(definition)) {
    throw new Error(`the bundle has no berth function exported as "${message.functionName}"`);
  }
  const manifest = definition.describe(message.functionName);
  if (manifest.kind === "server" && manifest.port !== undefined && !message.isolatedNetwork) await claimPort(manifest.port);
  started = await definition.start({ params: message.params });
  const { handler } = started;
  if (handler.type === "port") await waitForPort(handler.port, deadline, message.startupTimeoutMs);
  serving = await serveHandler(handler, message.socketPath, message.muxSocketPath, message.isolatedNetwork);
  await send({ type: "ready", endpoint: serving.endpoint });
  if (handler.type === "port") {
    watchPort(handler.port, () => {
      if (stopping) return;
      console.error(`the web server on port ${handler.port} stopped accepting connections (it exited or closed its socket); stopping this container`);
      exit(1);
    });
  }
}

async function stop(graceMs: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const deadline = Date.now() + graceMs;
  const hardStop = setTimeout(() => exit(0), graceMs + 1000);
  hardStop.unref();
  try {
    await serving?.close(graceMs);
    await withTimeout(started?.stop() ?? Promise.resolve(), Math.max(0, deadline - Date.now()));
  } catch (error) {
    console.error("exit hook failed:", error);
  }
  exit(0);
}

/** Answers once the calls the platform gave up on have ended, or at the grace: how many calls run then. */
async function probe(message: ProbeMessage): Promise<void> {
  const deadline = Date.now() + message.graceMs;
  const running = () => serving?.running() ?? 0;
  while (running() > message.inFlight && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await send({ type: "probe", id: message.id, running: running() });
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return Promise.race([promise, new Promise<void>((resolve) => setTimeout(resolve, ms).unref())]);
}

/**
 * Ends the container with `code`. What the user's code started is ended by
 * the driver once the agent has exited (the process group, the sandbox's pid
 * namespace), so the exit code it reports is the agent's own.
 */
function exit(code: number): never {
  releasePort();
  process.exit(code);
}

/** The driver is gone: the agent takes its process group (its own, under the process runtime) down with it. */
function abandon(): never {
  releasePort();
  try {
    process.kill(-process.pid, "SIGKILL");
  } catch {}
  process.exit(0);
}

labelOutput(process.stdout);
labelOutput(process.stderr);

function receive(message: DriverMessage): void {
  if (message.type === "load") {
    load(message).catch((error: unknown) => {
      const text = error instanceof Error ? error.message : String(error);
      console.error(error instanceof Error && error.stack ? error.stack : text);
      void send({ type: "failed", message: text }).then(() => exit(1));
    });
  } else if (message.type === "stop") {
    void stop(message.graceMs);
  } else if (message.type === "probe") {
    void probe(message);
  }
}

process.on("SIGTERM", () => void stop(30_000));

void send({ type: "idle" });
