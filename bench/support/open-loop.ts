/**
 * An open-loop HTTP load generator, run in its own process: requests go out
 * on a fixed timetable (`rate` per second, one every 1000/rate ms) whether
 * or not earlier ones have been answered, and each latency is measured from
 * the request's scheduled time, not from when it was actually sent. A
 * closed-loop generator (wrk) waits for an answer before sending the next
 * request, so a stall delays the requests that would have suffered from it
 * and they are never measured ("coordinated omission"); here a stall shows
 * in every request scheduled during it. wrk2 does this, but is not packaged
 * for Debian.
 *
 * Sending is driven by a timer, which Node fires with ~1 ms granularity, so
 * a request may leave up to a few ms after its slot: that delay is counted
 * in its latency (as it must be) and also reported on its own as
 * `latenessP99`, the generator's floor, the same for every path measured.
 *
 *   node --import tsx bench/support/open-loop.ts <port> <host> <rate> <seconds> [connections=32]
 *
 * Prints one JSON line: `OpenLoopResult`, milliseconds.
 */
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import type { Failures } from "./report.js";
import { percentile } from "./rounds.js";

export interface OpenLoopResult {
  requests: number;
  failures: Failures;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** 99th percentile of how late the generator itself sent a request after its scheduled time. */
  latenessP99: number;
}

/** Milliseconds after the last scheduled request before an unanswered one counts as a "timeout" failure. */
const DRAIN_MS = 10_000;

/**
 * One kept-alive connection carrying one request at a time. Raw sockets and
 * a minimal reader (status and Content-Length; both servers measured here
 * send one) keep the generator's own cost per request to a few µs, so its
 * jitter stays small next to what it measures.
 */
class Connection {
  private readonly socket: Socket;
  private buffer: Buffer | null = null;
  /** Scheduled time of the request in flight, or -1 while idle. */
  scheduled = -1;

  constructor(
    port: number,
    private readonly request: Buffer,
    private readonly onAnswer: (connection: Connection, scheduled: number, status: number) => void,
    private readonly onFailure: (connection: Connection, scheduled: number) => void,
  ) {
    this.socket = connect({ host: "127.0.0.1", port, noDelay: true });
    this.socket.on("data", (chunk: Buffer) => this.read(chunk));
    this.socket.on("error", () => {});
    this.socket.on("close", () => {
      if (this.scheduled >= 0) this.onFailure(this, this.scheduled);
      this.scheduled = -2;
    });
  }

  get idle(): boolean {
    return this.scheduled === -1;
  }

  send(scheduled: number): void {
    this.scheduled = scheduled;
    this.socket.write(this.request);
  }

  close(): void {
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    const data = this.buffer ? Buffer.concat([this.buffer, chunk]) : chunk;
    const end = data.indexOf("\r\n\r\n");
    if (end < 0) {
      this.buffer = data;
      return;
    }
    const head = data.toString("latin1", 0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
    if (!Number.isFinite(length)) {
      this.socket.destroy();
      return;
    }
    if (data.length < end + 4 + length) {
      this.buffer = data;
      return;
    }
    this.buffer = null;
    const scheduled = this.scheduled;
    this.scheduled = -1;
    this.onAnswer(this, scheduled, Number(head.slice(9, 12)));
  }
}

async function main(): Promise<void> {
  const [portText, host, rateText, secondsText, connectionsText] = process.argv.slice(2);
  const rate = Number(rateText);
  const total = Math.round(rate * Number(secondsText));
  const interval = 1000 / rate;
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: berth-open-loop\r\n\r\n`);
  const latencies: number[] = [];
  const lateness: number[] = [];
  const failures: Failures = {};
  /** Scheduled times of requests waiting for a free connection (their wait counts in their latency). */
  const backlog: number[] = [];
  let answered = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const settle = (connection: Connection) => {
    answered += 1;
    if (answered === total) done();
    const waiting = backlog.shift();
    if (waiting !== undefined && connection.idle) dispatch(connection, waiting);
  };
  const onAnswer = (connection: Connection, scheduled: number, status: number) => {
    latencies.push(performance.now() - scheduled);
    if (!(status >= 200 && status < 400)) failures[status] = (failures[status] ?? 0) + 1;
    settle(connection);
  };
  const onFailure = (connection: Connection) => {
    failures.socket = (failures.socket ?? 0) + 1;
    settle(connection);
  };
  const connections = Array.from({ length: Number(connectionsText ?? 32) }, () => new Connection(Number(portText), request, onAnswer, onFailure));
  const dispatch = (connection: Connection, scheduled: number) => {
    lateness.push(performance.now() - scheduled);
    connection.send(scheduled);
  };

  // Give the connections a moment to open, then start the timetable.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const start = performance.now();
  let next = 0;
  const tick = () => {
    const now = performance.now();
    while (next < total && start + next * interval <= now) {
      const scheduled = start + next * interval;
      const free = connections.find((connection) => connection.idle);
      if (free) dispatch(free, scheduled);
      else backlog.push(scheduled);
      next += 1;
    }
    if (next < total) setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
  };
  tick();
  const timer = setTimeout(done, Number(secondsText) * 1000 + DRAIN_MS);
  await finished;
  clearTimeout(timer);
  if (answered < total) failures.timeout = total - answered;
  for (const connection of connections) connection.close();
  latencies.sort((a, b) => a - b);
  lateness.sort((a, b) => a - b);
  const result: OpenLoopResult = {
    requests: latencies.length,
    failures,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    p999: percentile(latencies, 99.9),
    max: latencies[latencies.length - 1] ?? NaN,
    latenessP99: percentile(lateness, 99),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

/** Runs the generator against `http://127.0.0.1:<port>/` with `host` as the Host header. */
export function runOpenLoop(port: number, host: string, rate: number, seconds: number): Promise<OpenLoopResult> {
  return new Promise((resolveResult, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), String(port), host, String(rate), String(seconds)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (data) => (out += data));
    child.once("exit", (code) => (code === 0 ? resolveResult(JSON.parse(out) as OpenLoopResult) : reject(new Error(`open-loop generator exited ${code}`))));
  });
}

if (process.argv[1]?.endsWith("open-loop.ts")) await main();
