/**
 * The agent's side of a `webServer` function's port: proving nobody else has
 * it before the user's server starts, waiting until it accepts connections,
 * and noticing when it stops accepting them. The process runtime shares the
 * host's network, so two replicas of a function with a hard-coded port would
 * otherwise silently share one server.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemCode } from "../errors/codes.js";
import { isAlive } from "../lifetime/processes.js";

/** How often a ready server's port is probed; a dead server is reported within this. */
const WATCH_INTERVAL_MS = 1000;

/**
 * Claims `port` for this container: refuses when a program already listens
 * on it, or when another live container holds its lock file (two replicas
 * starting at once both see a free port; only one gets the lock).
 */
export async function claimPort(port: number): Promise<void> {
  const hint =
    "the process runtime shares the host's network, so give each function its own port, set maxContainers: 1, or use the sandbox runtime";
  const lock = join(tmpdir(), `berth-port-${port}.lock`);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(lock, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldLock = lock;
      break;
    } catch (error) {
      if (systemCode(error) !== "EEXIST") throw error;
      const holder = Number(readFileSync(lock, "utf8"));
      if (isAlive(holder)) {
        throw new Error(`port ${port} is already taken by another container (process ${holder}) of a function that uses it: ${hint}`);
      }
      rmSync(lock, { force: true });
    }
  }
  if (await acceptsConnections(port)) throw new Error(`port ${port} is already in use on this machine by another program: ${hint}`);
}

let heldLock: string | undefined;

/** Gives the port's lock back; the agent calls it on its way out (a lock left by a killed agent is taken over as stale). */
export function releasePort(): void {
  if (!heldLock) return;
  try {
    if (Number(readFileSync(heldLock, "utf8")) === process.pid) rmSync(heldLock, { force: true });
  } catch {}
  heldLock = undefined;
}

/**
 * Resolves once `port` accepts a TCP connection on loopback, or rejects at
 * `deadline` (epoch ms) naming `timeoutMs`, the user's whole startupTimeout.
 */
export async function waitForPort(port: number, deadline: number, timeoutMs: number): Promise<void> {
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (await acceptsConnections(port)) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `nothing accepted connections on port ${port} within ${timeoutMs / 1000} s: ` +
          "make the server listen on 0.0.0.0 on that port (not only on another interface), or raise startupTimeout",
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/**
 * Calls `onLost` once, when a server that was accepting connections on
 * `port` stops (it exited or closed). Only a refusal counts, twice in a row:
 * a server too busy to accept at once is slow, not gone.
 */
export function watchPort(port: number, onLost: () => void): void {
  let refusals = 0;
  let probing = false;
  const timer = setInterval(() => {
    if (probing) return;
    probing = true;
    void probe(port).then((result) => {
      probing = false;
      refusals = result === "refused" ? refusals + 1 : 0;
      if (refusals < 2) return;
      clearInterval(timer);
      onLost();
    });
  }, WATCH_INTERVAL_MS);
  timer.unref();
}

async function acceptsConnections(port: number): Promise<boolean> {
  return (await probe(port)) === "accepted";
}

function probe(port: number): Promise<"accepted" | "refused" | "failed"> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setTimeout(WATCH_INTERVAL_MS, () => {
      socket.destroy();
      resolve("failed");
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve("accepted");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED" ? "refused" : "failed"));
  });
}
