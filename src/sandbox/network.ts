/**
 * Outbound network for a sandbox: slirp4netns, a user-mode TCP/IP stack,
 * plugged into the sandbox's own network namespace. The sandbox sees a tap
 * device (10.0.2.100, gateway 10.0.2.2, DNS 10.0.2.3); its connections leave
 * from the host as ordinary sockets of the slirp4netns process.
 *
 * What it cannot reach: the host's loopback (`--disable-host-loopback` makes
 * 10.0.2.2 a dead end instead of an alias of 127.0.0.1, and the namespace's
 * own 127.0.0.1 is its own), so not the control API, the gateway or other
 * containers' servers. slirp4netns runs seccomp-filtered in a mount
 * namespace of its own (`--enable-sandbox --enable-seccomp`), since it parses
 * every packet the container sends.
 */
import { spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";

/** `/etc/resolv.conf` inside a sandbox with network: slirp4netns's DNS forwarder. */
export const SANDBOX_RESOLV_CONF = "nameserver 10.0.2.3\noptions edns0\n";

/** Ready within this, or the container fails to start naming the network. */
const READY_TIMEOUT_MS = 10_000;

export interface NetworkAttachment {
  /** Stops the helper; the namespace is left without outside connectivity. */
  close(): void;
}

/**
 * Gives the network namespace of process `pid` (a sandbox's first process)
 * an outbound link. Resolves once the link is configured.
 */
export function attachNetwork(slirp4netns: string, pid: number): Promise<NetworkAttachment> {
  const child = spawn(
    slirp4netns,
    [
      "--configure",
      "--mtu=65520",
      "--disable-host-loopback",
      "--enable-sandbox",
      "--enable-seccomp",
      // Stay in our own user namespace: joining the sandbox's (its default)
      // would leave slirp4netns without rights on the namespace's parent.
      "--userns-path=/proc/self/ns/user",
      "--ready-fd=3",
      "--exit-fd=4",
      String(pid),
      "tap0",
    ],
    { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"], detached: false },
  );
  child.on("error", () => {});
  const ready = child.stdio[3] as Readable;
  // Closing our end of the exit pipe stops slirp4netns; so does our death.
  const exitPipe = child.stdio[4] as Writable;
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
  const close = () => {
    exitPipe.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`not ready within ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
    const fail = (why: string) => {
      clearTimeout(timer);
      close();
      reject(new Error(`the container's network (slirp4netns) failed: ${why}${stderr.trim() ? `: ${stderr.trim().split("\n").at(-1)}` : ""}`));
    };
    ready.once("data", () => {
      clearTimeout(timer);
      child.removeAllListeners("exit");
      resolve({ close });
    });
    child.once("exit", (code, signal) => fail(`exited (${signal ?? `code ${code}`}) before it was ready`));
  });
}
