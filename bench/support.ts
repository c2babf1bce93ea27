/**
 * Shared by the benchmarks: runs the load generator in a child process, and
 * prints a table of measurements with their ratio to the baseline measured
 * in the same run (absolute numbers on a shared machine mean little).
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LoadResult, LoadSpec } from "./load.js";

const LOAD = fileURLToPath(new URL("./load.ts", import.meta.url));

export function load(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--import", "tsx", LOAD, JSON.stringify(spec)], { timeout: spec.durationMs + 60_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`load generator failed: ${stderr || error.message}`));
      resolve(JSON.parse(stdout.trim().split("\n").pop()!) as LoadResult);
    });
  });
}

export function printTable(title: string, unit: string, rows: Array<{ name: string; result: LoadResult }>): void {
  const baseline = rows[0]!.result;
  const rate = (r: LoadResult) => r.count / r.seconds;
  console.log(`\n${title}`);
  console.log(`| what | ${unit} | median ms | p99 ms | errors | vs ${rows[0]!.name} |`);
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const { name, result } of rows) {
    console.log(
      `| ${name} | ${Math.round(rate(result))} | ${result.p50.toFixed(2)} | ${result.p99.toFixed(2)} | ${result.errors} | ${(rate(result) / rate(baseline)).toFixed(2)}x |`,
    );
  }
}

export function numberArg(name: string, fallback: number): number {
  const flag = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  return flag ? Number(flag.slice(name.length + 3)) : fallback;
}
