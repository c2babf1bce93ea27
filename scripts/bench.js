// `npm run bench`: runs every benchmark in bench/ (each top-level .ts file),
// one after another, each in its own process, and prints their tables.
//
//   npm run bench                          all of them, default lengths (a few minutes)
//   npm run bench -- throughput latency    only these
//   npm run bench -- --long                twice the rounds and seconds, for steadier figures
//
// Each bench's own flags (--seconds, --rounds, ...) are in its header comment;
// run it alone with them: npx tsx bench/throughput.ts --seconds 5 --rounds 6.
//
// The comparison benches turn the rate limit off, run the same handler on
// both sides, alternate the order of the sides from round to round, report
// medians of rounds, and print failed requests by status instead of a ratio
// when any failed (hardening.ts measures attacks, limits on, by its own rules). A bench never fails on timing; this exits non-zero only when one crashed.
// dist/ is rebuilt first: the benches start the compiled platform, as `berth server` runs it (bench/support/compiled.ts).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { performance } from "node:perf_hooks";

const root = join(import.meta.dirname, "..");
const args = process.argv.slice(2);
const flags = args.filter((arg) => arg.startsWith("--"));
const names = args.filter((arg) => !arg.startsWith("--"));
if (flags.some((flag) => flag !== "--long")) {
  console.error("npm run bench takes bench names and --long; for a bench's own flags run it alone: npx tsx bench/throughput.ts --seconds 5");
  process.exit(2);
}
const all = readdirSync(join(root, "bench")).filter((file) => file.endsWith(".ts")).sort();
const unknown = names.filter((name) => !all.includes(`${basename(name, ".ts")}.ts`));
if (unknown.length > 0) {
  console.error(`no such bench: ${unknown.join(", ")} (there are: ${all.map((file) => basename(file, ".ts")).join(", ")})`);
  process.exit(2);
}
const chosen = names.length > 0 ? all.filter((file) => names.some((name) => `${basename(name, ".ts")}.ts` === file)) : all;

const build = spawnSync(process.execPath, [join("scripts", "build.js")], { cwd: root, stdio: "inherit" });
if (build.status !== 0) {
  console.error("npm run bench: the build failed");
  process.exit(1);
}

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const started = performance.now();
const crashed = [];
for (const file of chosen) {
  console.log(`\n=== bench/${file} ${flags.join(" ")} (load average ${loadAverage()})`);
  const t0 = performance.now();
  // --long reaches the benches as an environment variable: benches with positional arguments of their own must not see it.
  const env = { ...process.env, ...(flags.includes("--long") ? { BERTH_BENCH_LONG: "1" } : {}) };
  const result = spawnSync(process.execPath, ["--import", "tsx", join("bench", file)], { cwd: root, stdio: "inherit", env });
  if (result.status !== 0) crashed.push(file);
  console.log(`=== bench/${file}: ${((performance.now() - t0) / 1000).toFixed(0)} s${result.status === 0 ? "" : `, exited ${result.status ?? result.signal}`}`);
}
console.log(`\n${chosen.length} benches in ${((performance.now() - started) / 1000).toFixed(0)} s (load average ${loadAverage()})${crashed.length ? `; crashed: ${crashed.join(", ")}` : ""}`);
process.exit(crashed.length > 0 ? 1 : 0);
