/**
 * Runs `wrk` (Debian package `wrk`) as the load generator when it is
 * installed: written in C, it needs a fraction of the CPU of the node
 * generator in load.ts, which otherwise takes most of one of the machine's
 * two cores away from what is measured. Parses its `--latency` report into
 * load.ts's `LoadResult` shape, with failures by status from
 * wrk-statuses.lua (wrk alone only counts "non-2xx or 3xx").
 */
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import type { LoadResult } from "./load.js";
import type { Failures } from "./report.js";

const WRK = "/usr/bin/wrk";
const STATUS_SCRIPT = join(import.meta.dirname, "wrk-statuses.lua");

export function hasWrk(): boolean {
  try {
    accessSync(WRK, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function runWrk(port: number, host: string, connections: number, seconds: number, headers: Record<string, string> = {}): Promise<LoadResult> {
  const extra = Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
  const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "-H", `Host: ${host}`, ...extra, "-s", STATUS_SCRIPT, "--latency", `http://127.0.0.1:${port}/`];
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
  const failures: Failures = {};
  const statuses = /^statuses: (\{.*\})$/m.exec(report);
  if (statuses) {
    for (const [status, count] of Object.entries(JSON.parse(statuses[1]!) as Record<string, number>)) {
      if (Number(status) >= 400 || Number(status) < 200) failures[status] = count;
    }
  } else {
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(report)?.[1] ?? 0);
    if (non2xx > 0) failures["non-2xx/3xx"] = non2xx;
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
  if (socket) {
    ["socket connect", "socket read", "socket write", "timeout"].forEach((kind, i) => {
      const count = Number(socket[i + 1]);
      if (count > 0) failures[kind] = count;
    });
  }
  // A round in which nothing was answered (a hung server: wrk's timeouts may not have fired yet) is a failure, not a rate of 0.
  if (requests === 0) failures["no answer in the round"] = 1;
  return { requests, failures, rps, p50: latencyMs(report, "50%"), p99: latencyMs(report, "99%") };
}

function latencyMs(report: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(report);
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}
