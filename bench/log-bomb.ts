/**
 * A log bomb against a real `berth server` (a child process, so its memory
 * is its own): one request writes 40 lines of 5 MB and then one line of
 * 150 MB without a newline. Prints the server's resident memory before,
 * at its peak and after, how long the output took to be stored, the log
 * store's size on disk and how much `berth app logs` prints. Point it at
 * another checkout's root to compare (its `dist/` must be built).
 *
 *   npx tsx bench/log-bomb.ts [berth root = this checkout]
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { printTable } from "./support/table.js";

const root = resolve(process.argv[2] ?? join(import.meta.dirname, ".."));
const berth = join(root, "bin", "berth.js");
const home = mkdtempSync(join(tmpdir(), "berth-bomb-"));
const appDir = mkdtempSync(join(root, ".bench-bomb-"));
// The SDK's import path is the package's name: `berthjs`, or `berth` in checkouts from before it was renamed.
const sdk = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string }).name;
writeFileSync(
  join(appDir, "bomb.ts"),
  `import { App } from "${sdk}";
const app = new App("bomb");
export const bomb = app.function({ timeout: 300 }).webEndpoint(() => {
  const line = "x".repeat(5 * 1024 * 1024);
  for (let i = 0; i < 40; i += 1) process.stdout.write(line + "\\n");
  process.stdout.write("y".repeat(150 * 1024 * 1024));
  return "done";
});
`,
);
const env = { ...process.env, BERTH_HOME: home, NO_COLOR: "1" };
// At `warn` the server does not copy container output into its own log: the bench measures the app log alone.
const server = spawn(process.execPath, [berth, "server", "--port", "0", "--log-level", "warn"], { env, stdio: ["ignore", "pipe", "pipe"] });
let output = "";
server.stdout.on("data", (data: Buffer) => (output += data.toString()));
server.stderr.on("data", (data: Buffer) => (output += data.toString()));
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))![1]) / 1024;
const diskMb = (dir: string): number =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0) / 1024 / 1024;

try {
  for (let i = 0; i < 600 && !/listening on http:\/\/localhost:\d+/.test(output); i += 1) await sleep(100);
  const port = /listening on http:\/\/localhost:(\d+)/.exec(output)![1]!;
  const serverUrl = `http://127.0.0.1:${port}`;
  const deployed = execFileSync(process.execPath, [berth, "deploy", join(appDir, "bomb.ts"), "--server", serverUrl, "--no-typecheck"], { env, cwd: root }).toString();
  const host = new URL(/bomb\s+(http:\/\/\S+)/.exec(deployed)![1]!).host;
  await sleep(2000);
  const before = rssMb();
  let peak = before;
  let last = before;
  const sampler = setInterval(() => (peak = Math.max(peak, (last = rssMb()))), 50);
  const started = performance.now();
  await new Promise<void>((done, fail) =>
    http.get({ host: "127.0.0.1", port, path: "/", headers: { host } }, (res) => res.resume().on("end", () => done())).on("error", fail),
  );
  const answered = performance.now() - started;
  // The container's pipe drains after its answer: wait until the resident size has been flat for 5 s (at most 120 s).
  let flatSince = performance.now();
  let previous = last;
  while (performance.now() - flatSince < 5000 && performance.now() - started < 120_000) {
    await sleep(500);
    if (Math.abs(last - previous) > 2) flatSince = performance.now();
    previous = last;
  }
  clearInterval(sampler);
  const after = rssMb();
  const appLogs = (flags: string[]) =>
    execFileSync(process.execPath, [berth, "app", "logs", "bomb", "--server", serverUrl, ...flags], { env, maxBuffer: 1024 * 1024 * 1024, stdio: "pipe" });
  let logsCommand = "app logs --tail 5000 --json";
  let logs: Buffer;
  try {
    logs = appLogs(["--tail", "5000", "--json"]);
  } catch {
    // A berth from before `--tail` prints every line it holds.
    logsCommand = "app logs";
    logs = appLogs([]);
  }
  const logsRoot = join(home, "logs");
  const stored = readdirSync(home).includes("logs") ? diskMb(logsRoot) : 0;
  printTable(
    `Log bomb: 40 lines of 5 MB, one of 150 MB without newline (server: ${root}; loadavg ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")})`,
    ["server RSS before MB", "peak MB", "after MB", "answered s", "settled s", "log store MiB", "printed by", "MiB"],
    [[before, peak, after, answered / 1000, (performance.now() - started) / 1000, stored, logsCommand, logs.length / 1024 / 1024]],
  );
} finally {
  server.kill("SIGKILL");
  rmSync(appDir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
}
