/**
 * What app logs cost, piece by piece, in this process (CPU-bound loops, so
 * steadier than end-to-end figures on a shared machine):
 *  - an access line: what the gateway pays on the request path (keeping the
 *    record) and what it pays later, off the path (formatting, JSON, the store);
 *  - the agent's request context: an async call with two awaits, plain and
 *    inside AsyncLocalStorage.run;
 *  - source maps: the CPU time of importing a ~780 KiB bundle, in fresh
 *    processes, without a map; with its map beside it and read lazily (the
 *    agent's way); inline and read lazily; inline with Node's eager
 *    `setSourceMapsEnabled`; and of the first stack through the bundle,
 *    which reads the map.
 *
 *   npx tsx bench/app-logs.ts [processes per variant = 15]
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import type { Clock } from "../src/clock/clock.js";
import { splitSourceMap } from "../src/agent/stack-traces.js";
import { silentLogger } from "../src/logging/logger.js";
import { AccessLog } from "../src/logs/access.js";
import { FileLogStore } from "../src/logs/file-store.js";
import { LogHub } from "../src/logs/hub.js";
import { MemoryLogStore } from "../src/logs/memory-store.js";
import { printTable } from "./support/table.js";

const ROOT = join(import.meta.dirname, "..");
const processes = Number(process.argv[2] ?? 15);
// Inside the repository, so that the bench app's `import "berthjs"` resolves to this checkout.
const dir = mkdtempSync(join(ROOT, ".bench-logs-"));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const nowNs = () => Number(process.hrtime.bigint());

/** A clock whose timers never fire: the loops flush by hand. */
const manualClock: Clock = { now: () => performance.now(), after: () => () => {} };

function accessLineCost(kind: "memory" | "files"): [number, number] {
  const store = kind === "memory" ? new MemoryLogStore(16 * 1024 * 1024) : new FileLogStore(join(dir, "logs"), { logger: silentLogger() });
  const hub = new LogHub({ persistent: store, ephemeral: store, clock: manualClock });
  const access = new AccessLog({ write: (id, entries) => hub.writeBatch(id, entries), clock: manualClock, now: Date.now });
  const identity = { workspace: "bench", appName: "app", functionName: "fn", ephemeral: false, versionId: "v", hostLabel: "h" };
  let recordNs = 0;
  let laterNs = 0;
  let counted = 0;
  for (let round = 0; round < 300; round += 1) {
    const ids = Array.from({ length: 1000 }, (_, i) => `1a2b3c4d-${(round * 1000 + i).toString(36)}`);
    const t0 = nowNs();
    for (const requestId of ids) {
      access.record({ identity, requestId, method: "GET", url: "/?x=42", status: 200, durationMs: 1.234, coldStartMs: 0, container: "c1abc", endedAt: 1 });
    }
    const t1 = nowNs();
    access.flush();
    hub.flush();
    const t2 = nowNs();
    if (round >= 50) {
      recordNs += t1 - t0;
      laterNs += t2 - t1;
      counted += 1000;
    }
  }
  return [recordNs / counted / 1000, laterNs / counted / 1000];
}

async function contextCost(): Promise<[number, number]> {
  const storage = new AsyncLocalStorage<string>();
  const handler = async () => {
    await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
  };
  const time = async (inContext: boolean) => {
    const t0 = nowNs();
    for (let i = 0; i < 50_000; i += 1) await (inContext ? storage.run("1a2b3c4d-1", handler) : handler());
    return (nowNs() - t0) / 50_000 / 1000;
  };
  const plain: number[] = [];
  const labelled: number[] = [];
  for (let round = 0; round < 4; round += 1) {
    plain.push(await time(false));
    labelled.push(await time(true));
  }
  return [median(plain), median(labelled)];
}

async function sourceMapCost(): Promise<(string | number)[][]> {
  const entry = join(dir, "app.ts");
  writeFileSync(
    entry,
    `import { App } from "berthjs";
import { z } from "zod";
const app = new App("maps");
export const f = app.function().webEndpoint({ query: z.object({ x: z.coerce.number() }) }, ({ query }) => query.x);
export function boom(): never {
  throw new Error("boom");
}
`,
  );
  for (const map of [false, true]) {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: "esm",
      platform: "node",
      target: "node20",
      sourcemap: map ? "inline" : false,
      sourcesContent: false,
      logLevel: "silent",
      alias: { berth: join(ROOT, "src", "sdk", "index.ts") },
      nodePaths: [join(ROOT, "node_modules")],
    });
    writeFileSync(join(dir, map ? "inline.mjs" : "none.mjs"), result.outputFiles[0]!.contents);
    if (map) {
      // What the platform writes in a run directory: the map beside the bundle.
      const { code, map: beside } = splitSourceMap(Buffer.from(result.outputFiles[0]!.contents));
      writeFileSync(join(dir, "split.mjs"), code);
      writeFileSync(join(dir, "split.mjs.map"), beside!);
    }
  }
  const probe = join(dir, "probe.mjs");
  writeFileSync(
    probe,
    `const { mapStackTraces } = await import(${JSON.stringify(join(ROOT, "dist", "agent", "stack-traces.js"))});
const [bundle, mode] = process.argv.slice(2);
const cpu = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1000; };
const t0 = cpu();
if (mode === "eager") process.setSourceMapsEnabled(true);
if (mode === "lazy") mapStackTraces(bundle, ${JSON.stringify(dir)});
const mod = await import(bundle);
const t1 = cpu();
let stack = "";
try { mod.boom(); } catch (error) { stack = error.stack; }
console.log(JSON.stringify({ importMs: t1 - t0, stackMs: cpu() - t1, frame: stack.split("\\n")[1].trim() }));
`,
  );
  const variants: [string, string, string][] = [
    ["no map", "none.mjs", "off"],
    ["map beside it, lazy (the agent)", "split.mjs", "lazy"],
    ["inline map, lazy", "inline.mjs", "lazy"],
    ["inline map, Node's eager source maps", "inline.mjs", "eager"],
  ];
  const samples = variants.map(() => ({ importMs: [] as number[], stackMs: [] as number[], frame: "" }));
  for (let i = 0; i < processes; i += 1) {
    variants.forEach(([, file, mode], v) => {
      const result = JSON.parse(execFileSync(process.execPath, [probe, join(dir, file), mode]).toString()) as { importMs: number; stackMs: number; frame: string };
      samples[v]!.importMs.push(result.importMs);
      samples[v]!.stackMs.push(result.stackMs);
      samples[v]!.frame = result.frame;
    });
  }
  const size = (file: string) => readFileSync(join(dir, file)).length / 1024;
  return variants.map(([name, file], v) => [name, size(file), median(samples[v]!.importMs), median(samples[v]!.stackMs), samples[v]!.frame]);
}

try {
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const [memoryRecord, memoryLater] = accessLineCost("memory");
  const [filesRecord, filesLater] = accessLineCost("files");
  printTable(`Access lines, µs per request (loadavg ${load})`, ["store", "on the request path", "later, in batches"], [
    ["memory", memoryRecord, memoryLater],
    ["files", filesRecord, filesLater],
  ]);
  const [plain, labelled] = await contextCost();
  printTable("Request context in the agent, µs per async call with two awaits", ["plain", "in AsyncLocalStorage.run", "difference"], [
    [plain, labelled, labelled - plain],
  ]);
  printTable(`Source maps, CPU time, medians of ${processes} fresh processes`, ["bundle", "KiB", "import ms", "first stack ms", "its first frame"], await sourceMapCost());
} finally {
  rmSync(dir, { recursive: true, force: true });
}
