/**
 * The agent: the small program every container runs. It starts generic (so a
 * runtime can keep a few warm and a cold start costs only the user's import),
 * is told once which bundle and function to load, runs `enter`, serves the
 * handler, reports readiness, and on stop drains in-flight requests and runs
 * `exit` within the grace period. It knows nothing of pools or the gateway.
 */
import { pathToFileURL } from "node:url";
import { isFunctionDefinition, type StartedFunction } from "../sdk/contract.js";
import type { AgentMessage, DriverMessage, LoadMessage, ProbeMessage } from "./protocol.js";
import { claimPort, releasePort, waitForPort, watchPort } from "./port.js";
import { labelOutput } from "./request-output.js";
import { serveHandler, type Serving } from "./serve.js";
import { mapStackTraces } from "./stack-traces.js";

let started: StartedFunction | undefined;
let serving: Serving | undefined;
let stopping = false;

function send(message: AgentMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

async function load(message: LoadMessage): Promise<void> {
  const deadline = Date.now() + message.startupTimeoutMs;
  // Tells the SDK it runs in a container (e.g. `Secret.fromDotenv` then needs no file).
  Object.assign(process.env, message.env, { BERTH_CONTAINER: "1" });
  process.chdir(message.cwd);
  mapStackTraces(message.bundlePath, message.cwd);
  const module = (await import(pathToFileURL(message.bundlePath).href)) as Record<string, unknown>;
  const definition = module[message.functionName];
  if (!isFunctionDefinition(definition)) {
    throw new Error(`the bundle has no berth function exported as "${message.functionName}"`);
  }
  const manifest = definition.describe(message.functionName);
  if (manifest.kind === "server" && manifest.port !== undefined) await claimPort(manifest.port);
  started = await definition.start({ params: message.params });
  const { handler } = started;
  if (handler.type === "port") await waitForPort(handler.port, deadline, message.startupTimeoutMs);
  serving = await serveHandler(handler, message.socketPath);
  await send({ type: "ready", endpoint: serving.endpoint });
  if (handler.type === "port") {
    watchPort(handler.port, () => {
      if (stopping) return;
      console.error(`the web server on port ${handler.port} stopped accepting connections (it exited or closed its socket); stopping this container`);
      exitWithChildren(1);
    });
  }
}

async function stop(graceMs: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const deadline = Date.now() + graceMs;
  const hardStop = setTimeout(() => process.exit(0), graceMs + 1000);
  hardStop.unref();
  try {
    await serving?.close(graceMs);
    await withTimeout(started?.stop() ?? Promise.resolve(), Math.max(0, deadline - Date.now()));
  } catch (error) {
    console.error("exit hook failed:", error);
  }
  exitWithChildren(0);
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

/** The runtime starts the agent as a process-group leader, so servers the user spawned die with it. */
function exitWithChildren(code: number): never {
  process.exitCode = code;
  releasePort();
  try {
    process.kill(-process.pid, "SIGKILL");
  } catch {}
  process.exit(code);
}

labelOutput(process.stdout);
labelOutput(process.stderr);

process.on("message", (message: DriverMessage) => {
  if (message.type === "load") {
    load(message).catch((error: unknown) => {
      const text = error instanceof Error ? error.message : String(error);
      console.error(error instanceof Error && error.stack ? error.stack : text);
      void send({ type: "failed", message: text }).then(() => exitWithChildren(1));
    });
  } else if (message.type === "stop") {
    void stop(message.graceMs);
  } else if (message.type === "probe") {
    void probe(message);
  }
});

process.on("SIGTERM", () => void stop(30_000));
// The driver's death closes the IPC channel: a container must not outlive its platform.
process.on("disconnect", () => exitWithChildren(0));

void send({ type: "idle" });
