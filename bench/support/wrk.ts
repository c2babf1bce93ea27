/**
 * Runs `wrk` (Debian package `wrk`) as the load generator when it is
 * installed: written in C, it needs a fraction of the CPU of the node
 * generator in load.ts, which otherwise takes most of one of the machine's
 * two cores away from what is measured. Parses its `--latency` report into
 * load.ts's `LoadResult` shape.
 */
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import type { LoadResult } from "./load.js";

const WRK = "/usr/bin/wrk";

export function hasWrk(): boolean {
  try {
    accessSync(WRK, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function runWrk(port: number, host: string, connections: number, seconds: number): Promise<LoadResult> {
  const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "-H", `Host: ${host}`, "--latency", `http://127.0.0.1:${port}/`];
  return new Promise((resolveResult, reject) => {
    execFile(WRK, args, (error, stdout) => {
      if (error) return reject(error);
      try {
        resolveResult(parseWrk(stdout));
      } catch (parseError) {
        reject(parseError);
      }
    });
  });
}

/** Exported for its test: wrk's report is text, and its units vary per line (us, ms, s). */
export function parseWrk(report: string): LoadResult {
  const requests = Number(/(\d+) requests in/.exec(report)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(report)?.[1]);
  if (!Number.isFinite(requests) || !Number.isFinite(rps)) throw new Error(`unreadable wrk report:\n${report}`);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(report)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { requests, errors: non2xx + socketErrors, rps, p50: latencyMs(report, "50%"), p99: latencyMs(report, "99%") };
}

function latencyMs(report: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(report);
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}
