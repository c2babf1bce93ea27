/**
 * Ports for servers a test starts at an address it chose (a `webServer`
 * port, a server restarted at the same address). They come from below the
 * kernel's ephemeral range: ports from there are handed out to every
 * `listen(0)` and outgoing connection of the whole machine, so one picked
 * that way can be taken by another test's socket between two starts, and
 * the restart fails with EADDRINUSE.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const LOWEST = 10_000;

/** A port free on 127.0.0.1 now, outside the ephemeral range. */
export async function freePort(): Promise<number> {
  const highest = ephemeralStart() - 1;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (highest - LOWEST + 1));
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port between ${LOWEST} and ${highest} after 100 tries`);
}

function ephemeralStart(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const start = Number(low);
    if (start > LOWEST + 1000) return start;
  } catch {
    // Not Linux: its usual range starts at 32768 (the IANA one at 49152).
  }
  return 32_768;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}
